// Package roundrobin is the round-robin route: candidates take turns.
package roundrobin

import (
	"context"
	"encoding/json"
	"sync/atomic"

	"github.com/wagate/wagate/core/policy"
)

// Name is the plugin's registered name.
const Name = "round-robin"

// RoundRobin sends each message through the next candidate in turn. The turn is kept per
// binding (per tenant), across all chats.
type RoundRobin struct {
	next atomic.Uint64
}

// New returns an unconfigured round-robin route.
func New(policy.Spec) policy.Plugin { return &RoundRobin{} }

// Info implements policy.Plugin.
func (*RoundRobin) Info() policy.Info { return policy.NativeInfo(policy.HookRoute) }

// Configure accepts only an empty configuration.
func (*RoundRobin) Configure(_ context.Context, cfg json.RawMessage) error {
	return policy.DecodeConfig(cfg, &struct{}{})
}

// Close implements policy.Plugin.
func (*RoundRobin) Close() error { return nil }

// Route picks the candidate whose turn it is: the n-th call (from 0) picks candidate
// n mod len(candidates).
func (r *RoundRobin) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	return policy.RouteDecision{Session: Pick(&r.next, in.Candidates)}, nil
}

// Pick advances turn and returns the session of the candidate whose turn it was ("" when
// there is none). sticky-contact uses it for messages with no contact.
func Pick(turn *atomic.Uint64, cands []policy.Candidate) string {
	if len(cands) == 0 {
		return ""
	}
	n := turn.Add(1) - 1
	return cands[n%uint64(len(cands))].Session
}

var (
	_ policy.Plugin    = (*RoundRobin)(nil)
	_ policy.RouteHook = (*RoundRobin)(nil)
)
