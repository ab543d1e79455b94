package antiban

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
)

var (
	ctx = context.Background()
	now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

func open(t *testing.T, config string) *AntiBan {
	t.Helper()
	a := New(policy.Spec{}).(*AntiBan)
	if err := a.Configure(ctx, json.RawMessage(config)); err != nil {
		t.Fatalf("config %s: %v", config, err)
	}
	return a
}

func delay(d time.Duration) policy.RateDecision {
	return policy.RateDecision{Action: policy.RateDelay, Delay: d}
}

func reject(r string) policy.RateDecision {
	return policy.RateDecision{Action: policy.RateReject, Reason: r}
}

var none = policy.RateDecision{}

// old is a number out of warm-up, of a paced provider, that sent nothing yet.
func old(c policy.Candidate) policy.Candidate {
	c.Session, c.Provider, c.LinkedAt = "s", "whatsmeow", now.Add(-30*24*time.Hour)
	return c
}

// Every cap, alone (the others off), at and under its limit.
func TestCaps(t *testing.T) {
	const off = `"min_gap":"0s","jitter":"0s","per_minute":0,"per_hour":0,"per_day":0,"contact_per_hour":0,"first_contacts_per_day":0,"warmup":{"days":0}`
	cfg := func(extra string) string {
		if extra == "" {
			return "{" + off + "}"
		}
		return "{" + off + "," + extra + "}"
	}
	for _, tc := range []struct {
		name, config string
		s            policy.Candidate
		want         policy.RateDecision
		reason       string // the delay or rejection counted
	}{
		{"all off", cfg(""), old(policy.Candidate{SentMinute: 1e6, SentDay: 1e6, ChatSentHour: 1e3, FirstContact: true, FirstContactsDay: 1e3}), none, ""},
		{"per minute under", cfg(`"per_minute":20`), old(policy.Candidate{SentMinute: 19}), none, ""},
		{"per minute at", cfg(`"per_minute":20`), old(policy.Candidate{SentMinute: 20}), delay(3 * time.Second), ReasonPerMinute},
		{"per hour at", cfg(`"per_hour":200`), old(policy.Candidate{SentHour: 200}), delay(18 * time.Second), ReasonPerHour},
		{"per day at", cfg(`"per_day":1500`), old(policy.Candidate{SentDay: 1500}), delay(57600 * time.Millisecond), ReasonPerDay},
		{"per day under", cfg(`"per_day":1500`), old(policy.Candidate{SentDay: 1499}), none, ""},
		{"per day, reject", cfg(`"per_day":10,"over_daily":"reject"`), old(policy.Candidate{SentDay: 10}), reject(RejectDailyLimit), RejectDailyLimit},
		{"longest delay wins", cfg(`"per_minute":60,"per_hour":60`), old(policy.Candidate{SentMinute: 60, SentHour: 60}), delay(time.Minute), ReasonPerHour},

		{"contact cap under", cfg(`"contact_per_hour":2`), old(policy.Candidate{ChatSentHour: 1}), none, ""},
		{"contact cap, no reply", cfg(`"contact_per_hour":2`), old(policy.Candidate{ChatSentHour: 2}), reject(RejectContactLimit), RejectContactLimit},
		{"contact cap, no reply, delaying", cfg(`"contact_per_hour":2,"over_contact":"delay"`), old(policy.Candidate{ChatSentHour: 2}),
			delay(30 * time.Minute), ReasonContactHour},
		{"contact cap, a retry", cfg(`"contact_per_hour":2`), old(policy.Candidate{ChatSentHour: 2}), none, "retry"},
		{"first contacts at, a retry", cfg(`"first_contacts_per_day":100`), old(policy.Candidate{FirstContact: true, FirstContactsDay: 100}), none, "retry"},
		{"contact cap, replied in the hour", cfg(`"contact_per_hour":2`),
			old(policy.Candidate{ChatSentHour: 5, LastInbound: now.Add(-10 * time.Minute)}), none, ""},
		{"contact cap, reply older than an hour", cfg(`"contact_per_hour":2`),
			old(policy.Candidate{ChatSentHour: 2, LastInbound: now.Add(-61 * time.Minute)}), reject(RejectContactLimit), RejectContactLimit},

		{"first contacts under", cfg(`"first_contacts_per_day":100`), old(policy.Candidate{FirstContact: true, FirstContactsDay: 99}), none, ""},
		{"first contacts at", cfg(`"first_contacts_per_day":100`), old(policy.Candidate{FirstContact: true, FirstContactsDay: 100}),
			reject(RejectFirstContactLimit), RejectFirstContactLimit},
		{"first contacts at, delaying", cfg(`"first_contacts_per_day":100,"over_first_contacts":"delay"`),
			old(policy.Candidate{FirstContact: true, FirstContactsDay: 100}), delay(864 * time.Second), ReasonFirstContacts},
		{"first contacts at, not a first contact", cfg(`"first_contacts_per_day":100`), old(policy.Candidate{FirstContactsDay: 100}), none, ""},

		{"min gap", cfg(`"min_gap":"5s"`), old(policy.Candidate{LastSentAt: now.Add(-2 * time.Second)}), delay(3 * time.Second), ReasonMinGap},
		{"min gap passed", cfg(`"min_gap":"5s"`), old(policy.Candidate{LastSentAt: now.Add(-5 * time.Second)}), none, ""},
		{"min gap, never sent", cfg(`"min_gap":"5s"`), old(policy.Candidate{}), none, ""},

		{"not a paced provider", cfg(`"per_minute":1`), policy.Candidate{Provider: "cloudapi", SentMinute: 5}, none, ""},
		{"every provider", cfg(`"per_minute":1,"providers":[]`), policy.Candidate{Provider: "cloudapi", SentMinute: 5}, delay(time.Minute), ReasonPerMinute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := open(t, tc.config)
			msg := policy.Message{Tenant: "acme"}
			if tc.reason == "retry" { // the message's first send failed and is retried
				msg.Attempts, tc.reason = 1, ""
			}
			before := counted(tc.reason)
			got, err := a.Rate(ctx, policy.RateInput{Now: now, Message: msg, Session: tc.s})
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.reason != "" && counted(tc.reason) != before+1 {
				t.Errorf("%s not counted", tc.reason)
			}
		})
	}
}

