package config

import (
	"fmt"
	"time"
)

// Pacing configures anti-ban pacing, the default rate rule of every tenant's chain
// (plugins/antiban, docs/operations.md): gaps with jitter between a session's sends,
// caps per minute, hour and day, warm-up of young numbers, per-contact and
// first-contact caps, pauses while WhatsApp restricts a number, and the typing
// indicator before sends. A tenant can replace it through its rate chain.
type Pacing struct {
	// Enabled turns the default pacing on. Off, sends are paced only by
	// queue.rate_per_session and the tenants' own rate chains. Default true.
	Enabled bool `yaml:"enabled"`
	// Providers lists, comma-separated, the providers whose sessions are paced; empty
	// paces all. Default "whatsmeow" (Meta's Cloud API has its own limits; add
	// "sandbox" to rehearse pacing).
	Providers string `yaml:"providers"`
	// MinGap is the least time between two sends of a session. Default 5s.
	MinGap Duration `yaml:"min_gap"`
	// Jitter is the most random time added to each gap: gaps are uniform in
	// [min_gap, min_gap+jitter]. Default 10s.
	Jitter Duration `yaml:"jitter"`
	// PerMinute caps a session's sends in a minute; 0 off. Default 5.
	PerMinute int `yaml:"per_minute"`
	// PerHour caps a session's sends in an hour; 0 off. Default 200.
	PerHour int `yaml:"per_hour"`
	// PerDay caps a session's sends in 24 hours; 0 off. Default 1500.
	PerDay int `yaml:"per_day"`
	// OverDaily is what happens to a message over the daily (or warm-up) cap: "delay"
	// until there is room, or "reject" (it fails with reason daily_limit). Default
	// "delay".
	OverDaily string `yaml:"over_daily"`
	// Warmup lowers the daily cap of recently linked numbers.
	Warmup PacingWarmup `yaml:"warmup"`
	// ContactPerHour caps the messages to one chat in an hour, unless the chat wrote in
	// the last hour; 0 off. Default 2.
	ContactPerHour int `yaml:"contact_per_hour"`
	// OverContact is what happens to a message over that cap: "reject" (it fails with
	// reason contact_limit) or "delay" (which holds the session's whole queue behind
	// it: a session's messages go in order). Default "reject".
	OverContact string `yaml:"over_contact"`
	// FirstContactsPerDay caps, per session and 24 hours, the chats messaged that never
	// wrote to it; 0 off. Default 100.
	FirstContactsPerDay int `yaml:"first_contacts_per_day"`
	// OverFirstContacts is what happens to a first contact over its cap: "reject"
	// (reason first_contact_limit) or "delay" (holding the session's queue). Default
	// "reject".
	OverFirstContacts string `yaml:"over_first_contacts"`
	// ReachoutPause is what a reach-out timelock holds until it ends: "all" sends of
	// the session, or only "first_contacts". A temporary ban always holds all. Default
	// "all".
	ReachoutPause string `yaml:"reachout_pause"`
	// PauseUnknown is how long a restriction whose end WhatsApp did not give holds the
	// session (a 463 error without a timelock notice). Default 24h.
	PauseUnknown Duration `yaml:"pause_unknown"`
	// PauseRecheck is how often a paused session's next message is asked about again,
	// so that a restriction lifted early frees its queue within this time. Up to 1h.
	// Default 1m.
	PauseRecheck Duration `yaml:"pause_recheck"`
	// Typing shows "typing..." before each send, on providers that can (whatsmeow).
	Typing PacingTyping `yaml:"typing"`
}

// PacingWarmup is the schedule of a young number's daily cap: FirstDay on the day it
// was linked, multiplied by Growth each following day, for Days days.
type PacingWarmup struct {
	// Days is how long a number warms up after it is linked; 0 off. Default 7.
	Days int `yaml:"days"`
	// FirstDay is its daily cap on the day it is linked. Default 20.
	FirstDay int `yaml:"first_day"`
	// Growth multiplies the cap each day, 1 to 10. Default 1.8.
	Growth float64 `yaml:"growth"`
}

