//go:build wasip1

// sticky-contact, with the Go SDK: reply from the number the contact last talked with;
// with none, candidates take turns (plugins/sticky). Configuration as the native one:
// {"max_age": "2h"}.
package main

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/wagate/wagate/sdk/wasm"
)

var maxAge time.Duration

func configure(raw json.RawMessage) error {
	var c struct {
		MaxAge wasm.Duration `json:"max_age,omitempty"`
	}
	if err := wasm.DecodeConfig(raw, &c); err != nil {
		return err
	}
	maxAge = time.Duration(c.MaxAge)
	return nil
}

func route(in wasm.RouteInput) wasm.RouteDecision {
	best := -1
	var latest time.Time
	for i, c := range in.Candidates {
		t := c.LastContact
		if t.IsZero() || (maxAge > 0 && in.Now.Sub(t) > maxAge) {
			continue
		}
		if best < 0 || t.After(latest) {
			best, latest = i, t
		}
	}
	if best >= 0 {
		return wasm.RouteDecision{Session: in.Candidates[best].Session}
	}
	var n uint64
	if v, ok, err := wasm.KVGet("sticky-contact:next"); err == nil && ok {
		n, _ = strconv.ParseUint(string(v), 10, 64)
	}
	_ = wasm.KVSet("sticky-contact:next", strconv.AppendUint(nil, n+1, 10))
	return wasm.RouteDecision{Session: in.Candidates[n%uint64(len(in.Candidates))].Session}
}

func init() { wasm.Register(wasm.Plugin{Configure: configure, Route: route}) }

func main() {}