// counted reads the delay or rejection counter of reason.
func counted(reason string) float64 {
	switch reason {
	case "":
		return 0
	case RejectDailyLimit, RejectContactLimit, RejectFirstContactLimit:
		return testutil.ToFloat64(rejections.WithLabelValues(reason))
	}
	return testutil.ToFloat64(delays.WithLabelValues(reason))
}

// A young number's daily cap grows from first_day by growth per day until warm-up
// ends; per_day stays the ceiling; an unknown link time is not warming up.
func TestWarmup(t *testing.T) {
	a := open(t, `{"min_gap":"0s","jitter":"0s","per_minute":0,"per_hour":0,"per_day":500,"warmup":{"days":7,"first_day":20,"growth":1.8}}`)
	day := 24 * time.Hour
	for _, tc := range []struct {
		name   string
		age    time.Duration
		sent   int
		want   int // the cap in force; 0 none reached
		reason string
	}{
		{"day 1, under", time.Hour, 19, 0, ""},
		{"day 1, at 20", time.Hour, 20, 20, ReasonWarmup},
		{"day 2, 36", day + time.Hour, 36, 36, ReasonWarmup},
		{"day 2, under", day + time.Hour, 35, 0, ""},
		{"day 3, 64", 2*day + time.Hour, 64, 64, ReasonWarmup},
		{"day 5, 209", 4*day + time.Hour, 209, 209, ReasonWarmup},
		{"day 6, 377", 5*day + time.Hour, 377, 377, ReasonWarmup},
		{"day 7, per_day is lower", 6*day + time.Hour, 499, 0, ""},
		{"day 7, per_day", 6*day + time.Hour, 500, 500, ReasonPerDay},
		{"after warm-up", 8 * day, 499, 0, ""},
		{"linked in the future (clock skew): day 1", -time.Hour, 20, 20, ReasonWarmup},
	} {
		s := old(policy.Candidate{SentDay: tc.sent})
		s.LinkedAt = now.Add(-tc.age)
		got, err := a.Rate(ctx, policy.RateInput{Now: now, Session: s})
		want := none
		if tc.want > 0 {
			want = delay(24 * time.Hour / time.Duration(tc.want))
		}
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.name, got, err, want)
		}
	}
	s := old(policy.Candidate{SentDay: 100})
	s.LinkedAt = time.Time{}
	if got, _ := a.Rate(ctx, policy.RateInput{Now: now, Session: s}); got != none {
		t.Errorf("unknown link time: %+v, want the normal cap", got)
	}
}

