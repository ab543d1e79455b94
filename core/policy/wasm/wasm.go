// Package wasm is the WASM policy host: WebAssembly modules implementing any of the hooks
// through the binary ABI v1 of docs/plugins.md ("WASM ABI v1"), run by wazero.
//
// A module is validated and compiled once, at Load: its imports must be the wagate host
// functions and a small subset of WASI preview1 (no files, no sockets), its exports those
// the ABI requires. Compiled code is kept in a compilation cache shared by every tenant
// (on disk under Options.CacheDir, so a restart does not compile again). Calls run on a
// pool of instances per plugin, that is per (tenant, module, configuration), at most
// Options.MaxInstances; an instance serves one call at a time and is discarded after any
// failure (a trap, a timeout, a bad result). Each tenant has a wazero runtime of its
// own, so a tenant's modules and instances are invisible to other tenants, and every
// runtime:
//
//   - interrupts a guest when its call's context is done (a check at every function
//     entry and loop header, added to the module before it is compiled: interrupt.go):
//     a spinning guest costs its call's budget, never the process;
//   - bounds each instance's linear memory to Options.MemoryPages (memory.grow fails
//     beyond);
//   - offers the host module wagate (log, now_ms, kv_get, kv_set) acting on the calling
//     instance's policy only: its tenant's KV (policy.Spec.KV), its log, its call's time.
//
// Usage:
//
//	rt := wasm.New(wasm.Options{CacheDir: filepath.Join(dataDir, "wasm-cache")})
//	defer rt.Close() // after the chains holding its plugins are closed
//	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "router", Source: module, KV: kv.For("acme")})
package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wagate/wagate/core/policy"
)

// Options bound the WASM host. Zero fields take the defaults shown.
type Options struct {
	// CacheDir is the directory of the compilation cache, created if missing; the
	// gateway passes <data dir>/wasm-cache. Empty keeps compiled code in memory only.
	// The directory belongs to the gateway: nothing else may write there.
	CacheDir string
	// MemoryPages bounds the linear memory of an instance, in 64 KiB pages (256 =
	// 16 MiB). A module whose initial memory is larger is refused at load; memory.grow
	// beyond fails (returns -1).
	MemoryPages uint32
	// MaxInstances bounds the instances of one plugin, hence its concurrent calls (4). A
	// call waits for a free instance within its budget.
	MaxInstances int
	// MaxModuleSize bounds a module, in bytes (32 MiB).
	MaxModuleSize int
	// CallTimeout is the budget of a call whose context has no deadline (20ms). The
	// chain always gives one; this protects direct callers.
	CallTimeout time.Duration
	// InitTimeout bounds creating the instances of Load and Configure: instantiation,
	// _initialize, wagate_abi_version, wagate_hooks and wagate_configure (1s). An
	// instance created for a call is created within the call's budget.
	InitTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MemoryPages == 0 {
		o.MemoryPages = 256
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = 4
	}
	if o.MaxModuleSize <= 0 {
		o.MaxModuleSize = 32 << 20
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 20 * time.Millisecond
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = time.Second
	}
	return o
}

// Runtime loads WASM policies. Safe for concurrent use.
type Runtime struct {
	o       Options
	mu      sync.Mutex
	cache   wazero.CompilationCache // created at the first Load
	tenants map[string]*tenant
	closed  bool
}

// New returns a WASM runtime bounded by o. It acquires nothing: the compilation cache
// (and its directory) is created at the first Load.
func New(o Options) *Runtime {
	return &Runtime{o: o.withDefaults(), tenants: make(map[string]*tenant)}
}

// Name is "wasm".
func (*Runtime) Name() string { return "wasm" }

// Close closes every tenant's wazero runtime and the compilation cache. Close the
// chains holding the runtime's plugins first: calls made after Close fail.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	ctx := context.Background()
	for name, t := range r.tenants {
		_ = t.r.Close(ctx)
		delete(r.tenants, name)
	}
	if r.cache != nil {
		return r.cache.Close(ctx)
	}
	return nil
}

// tenant is one tenant's wazero runtime, shared by the tenant's plugins.
type tenant struct {
	name string
	r    wazero.Runtime
	refs int // plugins holding it; guarded by Runtime.mu
	seq  atomic.Uint64

	mu        sync.RWMutex
	instances map[string]*instance // by module name, for the host functions
}

