// Package plugins holds the built-in policies, one folder each (see each README.md), and
// registers them with the native runtime. core/ never imports this package: the binary
// calls Register, and Defaults gives the chains their built-in answers.
//
//	reg := policy.NewRegistry()
//	if err := plugins.Register(reg); err != nil { ... }
//	defs, err := plugins.Defaults(ctx, pacingConfig)
//	chain, err := policy.NewChain(tenant, policy.ChainOptions{Defaults: defs, ...}, bindings...)
package plugins

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/plugins/antiban"
	"github.com/wagate/wagate/plugins/identity"
	"github.com/wagate/wagate/plugins/leastloaded"
	"github.com/wagate/wagate/plugins/ratelimit"
	"github.com/wagate/wagate/plugins/redact"
	"github.com/wagate/wagate/plugins/roundrobin"
	"github.com/wagate/wagate/plugins/sticky"
	"github.com/wagate/wagate/plugins/webcloud"
	"github.com/wagate/wagate/plugins/weighted"
)

// Builtins maps each built-in's registered name to its constructor.
var Builtins = map[string]policy.Factory{
	roundrobin.Name:  roundrobin.New,
	sticky.Name:      sticky.New,
	leastloaded.Name: leastloaded.New,
	weighted.Name:    weighted.New,
	webcloud.Name:    webcloud.New,
	ratelimit.Name:   ratelimit.New,
	antiban.Name:     antiban.New,
	identity.Name:    identity.New,
	redact.Name:      redact.New,
}

// Register adds every built-in to reg.
func Register(reg *policy.Registry) error {
	for name, f := range Builtins {
		if err := reg.Register(name, f); err != nil {
			return err
		}
	}
	return nil
}

// Defaults returns the built-in answers of a chain: sticky-contact routes, anti-ban
// pacing with pacingConfig (its JSON configuration; nil: its defaults) rates, identity
// transforms; failover has no default, so the dispatcher's own retry rule applies. One
// value serves every tenant's chain (the sticky-contact turn for chats without contact
// is then shared by all tenants, which only changes which session a new chat starts
// on). A tenant replaces the pacing by binding its own rate chain: a policy that
// answers allow skips the default (docs/plugins.md).
func Defaults(ctx context.Context, pacingConfig json.RawMessage) (policy.Defaults, error) {
	rt := antiban.New(policy.Spec{}).(*antiban.AntiBan)
	if err := rt.Configure(ctx, pacingConfig); err != nil {
		return policy.Defaults{}, fmt.Errorf("default rate rule: %w", err)
	}
	st := sticky.New(policy.Spec{}).(*sticky.Sticky)
	if err := st.Configure(ctx, nil); err != nil {
		return policy.Defaults{}, err
	}
	return policy.Defaults{Route: st, Rate: rt, Transform: identity.Identity{}}, nil
}