// A temporary ban holds every send until it ends; a reach-out timelock holds every send
// or only first contacts, as configured; an expired restriction holds nothing.
func TestPause(t *testing.T) {
	ban := func(c policy.Candidate, reason string, until time.Time) policy.Candidate {
		c = old(c)
		c.PauseReason, c.PausedUntil = reason, until
		return c
	}
	for _, tc := range []struct {
		name, config string
		s            policy.Candidate
		want         policy.RateDecision
		reason       string
	}{
		{"temporary ban", `{"pause_recheck":"1h"}`, ban(policy.Candidate{}, ReasonTemporaryBan, now.Add(50*time.Minute)), delay(50 * time.Minute), ReasonTemporaryBan},
		{"ban, asked again after pause_recheck", `{}`, ban(policy.Candidate{}, ReasonTemporaryBan, now.Add(72*time.Hour)), delay(time.Minute), ReasonTemporaryBan},
		{"ban ending before the recheck", `{}`, ban(policy.Candidate{}, ReasonTemporaryBan, now.Add(20*time.Second)), delay(20 * time.Second), ReasonTemporaryBan},
		{"ban over", `{}`, ban(policy.Candidate{}, ReasonTemporaryBan, now), none, ""},
		{"timelock holds all", `{"pause_recheck":"1h"}`, ban(policy.Candidate{}, ReasonReachout, now.Add(time.Hour)), delay(time.Hour), ReasonReachout},
		{"timelock, first contacts only, existing chat", `{"reachout_pause":"first_contacts"}`,
			ban(policy.Candidate{}, ReasonReachout, now.Add(time.Hour)), none, ""},
		{"timelock, first contacts only, first contact", `{"reachout_pause":"first_contacts","pause_recheck":"1h"}`,
			ban(policy.Candidate{FirstContact: true}, ReasonReachout, now.Add(time.Hour)), delay(time.Hour), ReasonReachout},
		{"ban, first contacts only still holds all", `{"reachout_pause":"first_contacts","pause_recheck":"1h"}`,
			ban(policy.Candidate{}, ReasonTemporaryBan, now.Add(time.Hour)), delay(time.Hour), ReasonTemporaryBan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := open(t, tc.config)
			before := counted(tc.reason)
			got, err := a.Rate(ctx, policy.RateInput{Now: now, Session: tc.s})
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.reason != "" && counted(tc.reason) != before+1 {
				t.Errorf("%s not counted", tc.reason)
			}
		})
	}
}

