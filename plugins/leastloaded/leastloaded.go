// Package leastloaded is the least-loaded route: the candidate with the shortest queue.
package leastloaded

import (
	"context"
	"encoding/json"

	"github.com/wagate/wagate/core/policy"
)

// Name is the plugin's registered name.
const Name = "least-loaded"

// LeastLoaded routes a message through the candidate with the fewest messages waiting.
type LeastLoaded struct{}

// New returns a least-loaded route.
func New(policy.Spec) policy.Plugin { return &LeastLoaded{} }

// Info implements policy.Plugin.
func (*LeastLoaded) Info() policy.Info { return policy.NativeInfo(policy.HookRoute) }

// Configure accepts only an empty configuration.
func (*LeastLoaded) Configure(_ context.Context, cfg json.RawMessage) error {
	return policy.DecodeConfig(cfg, &struct{}{})
}

// Close implements policy.Plugin.
func (*LeastLoaded) Close() error { return nil }

// Route picks the candidate with the smallest QueueDepth; ties go to the one that sent
// fewest in the last minute, then to the first.
func (*LeastLoaded) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	if len(in.Candidates) == 0 {
		return policy.RouteDecision{}, nil
	}
	best := 0
	for i := 1; i < len(in.Candidates); i++ {
		c, b := &in.Candidates[i], &in.Candidates[best]
		if c.QueueDepth < b.QueueDepth || c.QueueDepth == b.QueueDepth && c.SentMinute < b.SentMinute {
			best = i
		}
	}
	return policy.RouteDecision{Session: in.Candidates[best].Session}, nil
}

var (
	_ policy.Plugin    = (*LeastLoaded)(nil)
	_ policy.RouteHook = (*LeastLoaded)(nil)
)
