// Package weighted is the weighted route: candidates take turns in proportion to their
// configured weights.
package weighted

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/wagate/wagate/core/policy"
)

// Name is the plugin's registered name.
const Name = "weighted"

// Config configures weighted.
type Config struct {
	// Weights maps session names to their share (0 excludes a session).
	Weights map[string]int `json:"weights"`
	// DefaultWeight is the weight of a candidate missing from Weights; default 1. Set it
	// to 0 to route only through the sessions listed.
	DefaultWeight *int `json:"default_weight,omitempty"`
}

// Weighted routes the n-th message of the binding through the candidate whose slice of
// the cumulative weights covers n mod total.
type Weighted struct {
	weights map[string]int
	def     int
	turn    atomic.Uint64
}

// New returns an unconfigured weighted route.
func New(policy.Spec) policy.Plugin { return &Weighted{def: 1} }

// Info implements policy.Plugin.
func (*Weighted) Info() policy.Info { return policy.NativeInfo(policy.HookRoute) }

// Configure reads a Config.
func (w *Weighted) Configure(_ context.Context, raw json.RawMessage) error {
	var c Config
	if err := policy.DecodeConfig(raw, &c); err != nil {
		return err
	}
	for s, v := range c.Weights {
		if v < 0 || v > 1_000_000 {
			return fmt.Errorf("%w: weight of %s is %d (0 to 1000000)", policy.ErrBadConfig, s, v)
		}
	}
	w.weights, w.def = c.Weights, 1
	if c.DefaultWeight != nil {
		if *c.DefaultWeight < 0 || *c.DefaultWeight > 1_000_000 {
			return fmt.Errorf("%w: default_weight %d (0 to 1000000)", policy.ErrBadConfig, *c.DefaultWeight)
		}
		w.def = *c.DefaultWeight
	}
	return nil
}

// Close implements policy.Plugin.
func (*Weighted) Close() error { return nil }

func (w *Weighted) weight(session string) int {
	if v, ok := w.weights[session]; ok {
		return v
	}
	return w.def
}

// Route picks by weight: with weights a=3, b=1 the calls go a, a, a, b, a, a, a, b, ...
// It has no opinion when every candidate weighs 0.
func (w *Weighted) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	total := 0
	for i := range in.Candidates {
		total += w.weight(in.Candidates[i].Session)
	}
	if total == 0 {
		return policy.RouteDecision{}, nil
	}
	n := int((w.turn.Add(1) - 1) % uint64(total))
	for i := range in.Candidates {
		n -= w.weight(in.Candidates[i].Session)
		if n < 0 {
			return policy.RouteDecision{Session: in.Candidates[i].Session}, nil
		}
	}
	return policy.RouteDecision{}, nil // unreachable: n < total
}

var (
	_ policy.Plugin    = (*Weighted)(nil)
	_ policy.RouteHook = (*Weighted)(nil)
)