// The jitter of a gap is within [0, jitter], the same every time the same gap is
// asked about, different from gap to gap, and spread over the range.
func TestJitter(t *testing.T) {
	a := open(t, `{"min_gap":"2s","jitter":"2s"}`)
	s := old(policy.Candidate{})
	var sum time.Duration
	seen := map[time.Duration]bool{}
	const n = 2000
	for i := range n {
		s.LastSentAt = now.Add(time.Duration(i) * 3 * time.Second)
		j := a.jitter("acme", &s)
		if j < 0 || j > 2*time.Second {
			t.Fatalf("jitter %s outside [0, 2s]", j)
		}
		if a.jitter("acme", &s) != j {
			t.Fatal("the same gap got two jitters")
		}
		sum += j
		seen[j/(100*time.Millisecond)] = true
	}
	if mean := sum / n; mean < 900*time.Millisecond || mean > 1100*time.Millisecond {
		t.Errorf("mean jitter %s, want about 1s", mean)
	}
	if len(seen) != 21 && len(seen) != 20 {
		t.Errorf("jitters fell in %d of the 20 tenths of the range", len(seen))
	}
	s.LastSentAt = now
	if a.jitter("acme", &s) == a.jitter("other", &s) {
		t.Error("two tenants' sessions share their jitter")
	}
}

// 1,000 messages through one session paced at 20 a minute (a 2s gap plus up to 2s of
// jitter: 3s on average), in simulated time: the rule is asked before every send as
// the dispatcher does, a delay moves the clock, no opinion sends. Every gap must be
// within [min_gap, min_gap+jitter], and the whole run must take what 20 a minute
// takes. The per-minute cap is set to what the gap allows at most (30), so it never
// binds; TestCapBackstop shows a cap that does.
func TestSchedule1000(t *testing.T) {
	a := open(t, `{"min_gap":"2s","jitter":"2s","per_minute":30,"per_hour":0,"per_day":0,"warmup":{"days":0},
		"contact_per_hour":0,"first_contacts_per_day":0}`)
	const total = 1000
	clock := now
	var sends []time.Time
	asks := 0
	for len(sends) < total {
		s := old(policy.Candidate{})
		s.SentMinute, s.SentHour, s.SentDay = window(sends, clock, time.Minute), window(sends, clock, time.Hour), window(sends, clock, 24*time.Hour)
		if len(sends) > 0 {
			s.LastSentAt = sends[len(sends)-1]
		}
		d, err := a.Rate(ctx, policy.RateInput{Now: clock, Message: policy.Message{Tenant: "acme", ChatID: "1@c.us"}, Session: s})
		if err != nil {
			t.Fatal(err)
		}
		asks++
		switch d.Action {
		case policy.RateNoOpinion:
			sends = append(sends, clock)
		case policy.RateDelay:
			clock = clock.Add(d.Delay)
		default:
			t.Fatalf("message %d: %+v", len(sends), d)
		}
		if asks > 4*total {
			t.Fatalf("%d asks for %d sends: the rule keeps delaying", asks, len(sends))
		}
	}
	var sum time.Duration
	for i := 1; i < total; i++ {
		gap := sends[i].Sub(sends[i-1])
		sum += gap
		if gap < 2*time.Second || gap > 4*time.Second {
			t.Errorf("gap %d is %s, outside [2s, 4s]", i, gap)
		}
		if n := window(sends[:i+1], sends[i], time.Minute); n > 30 {
			t.Errorf("%d sends in the minute ending at send %d", n, i)
		}
	}
	mean := sum / (total - 1)
	if mean < 2900*time.Millisecond || mean > 3100*time.Millisecond {
		t.Errorf("mean gap %s, want about 3s (20 a minute)", mean)
	}
	took := sends[total-1].Sub(sends[0])
	t.Logf("%d messages in %s of simulated time (%.1f a minute), %d asks", total, took.Round(time.Second),
		float64(total-1)/took.Minutes(), asks)
	if rate := float64(total-1) / took.Minutes(); rate < 19 || rate > 21 {
		t.Errorf("%.2f messages a minute, want 20 ± 1", rate)
	}
}

