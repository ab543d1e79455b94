//go:build wasip1

// web-then-cloud, with the Go SDK: a message that keeps failing on a WhatsApp Web
// number is rerouted to a Cloud API number (plugins/webcloud). Configuration as the
// native one.
package main

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/wagate/wagate/sdk/wasm"
)

type config struct {
	WebProviders   []string      `json:"web_providers,omitempty"`
	CloudProviders []string      `json:"cloud_providers,omitempty"`
	WebAttempts    int           `json:"web_attempts,omitempty"`
	Backoff        wasm.Duration `json:"backoff,omitempty"`
	MaxBackoff     wasm.Duration `json:"max_backoff,omitempty"`
}

var c config

func configure(raw json.RawMessage) error {
	n := config{WebProviders: []string{"whatsmeow"}, CloudProviders: []string{"cloudapi"}, WebAttempts: 2,
		Backoff: wasm.Duration(2 * time.Second), MaxBackoff: wasm.Duration(time.Minute)}
	if err := wasm.DecodeConfig(raw, &n); err != nil {
		return err
	}
	if n.WebAttempts < 1 || n.WebAttempts > 100 {
		return errors.New("web_attempts must be 1 to 100")
	}
	if n.MaxBackoff < n.Backoff || time.Duration(n.MaxBackoff) > 24*time.Hour {
		return errors.New("max_backoff must be between backoff and 24h")
	}
	c = n
	return nil
}

// failover handles failures on web numbers only: retry a retryable error with a
// doubling backoff until web_attempts, then reroute to the cloud candidate with the
// shortest queue; no opinion without one.
func failover(in wasm.FailoverInput) wasm.FailoverDecision {
	if !slices.Contains(c.WebProviders, in.Session.Provider) {
		return wasm.FailoverDecision{}
	}
	if in.Error.Retryable && in.Attempt < c.WebAttempts {
		d := time.Duration(c.Backoff)
		for i := 1; i < in.Attempt && d < time.Duration(c.MaxBackoff); i++ {
			d *= 2
		}
		return wasm.Retry(min(d, time.Duration(c.MaxBackoff)))
	}
	best := -1
	for i, cand := range in.Candidates {
		if slices.Contains(c.CloudProviders, cand.Provider) && (best < 0 || cand.QueueDepth < in.Candidates[best].QueueDepth) {
			best = i
		}
	}
	if best < 0 {
		return wasm.FailoverDecision{}
	}
	return wasm.Reroute(in.Candidates[best].Session)
}

func init() {
	_ = configure(nil) // the defaults, until the host configures the instance
	wasm.Register(wasm.Plugin{Configure: configure, Failover: failover})
}

func main() {}
