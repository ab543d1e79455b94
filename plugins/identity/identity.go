// Package identity is the identity transform: events pass unchanged. It is the gateway's
// default transform.
package identity

import (
	"context"
	"encoding/json"

	"github.com/wagate/wagate/core/policy"
)

// Name is the plugin's registered name.
const Name = "identity"

// Identity passes every event on as it is.
type Identity struct{}

// New returns the identity transform.
func New(policy.Spec) policy.Plugin { return Identity{} }

// Info implements policy.Plugin.
func (Identity) Info() policy.Info { return policy.NativeInfo(policy.HookTransform) }

// Configure accepts only an empty configuration.
func (Identity) Configure(_ context.Context, cfg json.RawMessage) error {
	return policy.DecodeConfig(cfg, &struct{}{})
}

// Close implements policy.Plugin.
func (Identity) Close() error { return nil }

// Transform returns the event unchanged.
func (Identity) Transform(_ context.Context, in policy.TransformInput) (policy.TransformResult, error) {
	return policy.Keep(in.Event), nil
}

var (
	_ policy.Plugin        = Identity{}
	_ policy.TransformHook = Identity{}
)
