// Package policy is the contract between the gateway and its policies: the four hooks a
// policy may implement, the typed values they exchange, the Runtime every host implements
// (native Go, Lua, WASM, go-plugin) and the per-tenant Chain that runs a tenant's policies
// with failure containment.
//
// # Hooks
//
//	route(message, candidates)            -> session | no opinion
//	failover(message, error, attempt, cs) -> retry(delay) | reroute(session) | fail(reason) | no opinion
//	rate(message, session stats)          -> allow | delay(d) | reject(reason) | no opinion
//	transform(event)                      -> event | drop
//
// A policy implements any non-empty subset of them (RouteHook, FailoverHook, RateHook,
// TransformHook) and says which in Info.Hooks. docs/plugins.md is the user-facing
// version of this contract, with the WASM ABI byte for byte (see abi.go).
//
// # Lifecycle
//
// A Runtime turns a Spec (source and configuration) into a Plugin. The calls come in this
// order, and Open makes them for you:
//
//	p, err := rt.Load(ctx, spec)   // compile once (script, module, native constructor)
//	p.Info()                       // ABI version and hooks; checked against ABIVersion
//	p.Configure(ctx, spec.Config)  // once, before any hook call
//	p.Route(ctx, in) ...           // any number of hook calls, concurrently
//	p.Close()                      // once; also after Configure failed, even during calls
//
// Every hook call carries a context. For an untrusted plugin (Info.Trusted false: Lua,
// WASM, go-plugin) the Chain gives each call a context whose deadline is the binding's
// budget, and the host must interrupt the guest when it passes and return an error
// wrapping context.DeadlineExceeded. A trusted plugin (native Go code compiled into the
// gateway) cannot be interrupted: the Chain passes the caller's context unchanged (no
// timer is armed, so the call costs no allocation) and measures the call instead; a
// trusted call that overruns its budget counts as timed out all the same.
//
// Hook methods are called concurrently and must not retain the input's slices after
// they return. Hosts pool their interpreters or instances to serve concurrent calls.
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// ABIVersion is the version of the hook contract and of the WASM binary layout
// (docs/plugins.md). A plugin reporting another version is refused at load.
const ABIVersion = 1

// Hook names one of the four hooks. The values are the ABI's hook numbers.
type Hook uint8

// The hooks.
const (
	HookRoute     Hook = 1
	HookFailover  Hook = 2
	HookRate      Hook = 3
	HookTransform Hook = 4
)

// AllHooks lists the hooks in ABI order.
var AllHooks = [...]Hook{HookRoute, HookFailover, HookRate, HookTransform}

// String returns the hook's name as used in metrics, reports and Lua ("route", ...).
func (h Hook) String() string {
	switch h {
	case HookRoute:
		return "route"
	case HookFailover:
		return "failover"
	case HookRate:
		return "rate"
	case HookTransform:
		return "transform"
	}
	return fmt.Sprintf("hook(%d)", uint8(h))
}

// Hooks is a set of hooks.
type Hooks uint8

// HooksOf returns the set holding hs.
func HooksOf(hs ...Hook) Hooks {
	var s Hooks
	for _, h := range hs {
		s |= 1 << (h - 1)
	}
	return s
}

// Has reports whether h is in the set.
func (s Hooks) Has(h Hook) bool { return h >= HookRoute && h <= HookTransform && s&(1<<(h-1)) != 0 }

// String lists the set's hooks, comma-separated, in ABI order.
func (s Hooks) String() string {
	var names []string
	for _, h := range AllHooks {
		if s.Has(h) {
			names = append(names, h.String())
		}
	}
	return strings.Join(names, ",")
}

// Info describes a loaded plugin.
type Info struct {
	// ABIVersion is the contract version the plugin was written against (ABIVersion).
	ABIVersion int
	// Hooks are the hooks the plugin implements. The plugin value must implement the
	// matching interface (RouteHook, ...) for each of them.
	Hooks Hooks
	// Trusted is true for native Go plugins compiled into the gateway: their calls run
	// in the caller's goroutine without an armed deadline and are measured instead.
	Trusted bool
}

// Plugin is a loaded policy. It also implements the hook interfaces of Info().Hooks.
type Plugin interface {
	// Info is called after Load and may be called at any time after.
	Info() Info
	// Configure is called once, after Load and before any hook call, with the binding's
	// configuration: a JSON object, "{}" when there is none. An error refuses the
	// plugin (Close is still called).
	Configure(ctx context.Context, config json.RawMessage) error
	// Close releases what Load acquired. It is called once, and must work even if
	// Configure failed. It may be called while hook calls are in flight (a tenant's
	// chain is swapped under load): those calls finish, and what they hold is released
	// as they return; calls made after Close fail with ErrClosed.
	Close() error
}