// A per-minute cap below what the gap allows binds: 1,000 messages with a 1s gap and
// no jitter under a cap of 20 a minute never have more than 20 in any minute, and go
// at 20 a minute, not 60.
func TestCapBackstop(t *testing.T) {
	a := open(t, `{"min_gap":"1s","jitter":"0s","per_minute":20,"per_hour":0,"per_day":0,"warmup":{"days":0},
		"contact_per_hour":0,"first_contacts_per_day":0}`)
	clock := now
	var sends []time.Time
	for len(sends) < 1000 {
		s := old(policy.Candidate{SentMinute: window(sends, clock, time.Minute)})
		if len(sends) > 0 {
			s.LastSentAt = sends[len(sends)-1]
		}
		d, _ := a.Rate(ctx, policy.RateInput{Now: clock, Session: s})
		if d.Action == policy.RateDelay {
			clock = clock.Add(d.Delay)
			continue
		}
		sends = append(sends, clock)
		if n := window(sends, clock, time.Minute); n > 20 {
			t.Fatalf("%d sends in the minute ending at send %d", n, len(sends))
		}
	}
	if rate := float64(len(sends)-1) / sends[len(sends)-1].Sub(sends[0]).Minutes(); rate > 20 || rate < 15 {
		t.Errorf("%.2f messages a minute under a cap of 20", rate)
	}
}

// window counts the sends in (at-d, at].
func window(sends []time.Time, at time.Time, d time.Duration) int {
	n := 0
	for i := len(sends) - 1; i >= 0 && sends[i].After(at.Add(-d)); i-- {
		if !sends[i].After(at) {
			n++
		}
	}
	return n
}

