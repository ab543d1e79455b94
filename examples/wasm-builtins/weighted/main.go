//go:build wasip1

// weighted, with the Go SDK: candidates take turns in proportion to their weights
// (plugins/weighted). Configuration as the native one:
// {"weights": {"a": 3, "b": 1}, "default_weight": 1}.
package main

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/wagate/wagate/sdk/wasm"
)

var (
	weights map[string]int
	def     = 1
)

func configure(raw json.RawMessage) error {
	var c struct {
		Weights       map[string]int `json:"weights"`
		DefaultWeight *int           `json:"default_weight,omitempty"`
	}
	if err := wasm.DecodeConfig(raw, &c); err != nil {
		return err
	}
	for s, v := range c.Weights {
		if v < 0 || v > 1_000_000 {
			return errors.New("weight of " + s + " is " + strconv.Itoa(v) + " (0 to 1000000)")
		}
	}
	weights, def = c.Weights, 1
	if c.DefaultWeight != nil {
		if *c.DefaultWeight < 0 || *c.DefaultWeight > 1_000_000 {
			return errors.New("default_weight " + strconv.Itoa(*c.DefaultWeight) + " (0 to 1000000)")
		}
		def = *c.DefaultWeight
	}
	return nil
}

func weight(session string) int {
	if v, ok := weights[session]; ok {
		return v
	}
	return def
}

// route: with weights a=3, b=1 the calls go a, a, a, b, a, ...; no opinion when every
// candidate weighs 0.
func route(in wasm.RouteInput) wasm.RouteDecision {
	total := 0
	for _, c := range in.Candidates {
		total += weight(c.Session)
	}
	if total == 0 {
		return wasm.RouteDecision{}
	}
	var turn uint64
	if v, ok, err := wasm.KVGet("weighted:next"); err == nil && ok {
		turn, _ = strconv.ParseUint(string(v), 10, 64)
	}
	_ = wasm.KVSet("weighted:next", strconv.AppendUint(nil, turn+1, 10))
	n := int(turn % uint64(total))
	for _, c := range in.Candidates {
		if n -= weight(c.Session); n < 0 {
			return wasm.RouteDecision{Session: c.Session}
		}
	}
	return wasm.RouteDecision{}
}

func init() { wasm.Register(wasm.Plugin{Configure: configure, Route: route}) }

func main() {}