// RouteHook picks the session that sends a message among candidates.
type RouteHook interface {
	// Route returns the chosen candidate's session, or the zero RouteDecision for no
	// opinion. A session that is not among in.Candidates is a bad output.
	Route(ctx context.Context, in RouteInput) (RouteDecision, error)
}

// FailoverHook decides what happens to a message whose send failed.
type FailoverHook interface {
	Failover(ctx context.Context, in FailoverInput) (FailoverDecision, error)
}

// RateHook decides whether a session may send a message now.
type RateHook interface {
	Rate(ctx context.Context, in RateInput) (RateDecision, error)
}

// TransformHook rewrites or drops an event before it is delivered to the tenant's
// webhooks.
type TransformHook interface {
	Transform(ctx context.Context, in TransformInput) (TransformResult, error)
}

// Runtime loads policies of one kind. Every host implements it: the native registry
// (Registry), core/policy/lua, and later core/policy/wasm and core/policy/goplugin.
type Runtime interface {
	// Name is the runtime's name in configuration and metrics: "native", "lua", ...
	Name() string
	// Load compiles spec.Source once and returns a plugin ready for Configure. It has
	// no effect beyond the returned plugin: a failed Load leaves nothing to clean up.
	Load(ctx context.Context, spec Spec) (Plugin, error)
}

// Spec is what a Runtime needs to load one policy for one tenant.
type Spec struct {
	// Tenant owns the policy. Host functions act on this tenant's data only.
	Tenant string
	// Name is the policy's name in the tenant's chain: the "policy" label of metrics and
	// reports. Lowercase letters, digits and '-', at most 64 bytes.
	Name string
	// Source is what the runtime compiles: the registered name for native plugins, the
	// script for Lua, the module bytes for WASM, the binary's path for go-plugin.
	Source []byte
	// Config is the plugin's configuration, a JSON object; nil means "{}".
	Config json.RawMessage
	// KV is the tenant's key-value store behind the kv_get/kv_set host functions. Nil
	// gives the plugin a store that is always empty and refuses writes.
	KV KV
	// Log receives the plugin's log lines (host function log); nil discards them.
	Log *slog.Logger
}

// Open loads spec with rt, checks its Info and configures it: the lifecycle's first three
// steps in their order. On any error the plugin is closed and the error names the tenant
// and policy.
func Open(ctx context.Context, rt Runtime, spec Spec) (Plugin, error) {
	if err := checkName(spec.Name); err != nil {
		return nil, fmt.Errorf("loading policy %q for tenant %s: %w", spec.Name, spec.Tenant, err)
	}
	p, err := rt.Load(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("loading %s policy %s for tenant %s: %w", rt.Name(), spec.Name, spec.Tenant, err)
	}
	fail := func(err error) (Plugin, error) {
		_ = p.Close()
		return nil, fmt.Errorf("loading %s policy %s for tenant %s: %w", rt.Name(), spec.Name, spec.Tenant, err)
	}
	info := p.Info()
	if info.ABIVersion != ABIVersion {
		return fail(fmt.Errorf("%w: plugin has %d, gateway has %d", ErrABIVersion, info.ABIVersion, ABIVersion))
	}
	if info.Hooks == 0 {
		return fail(ErrNoHooks)
	}
	for _, h := range AllHooks {
		if info.Hooks.Has(h) && !implements(p, h) {
			return fail(fmt.Errorf("%w: info lists %s", ErrNotImplemented, h))
		}
	}
	cfg := spec.Config
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	if err := p.Configure(ctx, cfg); err != nil {
		return fail(fmt.Errorf("configure: %w", err))
	}
	return p, nil
}

// implements reports whether p has the interface of hook h.
func implements(p Plugin, h Hook) bool {
	var ok bool
	switch h {
	case HookRoute:
		_, ok = p.(RouteHook)
	case HookFailover:
		_, ok = p.(FailoverHook)
	case HookRate:
		_, ok = p.(RateHook)
	case HookTransform:
		_, ok = p.(TransformHook)
	}
	return ok
}

func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: %q (1 to 64 bytes)", ErrBadName, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: %q (lowercase letters, digits and '-')", ErrBadName, name)
		}
	}
	return nil
}