// The typing time: proportional to the text, within [min, max], jittered, none for
// reactions and templates or when off.
func TestTyping(t *testing.T) {
	ty := Typing{Enabled: true, CharsPerSecond: 4, Min: policy.Duration(time.Second), Max: policy.Duration(10 * time.Second), Jitter: 0.25}
	text := func(s string) provider.Outbound { return provider.Outbound{Kind: provider.KindText, Text: s} }
	for _, tc := range []struct {
		name string
		msg  provider.Outbound
		r    float64
		want time.Duration
	}{
		{"20 characters, no jitter", text("abcdefghijklmnopqrst"), 0.5, 5 * time.Second},
		{"20 characters, least jitter", text("abcdefghijklmnopqrst"), 0, 3750 * time.Millisecond},
		{"20 characters, most jitter", text("abcdefghijklmnopqrst"), 1, 6250 * time.Millisecond},
		{"counts characters, not bytes", text("ééééééééééééééééééééé"[:40]), 0.5, 5 * time.Second},
		{"short text: min", text("ok"), 0.5, time.Second},
		{"long text: max", text(string(make([]byte, 400))), 0.5, 10 * time.Second},
		{"image without caption: min", provider.Outbound{Kind: provider.KindImage}, 0.5, time.Second},
		{"caption", provider.Outbound{Kind: provider.KindImage, Text: "abcdefghijklmnopqrst"}, 0.5, 5 * time.Second},
		{"reaction: none", provider.Outbound{Kind: provider.KindReaction, Text: "abcdefghijklmnopqrst"}, 0.5, 0},
		{"template: none", provider.Outbound{Kind: provider.KindTemplate}, 0.5, 0},
	} {
		if got := ty.Duration(tc.msg, tc.r); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	ty.Enabled = false
	if got := ty.Duration(text("hello"), 0.5); got != 0 {
		t.Errorf("typing off: %s", got)
	}
}

func TestConfigure(t *testing.T) {
	for cfg, ok := range map[string]bool{
		``: true, `null`: true, `{}`: true,
		`{"per_minute":1,"over_daily":"reject","over_first_contacts":"reject","reachout_pause":"first_contacts"}`: true,
		`{"providers":["cloudapi"],"warmup":{"days":0}}`:                                                          true,
		`{"typing":{"enabled":false,"chars_per_second":0}}`:                                                       true,
		`{"per_minute":-1}`:                  false,
		`{"contact_per_hour":-1}`:            false,
		`{"first_contacts_per_day":-1}`:      false,
		`{"warmup":{"first_day":-1}}`:        false,
		`{"warmup":{"growth":0.5}}`:          false,
		`{"over_daily":"drop"}`:              false,
		`{"over_contact":"drop"}`:            false,
		`{"over_first_contacts":"drop"}`:     false,
		`{"reachout_pause":"some"}`:          false,
		`{"min_gap":"2h"}`:                   false,
		`{"pause_recheck":"0s"}`:             false,
		`{"pause_recheck":"2h"}`:             false,
		`{"jitter":"-1s"}`:                   false,
		`{"providers":[""]}`:                 false,
		`{"typing":{"chars_per_second":0}}`:  false,
		`{"typing":{"min":"5s","max":"1s"}}`: false,
		`{"typing":{"jitter":1}}`:            false,
		`{"perMinute":1}`:                    false,
		`{"per_minute":"5"}`:                 false,
	} {
		_, err := Parse(json.RawMessage(cfg))
		if (err == nil) != ok {
			t.Errorf("config %s: err = %v", cfg, err)
		}
		if err != nil && !errors.Is(err, policy.ErrBadConfig) {
			t.Errorf("config %s: %v does not wrap ErrBadConfig", cfg, err)
		}
	}
	// Fields left out keep their defaults; a list given replaces the default list.
	c, err := Parse(json.RawMessage(`{"per_minute":9,"providers":["cloudapi"]}`))
	if err != nil || c.PerMinute != 9 || c.PerHour != Defaults().PerHour || len(c.Providers) != 1 || c.Providers[0] != "cloudapi" {
		t.Errorf("partial config: %+v, %v", c, err)
	}
	if d := open(t, `{}`).Config(); d.PerDay != 1500 || d.Warmup.Days != 7 || len(d.Providers) != 1 {
		t.Errorf("defaults %+v", d)
	}
}

// PreviewRate: the caps in force, the warm-up day and the next send time, as Rate
// decides them, and nothing counted.
func TestPreviewRate(t *testing.T) {
	a := open(t, `{"min_gap":"10s","jitter":"0s","per_minute":0,"per_hour":0,"per_day":500,"warmup":{"days":7,"first_day":20,"growth":1.8},"providers":["whatsmeow"]}`)
	before := counted(ReasonMinGap) + counted(ReasonWarmup)
	s := old(policy.Candidate{SentDay: 3, LastSentAt: now.Add(-4 * time.Second)})
	s.LinkedAt = now.Add(-25 * time.Hour) // day 2
	p := a.PreviewRate(policy.RateInput{Now: now, Session: s})
	want := policy.RatePreview{Rule: Name, Applies: true, DailyCap: 36, WarmingUp: true, WarmupDay: 2, WarmupDays: 7,
		PerDay: 500, MinGapMs: 10000, NextAt: now.Add(6 * time.Second), HeldBy: ReasonMinGap}
	if p != want {
		t.Errorf("min gap on day 2:\n got %+v\nwant %+v", p, want)
	}
	s.SentDay, s.LastSentAt = 36, time.Time{}
	if p := a.PreviewRate(policy.RateInput{Now: now, Session: s}); p.HeldBy != ReasonWarmup || !p.NextAt.Equal(now.Add(24*time.Hour/36)) {
		t.Errorf("at the warm-up cap: %+v", p)
	}
	s.LinkedAt, s.SentDay = now.Add(-30*24*time.Hour), 0
	if p := a.PreviewRate(policy.RateInput{Now: now, Session: s}); p.WarmingUp || p.DailyCap != 500 || p.HeldBy != "" || !p.NextAt.Equal(now) {
		t.Errorf("free to send: %+v", p)
	}
	s.Provider = "sandbox"
	if p := a.PreviewRate(policy.RateInput{Now: now, Session: s}); p.Applies || p.HeldBy != "" {
		t.Errorf("an unpaced provider: %+v", p)
	}
	if after := counted(ReasonMinGap) + counted(ReasonWarmup); after != before {
		t.Errorf("PreviewRate counted delays: %v -> %v", before, after)
	}
}
