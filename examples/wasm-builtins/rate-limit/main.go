//go:build wasip1

// rate-limit, with the Go SDK: per-session limits per minute, hour and day, a minimum
// interval, a lower daily limit for young numbers (plugins/ratelimit). Configuration as
// the native one.
package main

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/wagate/wagate/sdk/wasm"
)

type config struct {
	PerMinute   int           `json:"per_minute,omitempty"`
	PerHour     int           `json:"per_hour,omitempty"`
	PerDay      int           `json:"per_day,omitempty"`
	MinInterval wasm.Duration `json:"min_interval,omitempty"`
	Warmup      struct {
		Age    wasm.Duration `json:"age"`
		PerDay int           `json:"per_day"`
	} `json:"warmup"`
	OverDaily string `json:"over_daily,omitempty"`
}

var c config

func configure(raw json.RawMessage) error {
	var n config
	if err := wasm.DecodeConfig(raw, &n); err != nil {
		return err
	}
	if n.PerMinute < 0 || n.PerHour < 0 || n.PerDay < 0 || n.Warmup.PerDay < 0 {
		return errors.New("limits must not be negative")
	}
	if time.Duration(n.MinInterval) > 24*time.Hour {
		return errors.New("min_interval above 24h")
	}
	switch n.OverDaily {
	case "":
		n.OverDaily = "delay"
	case "delay", "reject":
	default:
		return errors.New("over_daily must be delay or reject")
	}
	c = n
	return nil
}

// daily is the session's daily limit (the warm-up one for a young number), 0 for none.
func daily(now time.Time, s wasm.Candidate) int {
	d := c.PerDay
	w := c.Warmup
	if w.PerDay > 0 && w.Age > 0 && !s.LinkedAt.IsZero() && now.Sub(s.LinkedAt) < time.Duration(w.Age) {
		if d == 0 || w.PerDay < d {
			d = w.PerDay
		}
	}
	return d
}

// rate: the longest delay of the limits that apply; no opinion when none does.
func rate(in wasm.RateInput) wasm.RateDecision {
	s := in.Session
	var delay time.Duration
	if d := daily(in.Now, s); d > 0 && s.SentDay >= d {
		if c.OverDaily == "reject" {
			return wasm.Reject("daily_limit")
		}
		delay = max(delay, 24*time.Hour/time.Duration(d))
	}
	if c.PerHour > 0 && s.SentHour >= c.PerHour {
		delay = max(delay, time.Hour/time.Duration(c.PerHour))
	}
	if c.PerMinute > 0 && s.SentMinute >= c.PerMinute {
		delay = max(delay, time.Minute/time.Duration(c.PerMinute))
	}
	if iv := time.Duration(c.MinInterval); iv > 0 && !s.LastSentAt.IsZero() {
		delay = max(delay, s.LastSentAt.Add(iv).Sub(in.Now))
	}
	if delay <= 0 {
		return wasm.RateDecision{}
	}
	return wasm.Delay(max(delay, time.Millisecond))
}

func init() { wasm.Register(wasm.Plugin{Configure: configure, Rate: rate}) }

func main() {}
