package antiban

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// Config configures anti-ban. A field left out of the JSON keeps its default
// (Defaults); a cap written as 0 is off.
type Config struct {
	// Providers lists the session providers the rule paces; empty means all. By
	// default WhatsApp Web numbers (whatsmeow) only: Meta's Cloud API enforces its own
	// limits, and the sandbox's bans are simulated (add it to rehearse pacing).
	Providers []string `json:"providers"`
	// MinGap is the least time between two sends of a session.
	MinGap policy.Duration `json:"min_gap"`
	// Jitter is the most random time added to each gap: gaps are uniform in
	// [min_gap, min_gap+jitter].
	Jitter policy.Duration `json:"jitter"`
	// PerMinute, PerHour and PerDay cap the messages a session sends in the last
	// minute, hour and day.
	PerMinute int `json:"per_minute"`
	PerHour   int `json:"per_hour"`
	PerDay    int `json:"per_day"`
	// OverDaily is what happens to a message over the daily cap: "delay" or "reject"
	// (it fails with reason daily_limit).
	OverDaily string `json:"over_daily"`
	// Warmup lowers the daily cap of recently linked numbers.
	Warmup Warmup `json:"warmup"`
	// ContactPerHour caps the messages to one chat per hour, unless the chat wrote in
	// the last hour.
	ContactPerHour int `json:"contact_per_hour"`
	// OverContact is what happens to a message over the per-contact cap: "reject" (it
	// fails with reason contact_limit) or "delay" (which holds the session's queue
	// behind it: the dispatcher sends a session's messages in order).
	OverContact string `json:"over_contact"`
	// FirstContactsPerDay caps, per session and 24 hours, the chats messaged that
	// never wrote to the session.
	FirstContactsPerDay int `json:"first_contacts_per_day"`
	// OverFirstContacts is what happens to a first contact over its cap: "reject" (it
	// fails with reason first_contact_limit) or "delay" (holding the session's queue).
	OverFirstContacts string `json:"over_first_contacts"`
	// ReachoutPause is what a reach-out timelock holds: "all" sends of the session, or
	// only "first_contacts" (WhatsApp still lets a timelocked number answer its
	// existing chats). A temporary ban always holds all.
	ReachoutPause string `json:"reachout_pause"`
	// PauseRecheck bounds the delay of a paused message: it is asked about again this
	// often, so that a restriction lifted early (the provider reported it) frees the
	// session's queue within this time.
	PauseRecheck policy.Duration `json:"pause_recheck"`
	// Typing decides the typing indicator shown before each send (Typing.Duration).
	Typing Typing `json:"typing"`
}

// Warmup is the schedule of a young number's daily cap: FirstDay on the day it was
// linked, multiplied by Growth each following day, for Days days.
type Warmup struct {
	Days     int     `json:"days"`
	FirstDay int     `json:"first_day"`
	Growth   float64 `json:"growth"`
}

// Typing is how long the typing indicator shows before a message: the text's length
// at CharsPerSecond, within [Min, Max], varied by ±Jitter (a fraction).
type Typing struct {
	Enabled        bool            `json:"enabled"`
	CharsPerSecond float64         `json:"chars_per_second"`
	Min            policy.Duration `json:"min"`
	Max            policy.Duration `json:"max"`
	Jitter         float64         `json:"jitter"`
}

// Values of OverDaily, OverContact, OverFirstContacts and ReachoutPause.
const (
	OverDelay          = "delay"
	OverReject         = "reject"
	PauseAll           = "all"
	PauseFirstContacts = "first_contacts"
)