// acquireTenant returns name's runtime, creating it (and the cache) if needed, and holds
// it until releaseTenant.
func (r *Runtime) acquireTenant(name string) (*tenant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	ctx := context.Background()
	if r.cache == nil {
		if r.o.CacheDir == "" {
			r.cache = wazero.NewCompilationCache()
		} else {
			c, err := wazero.NewCompilationCacheWithDir(r.o.CacheDir)
			if err != nil {
				return nil, fmt.Errorf("compilation cache: %w", err)
			}
			r.cache = c
		}
	}
	if t, ok := r.tenants[name]; ok {
		t.refs++
		return t, nil
	}
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(r.cache).
		WithMemoryLimitPages(r.o.MemoryPages)
	t := &tenant{name: name, r: wazero.NewRuntimeWithConfig(ctx, cfg), refs: 1, instances: make(map[string]*instance)}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, t.r); err != nil {
		_ = t.r.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := t.instantiateHost(ctx); err != nil {
		_ = t.r.Close(ctx)
		return nil, fmt.Errorf("instantiating the wagate module: %w", err)
	}
	r.tenants[name] = t
	return t, nil
}

// releaseTenant lets go of t; the last release closes its runtime.
func (r *Runtime) releaseTenant(t *tenant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t.refs--; t.refs > 0 || r.tenants[t.name] != t {
		return
	}
	delete(r.tenants, t.name)
	_ = t.r.Close(context.Background())
}

func (t *tenant) register(in *instance) {
	t.mu.Lock()
	t.instances[in.name] = in
	t.mu.Unlock()
}

func (t *tenant) unregister(in *instance) {
	t.mu.Lock()
	delete(t.instances, in.name)
	t.mu.Unlock()
}

// caller returns the instance a host function was called by. Only the tenant's own
// instances can call the tenant's host module.
func (t *tenant) caller(mod interface{ Name() string }) *instance {
	t.mu.RLock()
	in := t.instances[mod.Name()]
	t.mu.RUnlock()
	if in == nil {
		panic(fmt.Errorf("host function called by unknown module %q", mod.Name()))
	}
	return in
}

// Load validates spec.Source (imports, exports), compiles it in the tenant's runtime and
// creates a first instance, which answers wagate_abi_version and wagate_hooks and is
// configured by Configure.
func (r *Runtime) Load(ctx context.Context, spec policy.Spec) (policy.Plugin, error) {
	if len(spec.Source) > r.o.MaxModuleSize {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrModuleSize, len(spec.Source), r.o.MaxModuleSize)
	}
	if err := checkImports(spec.Source); err != nil {
		return nil, err
	}
	t, err := r.acquireTenant(spec.Tenant)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(spec.Source)
	p := &Plugin{rt: r, t: t, name: spec.Name, version: hex.EncodeToString(sum[:6]), kv: policy.KVOf(spec),
		sem: make(chan struct{}, r.o.MaxInstances)}
	if spec.Log != nil {
		p.log = spec.Log.With("tenant", spec.Tenant, "policy", spec.Name, "module", p.version)
	}
	ok := false
	defer func() {
		if !ok {
			p.free()
		}
	}()
	src, err := instrument(spec.Source)
	if err != nil {
		if _, cerr := t.r.CompileModule(ctx, spec.Source); cerr != nil { // wazero says why better
			return nil, fmt.Errorf("compiling: %s", policy.Clip(cerr.Error(), 512))
		}
		return nil, err
	}
	if p.compiled, err = t.r.CompileModule(ctx, src); err != nil {
		return nil, fmt.Errorf("compiling: %s", policy.Clip(err.Error(), 512))
	}
	if err := checkSignatures(t.r, p.compiled); err != nil {
		return nil, err
	}
	if p.ex, err = checkExports(p.compiled); err != nil {
		return nil, err
	}
	ictx, cancel := context.WithTimeout(ctx, r.o.InitTimeout)
	defer cancel()
	in, err := p.newInstance(ictx)
	if err != nil {
		return nil, err
	}
	p.live = 1
	if err := p.probe(ictx, in); err != nil {
		p.discard(in)
		return nil, err
	}
	p.first = in
	ok = true
	return p, nil
}

var _ policy.Runtime = (*Runtime)(nil)
