package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Factory returns a new, unconfigured native plugin for spec (its tenant, KV and log).
// It must have no side effect: resources are acquired in Configure, released in Close.
type Factory func(spec Spec) Plugin

// Registry is the native runtime: Go plugins compiled into the gateway, by name. core/
// does not import plugins/: the binary fills the registry (plugins.Register) before
// loading any chain.
//
//	reg := policy.NewRegistry()
//	plugins.Register(reg)
//	p, err := policy.Open(ctx, reg, policy.Spec{Tenant: "acme", Name: "router", Source: []byte("least-loaded")})
type Registry struct {
	mu        sync.RWMutex
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: make(map[string]Factory)} }

// Register adds a native plugin under name. Registering a name twice is an error.
func (r *Registry) Register(name string, f Factory) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("registering native plugin: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.factories[name]; dup {
		return fmt.Errorf("registering native plugin %s: already registered", name)
	}
	r.factories[name] = f
	return nil
}

// Names lists the registered plugins, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Name is "native".
func (r *Registry) Name() string { return "native" }

// Load returns a new instance of the plugin registered under spec.Source.
func (r *Registry) Load(_ context.Context, spec Spec) (Plugin, error) {
	name := string(spec.Source)
	r.mu.RLock()
	f, ok := r.factories[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (registered: %s)", ErrUnknownPlugin, name, strings.Join(r.Names(), ", "))
	}
	return f(spec), nil
}

// NativeInfo is the Info of a native plugin implementing hooks.
func NativeInfo(hooks ...Hook) Info {
	return Info{ABIVersion: ABIVersion, Hooks: HooksOf(hooks...), Trusted: true}
}

// DecodeConfig decodes a plugin's JSON configuration into v strictly: unknown fields and
// trailing data are errors wrapping ErrBadConfig.
func DecodeConfig(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrBadConfig)
	}
	return nil
}

// Duration is a configuration duration written as a Go duration string ("30s", "1m30s",
// "250ms").
type Duration time.Duration

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %s is negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