// Defaults returns the default configuration. README.md cites the published practice
// behind each value and says which are judgement calls.
func Defaults() Config {
	return Config{
		Providers:           []string{"whatsmeow"},
		MinGap:              policy.Duration(5 * time.Second),
		Jitter:              policy.Duration(10 * time.Second),
		PerMinute:           5,
		PerHour:             200,
		PerDay:              1500,
		OverDaily:           OverDelay,
		Warmup:              Warmup{Days: 7, FirstDay: 20, Growth: 1.8},
		ContactPerHour:      2,
		FirstContactsPerDay: 100,
		OverContact:         OverReject,
		OverFirstContacts:   OverReject,
		ReachoutPause:       PauseAll,
		PauseRecheck:        policy.Duration(time.Minute),
		Typing: Typing{Enabled: true, CharsPerSecond: 3.3, Min: policy.Duration(800 * time.Millisecond),
			Max: policy.Duration(12 * time.Second), Jitter: 0.3},
	}
}

// Configure reads a Config over the defaults.
func (a *AntiBan) Configure(_ context.Context, raw json.RawMessage) error {
	c, err := Parse(raw)
	if err != nil {
		return err
	}
	a.set(c)
	return nil
}

// Parse reads a Config over the defaults and checks it. Errors wrap
// policy.ErrBadConfig and name the field.
func Parse(raw json.RawMessage) (Config, error) {
	c := Defaults()
	if err := policy.DecodeConfig(raw, &c); err != nil { // a list given replaces the default one
		return Config{}, err
	}
	return c, c.validate()
}

func (c Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", policy.ErrBadConfig, field, fmt.Sprintf(format, args...))
	}
	for name, v := range map[string]int{"per_minute": c.PerMinute, "per_hour": c.PerHour, "per_day": c.PerDay,
		"contact_per_hour": c.ContactPerHour, "first_contacts_per_day": c.FirstContactsPerDay,
		"warmup.days": c.Warmup.Days, "warmup.first_day": c.Warmup.FirstDay} {
		if v < 0 {
			return bad(name, "%d is negative", v)
		}
	}
	for name, d := range map[string]policy.Duration{"min_gap": c.MinGap, "jitter": c.Jitter, "pause_recheck": c.PauseRecheck} {
		if time.Duration(d) > time.Hour {
			return bad(name, "%s is over 1h", time.Duration(d))
		}
	}
	if c.PauseRecheck <= 0 {
		return bad("pause_recheck", "must be positive")
	}
	if c.Warmup.Days > 0 && !(c.Warmup.Growth >= 1 && c.Warmup.Growth <= 10) {
		return bad("warmup.growth", "%v is outside 1 to 10", c.Warmup.Growth)
	}
	for name, v := range map[string]string{"over_daily": c.OverDaily, "over_contact": c.OverContact,
		"over_first_contacts": c.OverFirstContacts} {
		if v != OverDelay && v != OverReject {
			return bad(name, "%q is neither delay nor reject", v)
		}
	}
	if c.ReachoutPause != PauseAll && c.ReachoutPause != PauseFirstContacts {
		return bad("reachout_pause", "%q is neither all nor first_contacts", c.ReachoutPause)
	}
	for _, p := range c.Providers {
		if p == "" {
			return bad("providers", "empty provider name")
		}
	}
	t := c.Typing
	if t.Enabled {
		if !(t.CharsPerSecond > 0 && t.CharsPerSecond <= 1000) || math.IsInf(t.CharsPerSecond, 0) {
			return bad("typing.chars_per_second", "%v is outside (0, 1000]", t.CharsPerSecond)
		}
		if t.Max < t.Min || time.Duration(t.Max) > time.Minute {
			return bad("typing.max", "%s is below typing.min or over 1m", time.Duration(t.Max))
		}
	}
	if !(t.Jitter >= 0 && t.Jitter < 1) {
		return bad("typing.jitter", "%v is outside [0, 1)", t.Jitter)
	}
	return nil
}

func (a *AntiBan) set(c Config) {
	a.c = c
	a.providers = nil
	if len(c.Providers) > 0 {
		a.providers = make(map[string]bool, len(c.Providers))
		for _, p := range c.Providers {
			a.providers[p] = true
		}
	}
}
