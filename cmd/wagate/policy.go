package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/catalog"
	luahost "github.com/wagate/wagate/core/policy/lua"
	wasmhost "github.com/wagate/wagate/core/policy/wasm"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/steer"
	"github.com/wagate/wagate/plugins"
	"github.com/wagate/wagate/plugins/antiban"
)

// openChains builds the tenants' policy chains with the built-in defaults (sticky
// contact route, anti-ban pacing from the pacing section, unless it is off, identity
// transform; no failover default: steer
// applies web-then-cloud). Policy failures are published as policy.error and
// policy.disabled events.
func openChains(ctx context.Context, g *gateway) (*policy.Chains, error) {
	m, err := policy.NewMetrics(g.registry)
	if err != nil {
		return nil, err
	}
	defs, err := plugins.Defaults(ctx, pacingRule(g.cfg.Pacing))
	if err != nil {
		return nil, fmt.Errorf("policy defaults: %w", err)
	}
	if !g.cfg.Pacing.Enabled {
		defs.Rate = nil
	}
	g.registry.MustRegister(antiban.Collectors()...)
	return policy.NewChains(policy.ChainOptions{Defaults: defs, Metrics: m, OnFailure: func(f policy.Failure) {
		for _, e := range f.Envelopes() {
			g.bus.Publish(e)
		}
	}}), nil
}

// openCatalog builds the tenants' uploaded policies and bindings, and loads every
// stored chain. WASM modules compile once into <store.dir>/wasm-cache.
func openCatalog(ctx context.Context, g *gateway) (*catalog.Catalog, error) {
	g.wasm = wasmhost.New(wasmhost.Options{CacheDir: filepath.Join(g.cfg.Store.Dir, "wasm-cache"),
		MaxModuleSize: int(g.cfg.Policies.MaxWASMBytes)})
	reg := policy.NewRegistry()
	if err := plugins.Register(reg); err != nil {
		return nil, err
	}
	c := catalog.New(catalog.Deps{
		DB: g.db, Chains: g.chains, Builtins: reg, KV: policy.NewMemKV(policy.KVLimits{}),
		Runtimes: map[string]policy.Runtime{
			catalog.KindLua:  luahost.New(luahost.Options{MaxScriptSize: int(g.cfg.Policies.MaxLuaBytes)}),
			catalog.KindWASM: g.wasm,
		},
		Logger: g.log.With("component", "policy"),
	}, catalog.Options{
		MaxPolicies: g.cfg.Policies.MaxPerTenant, MaxVersions: g.cfg.Policies.MaxVersions,
		MaxLuaBytes: int(g.cfg.Policies.MaxLuaBytes), MaxWASMBytes: int(g.cfg.Policies.MaxWASMBytes),
	})
	return c, c.LoadAll(ctx)
}

// failoverOf lets the dispatcher, built before steer (which reads the session
// manager, built after it), use steer as its queue.Failover.
type failoverOf struct{ g *gateway }

func (f failoverOf) Target(tenant, session string) string { return f.g.steer.Target(tenant, session) }

func (f failoverOf) Decide(tenant string, m queue.Message, cause error, target string) queue.Decision {
	return f.g.steer.Decide(tenant, m, cause, target)
}

// sessionLost hands the waiting messages of a session that cannot send any more (logged
// out; failed because banned or its credentials were rejected) to failover.
func (g *gateway) sessionLost(tenant, name string) {
	in, err := g.sessions.Get(context.Background(), tenant, name)
	if err != nil {
		return
	}
	r := strings.ToLower(in.Reason)
	if in.Status == "LOGGED_OUT" || strings.Contains(r, "ban") || strings.Contains(r, "auth") {
		g.dispatch.SessionLost(tenant, name, fmt.Errorf("%w: %s %s", steer.ErrLost, in.Status, in.Reason))
	}
}

// failoverPayload is the payload of a message.failover event.
func failoverPayload(ev queue.FailoverEvent) map[string]any {
	p := map[string]any{"id": ev.Message.ID, "chatId": ev.Message.ChatID, "from": ev.From, "reason": ev.Reason}
	if ev.To != "" {
		p["to"] = ev.To
	}
	if ev.Refused != "" {
		p["refused"] = ev.Refused
	}
	return p
}
