// Package ratelimit is a simple per-session rate rule: limits per minute, hour and day,
// a minimum interval between sends, and a lower daily limit for new numbers. The
// gateway's default rate rule is anti-ban (plugins/antiban), which does more.
package ratelimit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// Name is the plugin's registered name.
const Name = "rate-limit"

// Config configures rate-limit. Zero limits are off.
type Config struct {
	// PerMinute, PerHour and PerDay bound the messages a session sends in the last
	// minute, hour and day.
	PerMinute int `json:"per_minute,omitempty"`
	PerHour   int `json:"per_hour,omitempty"`
	PerDay    int `json:"per_day,omitempty"`
	// MinInterval is the least time between two sends of a session.
	MinInterval policy.Duration `json:"min_interval,omitempty"`
	// Warmup lowers the daily limit of numbers linked recently.
	Warmup Warmup `json:"warmup,omitzero"`
	// OverDaily is what happens to a message over the daily limit: "delay" (default)
	// or "reject".
	OverDaily string `json:"over_daily,omitempty"`
}

// Warmup is the daily limit of young numbers.
type Warmup struct {
	// Age: a number linked less than Age ago is young.
	Age policy.Duration `json:"age"`
	// PerDay is a young number's daily limit (it replaces PerDay when lower).
	PerDay int `json:"per_day"`
}

// RateLimit is the rule. It keeps no state: the session's statistics are in the input.
type RateLimit struct {
	c Config
}

// New returns an unconfigured rule (no limits).
func New(policy.Spec) policy.Plugin { return &RateLimit{} }

// Info implements policy.Plugin.
func (*RateLimit) Info() policy.Info { return policy.NativeInfo(policy.HookRate) }

// Configure reads a Config.
func (r *RateLimit) Configure(_ context.Context, raw json.RawMessage) error {
	var c Config
	if err := policy.DecodeConfig(raw, &c); err != nil {
		return err
	}
	for name, v := range map[string]int{"per_minute": c.PerMinute, "per_hour": c.PerHour, "per_day": c.PerDay, "warmup.per_day": c.Warmup.PerDay} {
		if v < 0 {
			return fmt.Errorf("%w: %s is %d", policy.ErrBadConfig, name, v)
		}
	}
	if time.Duration(c.MinInterval) > policy.MaxDelay {
		return fmt.Errorf("%w: min_interval above %s", policy.ErrBadConfig, policy.MaxDelay)
	}
	switch c.OverDaily {
	case "":
		c.OverDaily = "delay"
	case "delay", "reject":
	default:
		return fmt.Errorf("%w: over_daily %q (delay or reject)", policy.ErrBadConfig, c.OverDaily)
	}
	r.c = c
	return nil
}

// Close implements policy.Plugin.
func (*RateLimit) Close() error { return nil }

// Rate checks the session's statistics against the limits:
//
//   - over the daily limit (the warm-up one for a young number): reject with reason
//     "daily_limit" if OverDaily is "reject", else a delay of 24h/limit;
//   - over the hourly or per-minute limit: a delay of 1h/limit or 1m/limit (the time one
//     more message's share takes to come back, token-bucket style);
//   - sooner than MinInterval after the last send: the rest of the interval.
//
// The answer is the longest of the delays that apply, and no opinion when none does
// (so that a chain's other rules and the default still apply).
func (r *RateLimit) Rate(_ context.Context, in policy.RateInput) (policy.RateDecision, error) {
	s := &in.Session
	var delay time.Duration
	if daily := r.daily(in.Now, s); daily > 0 && s.SentDay >= daily {
		if r.c.OverDaily == "reject" {
			return policy.RateDecision{Action: policy.RateReject, Reason: "daily_limit"}, nil
		}
		delay = max(delay, 24*time.Hour/time.Duration(daily))
	}
	if r.c.PerHour > 0 && s.SentHour >= r.c.PerHour {
		delay = max(delay, time.Hour/time.Duration(r.c.PerHour))
	}
	if r.c.PerMinute > 0 && s.SentMinute >= r.c.PerMinute {
		delay = max(delay, time.Minute/time.Duration(r.c.PerMinute))
	}
	if iv := time.Duration(r.c.MinInterval); iv > 0 && !s.LastSentAt.IsZero() {
		delay = max(delay, s.LastSentAt.Add(iv).Sub(in.Now))
	}
	if delay <= 0 {
		return policy.RateDecision{}, nil
	}
	return policy.RateDecision{Action: policy.RateDelay, Delay: max(delay, time.Millisecond)}, nil
}

// daily is the session's daily limit, 0 for none.
func (r *RateLimit) daily(now time.Time, s *policy.Candidate) int {
	d := r.c.PerDay
	w := r.c.Warmup
	if w.PerDay > 0 && w.Age > 0 && !s.LinkedAt.IsZero() && now.Sub(s.LinkedAt) < time.Duration(w.Age) {
		if d == 0 || w.PerDay < d {
			d = w.PerDay
		}
	}
	return d
}

var (
	_ policy.Plugin   = (*RateLimit)(nil)
	_ policy.RateHook = (*RateLimit)(nil)
)
