package config

import (
	"slices"
	"testing"
	"time"
)

func TestValidatePacing(t *testing.T) {
	bad := []struct {
		name     string
		mutate   func(*Pacing)
		wantPath string
	}{
		{"negative gap", func(p *Pacing) { p.MinGap = -1 }, "pacing.min_gap"},
		{"gap over an hour", func(p *Pacing) { p.MinGap = Duration(2 * time.Hour) }, "pacing.min_gap"},
		{"jitter over an hour", func(p *Pacing) { p.Jitter = Duration(61 * time.Minute) }, "pacing.jitter"},
		{"negative per minute", func(p *Pacing) { p.PerMinute = -1 }, "pacing.per_minute"},
		{"negative per hour", func(p *Pacing) { p.PerHour = -1 }, "pacing.per_hour"},
		{"negative per day", func(p *Pacing) { p.PerDay = -1 }, "pacing.per_day"},
		{"unknown over daily", func(p *Pacing) { p.OverDaily = "drop" }, "pacing.over_daily"},
		{"negative warm-up", func(p *Pacing) { p.Warmup.Days = -1 }, "pacing.warmup.days"},
		{"negative first day", func(p *Pacing) { p.Warmup.FirstDay = -1 }, "pacing.warmup.first_day"},
		{"shrinking warm-up", func(p *Pacing) { p.Warmup.Growth = 0.5 }, "pacing.warmup.growth"},
		{"negative contact cap", func(p *Pacing) { p.ContactPerHour = -1 }, "pacing.contact_per_hour"},
		{"negative first contacts", func(p *Pacing) { p.FirstContactsPerDay = -1 }, "pacing.first_contacts_per_day"},
		{"unknown over contact", func(p *Pacing) { p.OverContact = "drop" }, "pacing.over_contact"},
		{"unknown over first contacts", func(p *Pacing) { p.OverFirstContacts = "" }, "pacing.over_first_contacts"},
		{"unknown reachout pause", func(p *Pacing) { p.ReachoutPause = "none" }, "pacing.reachout_pause"},
		{"no pause", func(p *Pacing) { p.PauseUnknown = 0 }, "pacing.pause_unknown"},
		{"no recheck", func(p *Pacing) { p.PauseRecheck = 0 }, "pacing.pause_recheck"},
		{"recheck over an hour", func(p *Pacing) { p.PauseRecheck = Duration(2 * time.Hour) }, "pacing.pause_recheck"},
		{"typing speed zero", func(p *Pacing) { p.Typing.CharsPerSecond = 0 }, "pacing.typing.chars_per_second"},
		{"typing max under min", func(p *Pacing) { p.Typing.Max = Duration(time.Millisecond) }, "pacing.typing.max"},
		{"typing max over a minute", func(p *Pacing) { p.Typing.Max = Duration(2 * time.Minute) }, "pacing.typing.max"},
		{"typing jitter 1", func(p *Pacing) { p.Typing.Jitter = 1 }, "pacing.typing.jitter"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Pacing)
			if paths := errorPaths(c.Validate()); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]", paths, tt.wantPath)
			}
		})
	}
	good := []struct {
		name   string
		mutate func(*Pacing)
	}{
		{"off", func(p *Pacing) { p.Enabled = false }},
		{"every cap off", func(p *Pacing) {
			p.MinGap, p.Jitter, p.PerMinute, p.PerHour, p.PerDay = 0, 0, 0, 0, 0
			p.ContactPerHour, p.FirstContactsPerDay, p.Warmup = 0, 0, PacingWarmup{}
		}},
		{"every provider", func(p *Pacing) { p.Providers = "" }},
		{"rejecting", func(p *Pacing) {
			p.OverDaily, p.OverFirstContacts, p.ReachoutPause = "reject", "reject", "first_contacts"
		}},
		{"delaying", func(p *Pacing) { p.OverDaily, p.OverContact, p.OverFirstContacts = "delay", "delay", "delay" }},
		{"typing off, speed unset", func(p *Pacing) { p.Typing.Enabled, p.Typing.CharsPerSecond = false, 0 }},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Pacing)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestPacingFromYAMLAndEnv(t *testing.T) {
	c, err := Parse([]byte("pacing:\n  providers: whatsmeow,sandbox\n  min_gap: 2s\n  warmup:\n    days: 0\n  typing:\n    max: 5s\n"),
		func(k string) (string, bool) {
			if k == "WAGATE_PACING_PER_MINUTE" {
				return "20", true
			}
			return "", false
		})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pacing
	if p.Providers != "whatsmeow,sandbox" || p.MinGap != Duration(2*time.Second) || p.PerMinute != 20 ||
		p.Warmup.Days != 0 || p.Warmup.FirstDay != 20 || p.Typing.Max != Duration(5*time.Second) || !p.Enabled {
		t.Errorf("pacing %+v", p)
	}
}
