package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/catalog"
	"github.com/wagate/wagate/core/policy/goplugin"
	luahost "github.com/wagate/wagate/core/policy/lua"
	wasmhost "github.com/wagate/wagate/core/policy/wasm"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/steer"
	"github.com/wagate/wagate/plugins"
	"github.com/wagate/wagate/plugins/antiban"
	"go.yaml.in/yaml/v3"
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
	g.pacer, _ = defs.Rate.(policy.RatePreviewer)
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
		MaxModuleSize: int(g.cfg.Policies.MaxWASMBytes), InitTimeout: g.cfg.Policies.InitTimeout.D()})
	reg := policy.NewRegistry()
	if err := plugins.Register(reg); err != nil {
		return nil, err
	}
	gp, err := openGoplugins(g)
	if err != nil {
		return nil, err
	}
	c := catalog.New(catalog.Deps{
		DB: g.db, Chains: g.chains, Builtins: reg, Goplugins: gp, KV: policy.NewMemKV(policy.KVLimits{}),
		Runtimes: map[string]policy.Runtime{
			catalog.KindLua:  luahost.New(luahost.Options{MaxScriptSize: int(g.cfg.Policies.MaxLuaBytes), InitTimeout: g.cfg.Policies.InitTimeout.D()}),
			catalog.KindWASM: g.wasm,
		},
		Logger: g.log.With("component", "policy"),
	}, catalog.Options{
		MaxPolicies: g.cfg.Policies.MaxPerTenant, MaxVersions: g.cfg.Policies.MaxVersions,
		MaxLuaBytes: int(g.cfg.Policies.MaxLuaBytes), MaxWASMBytes: int(g.cfg.Policies.MaxWASMBytes),
	})
	return c, c.LoadAll(ctx)
}

// gopluginManifest is the file policies.goplugin_manifest names.
type gopluginManifest struct {
	// Binaries are the operator's plugin binaries, each pinned by its SHA-256.
	Binaries []goplugin.Binary `yaml:"binaries"`
	// CallTimeout is a call's budget when its binding sets none (20ms).
	CallTimeout config.Duration `yaml:"call_timeout"`
	// StartTimeout bounds starting a plugin process and its handshake (10s).
	StartTimeout config.Duration `yaml:"start_timeout"`
}

// openGoplugins starts the go-plugin runtime of the operator's manifest and checks
// every binary's hash now, so that a bad pin stops the gateway rather than a tenant's
// first call. nil without a manifest.
func openGoplugins(g *gateway) (policy.Runtime, error) {
	path := g.cfg.Policies.GopluginManifest
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policies.goplugin_manifest: %w", err)
	}
	var m gopluginManifest
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("policies.goplugin_manifest %s: %w", path, err)
	}
	rt, err := goplugin.New(goplugin.Options{Binaries: m.Binaries, Logger: g.log.With("component", "goplugin"),
		CallTimeout: m.CallTimeout.D(), StartTimeout: m.StartTimeout.D()})
	if err != nil {
		return nil, fmt.Errorf("policies.goplugin_manifest %s: %w", path, err)
	}
	if err := rt.Verify(); err != nil {
		return nil, fmt.Errorf("policies.goplugin_manifest %s: %w", path, err)
	}
	return rt, nil
}

// failoverOf lets the dispatcher, built before steer (which reads the session
// manager, built after it), use steer as its queue.Failover.
type failoverOf struct{ g *gateway }

func (f failoverOf) Target(tenant, session string) string { return f.g.steer.Target(tenant, session) }

func (f failoverOf) Decide(tenant string, m queue.Message, cause error, target string) queue.Decision {
	return f.g.steer.Decide(tenant, m, cause, target)
}

// clusterHandoff is the dispatcher's queue.Handoff in cluster mode: a failover to a
// session this node does not run goes to that session's send stream, which its owner
// consumes (docs/cluster.md, "Failover across nodes").
type clusterHandoff struct{ g *gateway }

func (h clusterHandoff) Remote(tenant, session string) bool {
	return h.g.cluster != nil && !h.g.cluster.Local(tenant, session)
}

// Lapsed is queue.Handoff's (cluster.Node.Lapsed).
func (h clusterHandoff) Lapsed(tenant, session string) bool {
	return h.g.cluster != nil && h.g.cluster.lapsed(tenant, session)
}

func (h clusterHandoff) Publish(ctx context.Context, tenant string, m queue.Message) error {
	return h.g.cluster.intake.Handoff(ctx, tenant, m)
}

// sessionLost hands the waiting messages of a session that cannot send any more
// (session.Lost: logged out, banned, credentials rejected, ...) to failover.
func (g *gateway) sessionLost(tenant, name string) {
	in, err := g.sessions.Get(context.Background(), tenant, name)
	if err != nil || !session.Lost(in.Status, in.Reason) {
		return
	}
	g.dispatch.SessionLost(tenant, name, fmt.Errorf("%w: %s %s", steer.ErrLost, in.Status, in.Reason))
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