// PacingTyping is how long the typing indicator shows: the text's length at
// CharsPerSecond, within [Min, Max], varied by ±Jitter.
type PacingTyping struct {
	// Enabled shows the indicator before sends. Default true.
	Enabled bool `yaml:"enabled"`
	// CharsPerSecond is the typing speed. Default 3.3.
	CharsPerSecond float64 `yaml:"chars_per_second"`
	// Min is the shortest typing time (also that of media without caption). Default 800ms.
	Min Duration `yaml:"min"`
	// Max is the longest typing time, at most 1m. Default 12s.
	Max Duration `yaml:"max"`
	// Jitter varies each typing time by up to this fraction either way, 0 to 0.99.
	// Default 0.3.
	Jitter float64 `yaml:"jitter"`
}

// defaultPacing is the pacing section's defaults: plugins/antiban's, whose README
// cites their sources.
func defaultPacing() Pacing {
	return Pacing{
		Enabled: true, Providers: "whatsmeow",
		MinGap: Duration(5 * time.Second), Jitter: Duration(10 * time.Second),
		PerMinute: 5, PerHour: 200, PerDay: 1500, OverDaily: "delay",
		Warmup:         PacingWarmup{Days: 7, FirstDay: 20, Growth: 1.8},
		ContactPerHour: 2, OverContact: "reject", FirstContactsPerDay: 100, OverFirstContacts: "reject",
		ReachoutPause: "all", PauseUnknown: Duration(24 * time.Hour), PauseRecheck: Duration(time.Minute),
		Typing: PacingTyping{Enabled: true, CharsPerSecond: 3.3, Min: Duration(800 * time.Millisecond),
			Max: Duration(12 * time.Second), Jitter: 0.3},
	}
}

func (p Pacing) validate(v *validator) {
	const s = "pacing."
	for _, f := range []struct {
		path string
		d    Duration
	}{{s + "min_gap", p.MinGap}, {s + "jitter", p.Jitter}} {
		v.nonNegative(f.path, f.d)
		if f.d > Duration(time.Hour) {
			v.add(f.path, fmt.Sprintf("%s is over 1h", f.d), "write a duration of at most 1h")
		}
	}
	v.atLeast(s+"per_minute", p.PerMinute, 0)
	v.atLeast(s+"per_hour", p.PerHour, 0)
	v.atLeast(s+"per_day", p.PerDay, 0)
	v.oneOf(s+"over_daily", p.OverDaily, "delay", "reject")
	v.atLeast(s+"warmup.days", p.Warmup.Days, 0)
	v.atLeast(s+"warmup.first_day", p.Warmup.FirstDay, 0)
	if p.Warmup.Days > 0 && !(p.Warmup.Growth >= 1 && p.Warmup.Growth <= 10) {
		v.add(s+"warmup.growth", fmt.Sprintf("%v is outside 1 to 10", p.Warmup.Growth), "write a factor like 1.8")
	}
	v.atLeast(s+"contact_per_hour", p.ContactPerHour, 0)
	v.atLeast(s+"first_contacts_per_day", p.FirstContactsPerDay, 0)
	v.oneOf(s+"over_contact", p.OverContact, "delay", "reject")
	v.oneOf(s+"over_first_contacts", p.OverFirstContacts, "delay", "reject")
	v.oneOf(s+"reachout_pause", p.ReachoutPause, "all", "first_contacts")
	v.positive(s+"pause_unknown", p.PauseUnknown)
	v.positive(s+"pause_recheck", p.PauseRecheck)
	if p.PauseRecheck > Duration(time.Hour) {
		v.add(s+"pause_recheck", fmt.Sprintf("%s is over 1h", p.PauseRecheck), "write a duration of at most 1h")
	}
	t := p.Typing
	if t.Enabled && !(t.CharsPerSecond > 0 && t.CharsPerSecond <= 1000) {
		v.add(s+"typing.chars_per_second", fmt.Sprintf("%v is outside (0, 1000]", t.CharsPerSecond), "write a speed like 3.3")
	}
	v.nonNegative(s+"typing.min", t.Min)
	if t.Max < t.Min || t.Max > Duration(time.Minute) {
		v.add(s+"typing.max", fmt.Sprintf("%s is below typing.min or over 1m", t.Max), "write a duration like 12s")
	}
	if !(t.Jitter >= 0 && t.Jitter < 1) {
		v.add(s+"typing.jitter", fmt.Sprintf("%v is outside [0, 1)", t.Jitter), "write a fraction like 0.3")
	}
}
