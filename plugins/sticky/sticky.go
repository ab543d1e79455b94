// Package sticky is the sticky-contact route, the gateway's default: reply from the
// number the contact last talked with.
package sticky

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/plugins/roundrobin"
)

// Name is the plugin's registered name.
const Name = "sticky-contact"

// Config configures sticky-contact.
type Config struct {
	// MaxAge forgets contacts older than this: a chat silent for longer is routed as if
	// new. "0s" or absent: contacts never expire.
	MaxAge policy.Duration `json:"max_age,omitempty"`
}

// Sticky routes a message through the candidate that last exchanged a message with its
// chat, and through the candidates in turn when none has.
type Sticky struct {
	maxAge time.Duration
	turn   atomic.Uint64
}

// New returns an unconfigured sticky-contact route.
func New(policy.Spec) policy.Plugin { return &Sticky{} }

// Info implements policy.Plugin.
func (*Sticky) Info() policy.Info { return policy.NativeInfo(policy.HookRoute) }

// Configure reads a Config.
func (s *Sticky) Configure(_ context.Context, raw json.RawMessage) error {
	var c Config
	if err := policy.DecodeConfig(raw, &c); err != nil {
		return err
	}
	s.maxAge = time.Duration(c.MaxAge)
	return nil
}

// Close implements policy.Plugin.
func (*Sticky) Close() error { return nil }

// Route picks the candidate with the latest LastContact (ties: the first such
// candidate), ignoring contacts older than MaxAge; with none, the next candidate in turn.
func (s *Sticky) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	best := -1
	var latest time.Time
	for i := range in.Candidates {
		c := in.Candidates[i].LastContact
		if c.IsZero() || (s.maxAge > 0 && in.Now.Sub(c) > s.maxAge) {
			continue
		}
		if best < 0 || c.After(latest) {
			best, latest = i, c
		}
	}
	if best >= 0 {
		return policy.RouteDecision{Session: in.Candidates[best].Session}, nil
	}
	return policy.RouteDecision{Session: roundrobin.Pick(&s.turn, in.Candidates)}, nil
}

var (
	_ policy.Plugin    = (*Sticky)(nil)
	_ policy.RouteHook = (*Sticky)(nil)
)
