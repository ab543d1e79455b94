// Package webcloud is the web-then-cloud failover: a message that keeps failing on a
// WhatsApp Web number is rerouted to a Cloud API number.
package webcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// Name is the plugin's registered name.
const Name = "web-then-cloud"

// Config configures web-then-cloud. Absent fields take the defaults shown.
type Config struct {
	// WebProviders are the providers whose failures this policy handles (["whatsmeow"]).
	WebProviders []string `json:"web_providers,omitempty"`
	// CloudProviders are the providers a message is rerouted to (["cloudapi"]).
	CloudProviders []string `json:"cloud_providers,omitempty"`
	// WebAttempts is how many attempts a message gets on web numbers before it is
	// rerouted (2). A non-retryable error reroutes at once.
	WebAttempts int `json:"web_attempts,omitempty"`
	// Backoff is the first retry's delay, doubled at each attempt ("2s").
	Backoff policy.Duration `json:"backoff,omitempty"`
	// MaxBackoff caps the delay ("1m").
	MaxBackoff policy.Duration `json:"max_backoff,omitempty"`
}

// WebCloud is the web-then-cloud failover.
type WebCloud struct {
	c Config
}

// New returns an unconfigured web-then-cloud failover.
func New(policy.Spec) policy.Plugin { return &WebCloud{} }

// Info implements policy.Plugin.
func (*WebCloud) Info() policy.Info { return policy.NativeInfo(policy.HookFailover) }

// Configure reads a Config.
func (w *WebCloud) Configure(_ context.Context, raw json.RawMessage) error {
	c := Config{WebProviders: []string{"whatsmeow"}, CloudProviders: []string{"cloudapi"}, WebAttempts: 2,
		Backoff: policy.Duration(2 * time.Second), MaxBackoff: policy.Duration(time.Minute)}
	if err := policy.DecodeConfig(raw, &c); err != nil {
		return err
	}
	if c.WebAttempts < 1 || c.WebAttempts > 100 {
		return fmt.Errorf("%w: web_attempts %d (1 to 100)", policy.ErrBadConfig, c.WebAttempts)
	}
	if c.MaxBackoff < c.Backoff || time.Duration(c.MaxBackoff) > policy.MaxDelay {
		return fmt.Errorf("%w: max_backoff must be between backoff and %s", policy.ErrBadConfig, policy.MaxDelay)
	}
	w.c = c
	return nil
}

// Close implements policy.Plugin.
func (*WebCloud) Close() error { return nil }

// Failover handles failures on web numbers only (no opinion otherwise):
//
//   - a retryable error before attempt WebAttempts: retry on the same number after
//     Backoff·2^(attempt-1), capped at MaxBackoff;
//   - otherwise: reroute to the cloud candidate with the shortest queue (ties: the
//     first);
//   - with no cloud candidate: no opinion (the gateway's own retry rule applies).
func (w *WebCloud) Failover(_ context.Context, in policy.FailoverInput) (policy.FailoverDecision, error) {
	if !slices.Contains(w.c.WebProviders, in.Session.Provider) {
		return policy.FailoverDecision{}, nil
	}
	if in.Error.Retryable && in.Attempt < w.c.WebAttempts {
		return policy.FailoverDecision{Action: policy.FailoverRetry, Delay: w.backoff(in.Attempt)}, nil
	}
	best := -1
	for i := range in.Candidates {
		c := &in.Candidates[i]
		if slices.Contains(w.c.CloudProviders, c.Provider) && (best < 0 || c.QueueDepth < in.Candidates[best].QueueDepth) {
			best = i
		}
	}
	if best < 0 {
		return policy.FailoverDecision{}, nil
	}
	return policy.FailoverDecision{Action: policy.FailoverReroute, Session: in.Candidates[best].Session}, nil
}

func (w *WebCloud) backoff(attempt int) time.Duration {
	d := time.Duration(w.c.Backoff)
	for i := 1; i < attempt && d < time.Duration(w.c.MaxBackoff); i++ {
		d *= 2
	}
	return min(d, time.Duration(w.c.MaxBackoff))
}

var (
	_ policy.Plugin       = (*WebCloud)(nil)
	_ policy.FailoverHook = (*WebCloud)(nil)
)
