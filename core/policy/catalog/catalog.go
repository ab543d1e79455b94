// Package catalog keeps the tenants' policies: the Lua scripts and WASM modules they
// upload (versioned, in the store), which version of each is active, and which policies
// form each hook's chain (the bindings). It builds every tenant's policy.Chain from
// them and swaps it in atomically when an activation or a binding changes: calls in
// flight finish on the old chain, which is then closed.
//
//	c := catalog.New(catalog.Deps{DB: db, Chains: chains, Runtimes: ..., Builtins: reg}, catalog.Options{})
//	c.LoadAll(ctx)                         // at start: every tenant's chain
//	v, err := c.Put(ctx, "acme", "by-country", catalog.Upload{Kind: "lua", Source: src})
//	c.SetBindings(ctx, "acme", catalog.Bindings{Route: []catalog.Ref{{Policy: "by-country"}}})
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/coalesce"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/store"
)

// Kinds of uploaded policies: the runtime that runs them.
const (
	KindLua  = "lua"
	KindWASM = "wasm"
)

// Policy is an uploaded policy as listed.
type Policy struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Active is the version bound chains run (0: none yet).
	Active int `json:"active"`
	// Latest is the newest version uploaded.
	Latest    int       `json:"latest"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Version is one upload of a policy.
type Version struct {
	Version   int             `json:"version"`
	Kind      string          `json:"kind"`
	SHA256    string          `json:"sha256"`
	Size      int             `json:"size"`
	Config    json.RawMessage `json:"config,omitempty"`
	Hooks     string          `json:"hooks"`
	CreatedAt time.Time       `json:"createdAt"`
	// Source is the script or module; left out of listings.
	Source []byte `json:"source,omitempty"`
}

// Ref is one entry of a hook's chain: exactly one of an uploaded policy (its active
// version), a built-in, or a go-plugin binary the operator installed (by its name in
// the operator's manifest; tenants cannot upload binaries) — with an optional
// configuration (an uploaded policy uses its active version's unless this one is
// given) and budget.
type Ref struct {
	Policy   string          `json:"policy,omitempty"`
	Builtin  string          `json:"builtin,omitempty"`
	Goplugin string          `json:"goplugin,omitempty"`
	Config   json.RawMessage `json:"config,omitempty"`
	// Timeout is the per-call budget, e.g. "20ms"; 0 means policy.DefaultTimeout.
	Timeout policy.Duration `json:"timeout,omitempty"`
}

func (r Ref) name() string {
	switch {
	case r.Policy != "":
		return r.Policy
	case r.Goplugin != "":
		return r.Goplugin
	}
	return r.Builtin
}

// kinds counts how many of policy, builtin and goplugin r names.
func (r Ref) kinds() int {
	n := 0
	for _, s := range []string{r.Policy, r.Builtin, r.Goplugin} {
		if s != "" {
			n++
		}
	}
	return n
}

// Bindings are a tenant's chains: per hook, the policies in order.
type Bindings struct {
	Route     []Ref `json:"route"`
	Failover  []Ref `json:"failover"`
	Rate      []Ref `json:"rate"`
	Transform []Ref `json:"transform"`
}

func (b *Bindings) lists() [4]*[]Ref {
	return [4]*[]Ref{&b.Route, &b.Failover, &b.Rate, &b.Transform}
}

// Upload is a new version of a policy.
type Upload struct {
	Kind   string
	Source []byte
	Config json.RawMessage
	// Tests run against the new version before it is stored; one failing refuses it.
	Tests []TestVector
	// Activate makes the new version the active one at once (the first version of a
	// policy always is).
	Activate bool
}

// Errors; the API maps each to a status and code.
var (
	ErrNotFound      = errors.New("policy not found")
	ErrInvalid       = errors.New("invalid policy")
	ErrTestFailed    = errors.New("policy test vector failed")
	ErrLimit         = errors.New("policy limit reached")
	ErrBound         = errors.New("policy is bound")
	ErrUnknownKind   = errors.New("unknown policy kind")
	ErrBadBinding    = errors.New("invalid policy binding")
	ErrVersionAbsent = errors.New("policy version not found")
)

// Options bound what tenants may upload. Zero values take the defaults in brackets.
type Options struct {
	MaxPolicies  int // per tenant [20]
	MaxVersions  int // kept per policy, the active one always kept [10]
	MaxLuaBytes  int // [64 KiB]
	MaxWASMBytes int // [8 MiB]
	MaxTests     int // test vectors per upload [50]
	// LoadTimeout bounds compiling, configuring and testing an upload [5s].
	LoadTimeout time.Duration
}

func (o *Options) defaults() {
	for _, f := range []struct {
		v *int
		d int
	}{{&o.MaxPolicies, 20}, {&o.MaxVersions, 10}, {&o.MaxLuaBytes, 64 << 10}, {&o.MaxWASMBytes, 8 << 20}, {&o.MaxTests, 50}} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 5 * time.Second
	}
}

// Deps are what the catalog uses.
type Deps struct {
	DB     *store.DB
	Chains *policy.Chains
	// Runtimes by kind ("lua", "wasm"); a kind without a runtime is refused.
	Runtimes map[string]policy.Runtime
	// Builtins is the native registry (the plugins/ built-ins) that Refs name.
	Builtins policy.Runtime
	// Goplugins runs the operator's go-plugin binaries that Refs name; nil: none.
	Goplugins policy.Runtime
	// KV is the tenants' key-value store given to plugins; nil gives none.
	KV     *policy.MemKV
	Logger *slog.Logger
}

// Catalog is safe for concurrent use; changes of one tenant are serialized.
type Catalog struct {
	d  Deps
	o  Options
	mu sync.Mutex // serializes changes (and chain rebuilds)

	forget *coalesce.Worker[string, *change] // chains to rebuild after other nodes' changes (forget.go)
}

var (
	policies = store.Table[Policy]{Prefix: store.PrefixPolicy, Codec: store.JSONCodec[Policy]{}}
	versions = store.Table[Version]{Prefix: store.PrefixPolicyVersion, Codec: store.JSONCodec[Version]{}}
	bindings = store.Table[Bindings]{Prefix: store.PrefixPolicyBindings, Codec: store.JSONCodec[Bindings]{}}
)

// New returns a catalog. Call LoadAll to build the stored chains.
func New(d Deps, o Options) *Catalog {
	o.defaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Catalog{d: d, o: o}
	c.forget = coalesce.New(c.rebuildOne)
	return c
}

func vkey(v int) string { return fmt.Sprintf("%08d", v) }

// LoadAll builds the chain of every tenant with bindings. A tenant whose chain cannot
// be built (a runtime gone, a module that no longer compiles) keeps the defaults, and
// the error is logged; the others load.
func (c *Catalog) LoadAll(ctx context.Context) error {
	all := map[string]Bindings{}
	err := c.d.DB.View(func(txn *badger.Txn) error {
		return bindings.Scan(txn, func(rest []string, b Bindings) error {
			all[rest[0]] = b
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("catalog: reading bindings: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for tenant, b := range all {
		if err := c.install(ctx, tenant, b); err != nil {
			c.d.Logger.Error("policy chain not loaded; the tenant runs the defaults", "tenant", tenant, "err", err)
		}
	}
	return nil
}

// Put validates an upload (size, compiles, ABI and hooks, test vectors) and stores it
// as the policy's next version.
func (c *Catalog) Put(ctx context.Context, tenant, name string, up Upload) (Version, error) {
	rt, err := c.runtime(up.Kind)
	if err != nil {
		return Version{}, err
	}
	limit := c.o.MaxLuaBytes
	if up.Kind == KindWASM {
		limit = c.o.MaxWASMBytes
	}
	if len(up.Source) == 0 || len(up.Source) > limit {
		return Version{}, fmt.Errorf("%w: source is %d bytes; 1 to %d allowed for %s", ErrInvalid, len(up.Source), limit, up.Kind)
	}
	if len(up.Tests) > c.o.MaxTests {
		return Version{}, fmt.Errorf("%w: %d test vectors, at most %d", ErrInvalid, len(up.Tests), c.o.MaxTests)
	}
	lctx, cancel := context.WithTimeout(ctx, c.o.LoadTimeout)
	defer cancel()
	p, err := policy.Open(lctx, rt, c.spec(tenant, name, up.Source, up.Config))
	if err != nil {
		return Version{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	info := p.Info()
	err = runTests(lctx, p, up.Tests)
	p.Close()
	if err != nil {
		return Version{}, err
	}
	sum := sha256.Sum256(up.Source)
	c.mu.Lock()
	defer c.mu.Unlock()
	var v Version
	var meta Policy
	err = c.d.DB.Update(func(txn *badger.Txn) error {
		var err error
		meta, err = policies.Get(txn, tenant, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			n := 0
			if err := policies.Scan(txn, func([]string, Policy) error { n++; return nil }, tenant); err != nil {
				return err
			}
			if n >= c.o.MaxPolicies {
				return fmt.Errorf("%w: %d policies per tenant", ErrLimit, c.o.MaxPolicies)
			}
			meta = Policy{Name: name, Kind: up.Kind}
		case err != nil:
			return err
		case meta.Kind != up.Kind:
			return fmt.Errorf("%w: %s is a %s policy; upload %s under another name", ErrInvalid, name, meta.Kind, up.Kind)
		}
		now := time.Now().UTC()
		meta.Latest++
		v = Version{Version: meta.Latest, Kind: up.Kind, SHA256: hex.EncodeToString(sum[:]), Size: len(up.Source),
			Config: up.Config, Hooks: info.Hooks.String(), CreatedAt: now, Source: up.Source}
		if meta.Active == 0 || up.Activate {
			meta.Active = v.Version
		}
		meta.UpdatedAt = now
		if err := versions.Put(txn, v, tenant, name, vkey(v.Version)); err != nil {
			return err
		}
		// Keep the newest MaxVersions, and the active one whatever its age.
		if old := v.Version - c.o.MaxVersions; old >= 1 && old != meta.Active {
			if err := versions.Delete(txn, tenant, name, vkey(old)); err != nil {
				return err
			}
		}
		return policies.Put(txn, meta, tenant, name)
	})
	if err != nil {
		return Version{}, err
	}
	if meta.Active == v.Version {
		if err := c.reload(ctx, tenant, name); err != nil {
			return Version{}, err
		}
	}
	v.Source = nil
	return v, nil
}

// List returns the tenant's policies by name.
func (c *Catalog) List(tenant string) ([]Policy, error) {
	out := []Policy{}
	err := c.d.DB.View(func(txn *badger.Txn) error {
		return policies.Scan(txn, func(_ []string, p Policy) error { out = append(out, p); return nil }, tenant)
	})
	return out, err
}

// Get returns a policy and its stored versions (without sources), newest first.
func (c *Catalog) Get(tenant, name string) (Policy, []Version, error) {
	var p Policy
	var vs []Version
	err := c.d.DB.View(func(txn *badger.Txn) error {
		var err error
		if p, err = policies.Get(txn, tenant, name); err != nil {
			return err
		}
		return versions.Scan(txn, func(_ []string, v Version) error {
			v.Source = nil
			vs = append(vs, v)
			return nil
		}, tenant, name)
	})
	if errors.Is(err, store.ErrNotFound) {
		return Policy{}, nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Version > vs[j].Version })
	return p, vs, err
}

// Version returns one version with its source.
func (c *Catalog) Version(tenant, name string, version int) (Version, error) {
	var v Version
	err := c.d.DB.View(func(txn *badger.Txn) error {
		var err error
		v, err = versions.Get(txn, tenant, name, vkey(version))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Version{}, fmt.Errorf("%w: %s version %d", ErrVersionAbsent, name, version)
	}
	return v, err
}

// Activate makes version the one chains run (rollback is activating an older one) and
// swaps the tenant's chain if the policy is bound.
func (c *Catalog) Activate(ctx context.Context, tenant, name string, version int) (Policy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p Policy
	err := c.d.DB.Update(func(txn *badger.Txn) error {
		var err error
		if p, err = policies.Get(txn, tenant, name); err != nil {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		if _, err := versions.Get(txn, tenant, name, vkey(version)); err != nil {
			return fmt.Errorf("%w: %s version %d", ErrVersionAbsent, name, version)
		}
		p.Active, p.UpdatedAt = version, time.Now().UTC()
		return policies.Put(txn, p, tenant, name)
	})
	if err != nil {
		return Policy{}, err
	}
	return p, c.reload(ctx, tenant, name)
}

// Delete removes a policy and its versions; a bound policy is refused.
func (c *Catalog) Delete(ctx context.Context, tenant, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := c.bindingsOf(tenant)
	if err != nil {
		return err
	}
	for _, list := range b.lists() {
		for _, r := range *list {
			if r.Policy == name {
				return fmt.Errorf("%w: %s is in the chains; unbind it first", ErrBound, name)
			}
		}
	}
	if _, _, err := c.Get(tenant, name); err != nil {
		return err
	}
	if err := c.d.DB.Update(func(txn *badger.Txn) error { return policies.Delete(txn, tenant, name) }); err != nil {
		return err
	}
	return c.d.DB.DeletePrefix(store.ScanPrefix(store.PrefixPolicyVersion, tenant, name))
}

// Bindings returns the tenant's chains (empty lists when none are set).
func (c *Catalog) Bindings(tenant string) (Bindings, error) { return c.bindingsOf(tenant) }

func (c *Catalog) bindingsOf(tenant string) (Bindings, error) {
	var b Bindings
	err := c.d.DB.View(func(txn *badger.Txn) error {
		var err error
		b, err = bindings.Get(txn, tenant)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	for _, list := range b.lists() {
		if *list == nil {
			*list = []Ref{}
		}
	}
	return b, err
}

// SetBindings replaces the tenant's chains: every referenced policy is loaded and the
// new chain built before anything changes; then it is stored and swapped in.
func (c *Catalog) SetBindings(ctx context.Context, tenant string, b Bindings) (Bindings, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, list := range b.lists() {
		if len(*list) > 10 {
			return Bindings{}, fmt.Errorf("%w: at most 10 policies per hook", ErrBadBinding)
		}
		for _, r := range *list {
			if r.kinds() != 1 {
				return Bindings{}, fmt.Errorf("%w: each entry names exactly one of policy, builtin or goplugin", ErrBadBinding)
			}
			if time.Duration(r.Timeout) < 0 || time.Duration(r.Timeout) > time.Second {
				return Bindings{}, fmt.Errorf("%w: timeout of %s must be 0 to 1s", ErrBadBinding, r.name())
			}
		}
	}
	if err := c.install(ctx, tenant, b); err != nil {
		return Bindings{}, err
	}
	if err := c.d.DB.Update(func(txn *badger.Txn) error { return bindings.Put(txn, b, tenant) }); err != nil {
		return Bindings{}, err
	}
	return c.bindingsOf(tenant)
}

// DeleteTenant drops a deleted tenant's chain and key-value data (its keys go with the
// store's tenant delete).
func (c *Catalog) DeleteTenant(tenant string) {
	if old := c.d.Chains.Delete(tenant); old != nil {
		old.Close()
	}
	if c.d.KV != nil {
		c.d.KV.Drop(tenant)
	}
}

// reload rebuilds the tenant's chain if policy name is bound. Callers hold c.mu.
func (c *Catalog) reload(ctx context.Context, tenant, name string) error {
	b, err := c.bindingsOf(tenant)
	if err != nil {
		return err
	}
	for _, list := range b.lists() {
		for _, r := range *list {
			if r.Policy == name {
				return c.install(ctx, tenant, b)
			}
		}
	}
	return nil
}

// install loads every policy b references, builds the chain and swaps it in, closing
// the old one. Nothing changes on an error. Callers hold c.mu.
func (c *Catalog) install(ctx context.Context, tenant string, b Bindings) error {
	uses := map[string]int{}
	for _, list := range b.lists() {
		for _, r := range *list {
			uses[r.name()]++
		}
	}
	var bs []policy.Binding
	closeAll := func() {
		for _, x := range bs {
			x.Plugin.Close()
		}
	}
	for i, list := range b.lists() {
		hook := policy.AllHooks[i]
		for _, r := range *list {
			p, err := c.load(ctx, tenant, r)
			if err != nil {
				closeAll()
				return err
			}
			if !p.Info().Hooks.Has(hook) {
				p.Close()
				closeAll()
				return fmt.Errorf("%w: %s does not implement %s", ErrBadBinding, r.name(), hook)
			}
			name := r.name()
			if uses[name] > 1 {
				name += "-" + hook.String()
			}
			bs = append(bs, policy.Binding{Name: name, Plugin: p, Hooks: policy.HooksOf(hook), Timeout: time.Duration(r.Timeout)})
		}
	}
	chain, err := policy.NewChain(tenant, c.d.Chains.Options(), bs...)
	if err != nil {
		closeAll()
		return fmt.Errorf("%w: %v", ErrBadBinding, err)
	}
	if old := c.d.Chains.Set(tenant, chain); old != nil {
		old.Close() // calls in flight finish; later ones go to the new chain
	}
	return nil
}

// load opens one Ref for tenant.
func (c *Catalog) load(ctx context.Context, tenant string, r Ref) (policy.Plugin, error) {
	lctx, cancel := context.WithTimeout(ctx, c.o.LoadTimeout)
	defer cancel()
	if r.Goplugin != "" {
		if c.d.Goplugins == nil {
			return nil, fmt.Errorf("%w: this gateway runs no go-plugin binaries", ErrBadBinding)
		}
		p, err := policy.Open(lctx, c.d.Goplugins, c.spec(tenant, r.Goplugin, []byte(r.Goplugin), r.Config))
		if err != nil {
			return nil, fmt.Errorf("%w: go-plugin %s: %v", ErrBadBinding, r.Goplugin, err)
		}
		return p, nil
	}
	if r.Builtin != "" {
		if c.d.Builtins == nil {
			return nil, fmt.Errorf("%w: no built-ins", ErrBadBinding)
		}
		p, err := policy.Open(lctx, c.d.Builtins, c.spec(tenant, r.Builtin, []byte(r.Builtin), r.Config))
		if err != nil {
			return nil, fmt.Errorf("%w: built-in %s: %v", ErrBadBinding, r.Builtin, err)
		}
		return p, nil
	}
	var meta Policy
	var v Version
	err := c.d.DB.View(func(txn *badger.Txn) error {
		var err error
		if meta, err = policies.Get(txn, tenant, r.Policy); err != nil {
			return err
		}
		v, err = versions.Get(txn, tenant, r.Policy, vkey(meta.Active))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, r.Policy)
	}
	if err != nil {
		return nil, err
	}
	rt, err := c.runtime(v.Kind)
	if err != nil {
		return nil, err
	}
	cfg := v.Config
	if len(r.Config) > 0 {
		cfg = r.Config
	}
	p, err := policy.Open(lctx, rt, c.spec(tenant, r.Policy, v.Source, cfg))
	if err != nil {
		return nil, fmt.Errorf("%w: %s version %d: %v", ErrInvalid, r.Policy, v.Version, err)
	}
	return p, nil
}

func (c *Catalog) runtime(kind string) (policy.Runtime, error) {
	rt, ok := c.d.Runtimes[kind]
	if !ok {
		known := make([]string, 0, len(c.d.Runtimes))
		for k := range c.d.Runtimes {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("%w: %q (this gateway runs: %v)", ErrUnknownKind, kind, known)
	}
	return rt, nil
}

func (c *Catalog) spec(tenant, name string, src []byte, cfg json.RawMessage) policy.Spec {
	s := policy.Spec{Tenant: tenant, Name: name, Source: src, Config: cfg,
		Log: c.d.Logger.With("tenant", tenant, "policy", name)}
	if c.d.KV != nil {
		s.KV = c.d.KV.For(tenant)
	}
	return s
}
