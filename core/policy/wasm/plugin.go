package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wagate/wagate/core/policy"
)

// Plugin is a loaded WASM policy: one module of one tenant with one configuration, and
// its pool of instances. Safe for concurrent use.
type Plugin struct {
	rt       *Runtime
	t        *tenant
	name     string
	version  string // the module's sha256, 12 hex digits (the "module" attribute of logs)
	compiled wazero.CompiledModule
	ex       exports
	abi      int
	hooks    policy.Hooks
	config   []byte // nil until Configure
	kv       policy.KV
	log      *slog.Logger

	sem      chan struct{} // a slot per instance in use or being created
	mu       sync.Mutex
	idle     []*instance
	first    *instance // Load's instance, waiting for Configure
	live     int       // instances alive: idle, in use, being created
	closed   bool
	freeOnce sync.Once
}

// probe asks a new instance for the ABI version and, if the module says, its hooks.
func (p *Plugin) probe(ctx context.Context, in *instance) error {
	v, err := in.call(ctx, exportABIVersion, in.mod.ExportedFunction(exportABIVersion), 0, 0)
	if err != nil {
		return err
	}
	p.abi, p.hooks = int(int32(uint32(v))), p.ex.hooks
	if p.abi != policy.ABIVersion || !p.ex.hasHooks {
		return nil // policy.Open refuses another version
	}
	v, err = in.call(ctx, exportHooks, in.mod.ExportedFunction(exportHooks), 0, 0)
	if err != nil {
		return err
	}
	mask := uint32(v)
	if mask&^0xF != 0 {
		return fmt.Errorf("%w: wagate_hooks returned %#x (bits 0..3: route, failover, rate, transform)", ErrExport, mask)
	}
	hooks := policy.Hooks(mask)
	for _, h := range policy.AllHooks {
		if hooks.Has(h) && !p.ex.hooks.Has(h) {
			return fmt.Errorf("%w: wagate_hooks lists %s, but %s is not exported", ErrExport, h, hookExports[h].name)
		}
	}
	p.hooks = hooks
	return nil
}

// Info implements policy.Plugin: the hooks are the wagate_<hook> functions the module
// exports, narrowed by wagate_hooks when it exports that.
func (p *Plugin) Info() policy.Info { return policy.Info{ABIVersion: p.abi, Hooks: p.hooks} }

// Configure keeps config for every instance and configures Load's instance with it, so
// that a module refusing its configuration is refused now. A configuration other than
// {} for a module without wagate_configure is refused too.
func (p *Plugin) Configure(ctx context.Context, config json.RawMessage) error {
	if !p.ex.hasConfigure {
		var m map[string]any
		if err := json.Unmarshal(config, &m); err != nil || len(m) != 0 {
			return fmt.Errorf("%w: the module has no wagate_configure for configuration %s", policy.ErrBadConfig, policy.Clip(string(config), 128))
		}
	}
	p.mu.Lock()
	p.config = bytes.Clone(config)
	if p.config == nil {
		p.config = []byte("{}")
	}
	in := p.first
	p.first = nil
	p.mu.Unlock()

	ictx, cancel := context.WithTimeout(ctx, p.rt.o.InitTimeout)
	defer cancel()
	var err error
	if in == nil { // configured twice
		p.mu.Lock()
		p.live++
		p.mu.Unlock()
		in, err = p.newInstance(ictx)
		if err != nil {
			p.lost()
			return err
		}
	} else {
		in.begin(ictx, 0)
		err = in.configure(ictx, p.config)
		in.end()
		if err != nil {
			p.discard(in)
			return err
		}
	}
	p.sem <- struct{}{}
	p.release(in, true)
	return nil
}

// Close closes the idle instances; instances in use are closed when their call returns,
// and later calls fail with policy.ErrClosed. The tenant's runtime is let go with the
// last instance.
func (p *Plugin) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	idle := p.idle
	if p.first != nil {
		idle = append(idle, p.first)
	}
	p.idle, p.first = nil, nil
	none := p.live == 0
	p.mu.Unlock()
	for _, in := range idle {
		p.discard(in)
	}
	if none {
		p.free()
	}
	return nil
}

// free releases the compiled module and the tenant's runtime, once.
func (p *Plugin) free() {
	p.freeOnce.Do(func() {
		if p.compiled != nil {
			_ = p.compiled.Close(context.Background())
		}
		p.rt.releaseTenant(p.t)
	})
}

// discard closes an instance that is no longer usable.
func (p *Plugin) discard(in *instance) {
	in.close()
	p.lost()
}

// lost counts an instance gone, freeing the plugin after Close with the last one.
func (p *Plugin) lost() {
	p.mu.Lock()
	p.live--
	last := p.closed && p.live == 0
	p.mu.Unlock()
	if last {
		p.free()
	}
}

// acquire takes an idle instance, or creates one within ctx.
func (p *Plugin) acquire(ctx context.Context) (*instance, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, policy.TimeoutError(ctx, "waiting for a free instance")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, policy.ErrClosed
	}
	if n := len(p.idle); n > 0 {
		in := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.live++
	p.mu.Unlock()
	in, err := p.newInstance(ctx)
	if err != nil {
		p.lost()
		<-p.sem
		return nil, err
	}
	return in, nil
}

// release returns in to the pool when keep is set (and the plugin is open), else
// discards it.
func (p *Plugin) release(in *instance, keep bool) {
	if keep {
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, in)
			in = nil
		}
		p.mu.Unlock()
	}
	if in != nil {
		p.discard(in)
	}
	<-p.sem
}

// run makes one hook call on a pooled instance, following the ABI's calling sequence:
// encode the input, wagate_alloc, write it, call the hook, decode its result (reading
// the guest's memory before anything else runs in it). An instance whose call failed in
// any way is discarded.
func (p *Plugin) run(ctx context.Context, h policy.Hook, now time.Time,
	encode func(dst []byte) ([]byte, error), decode func(in *instance, r uint64) error) error {
	if !p.hooks.Has(h) {
		return fmt.Errorf("%w: %s", policy.ErrNotImplemented, h)
	}
	ctx, cancel := policy.WithBudget(ctx, p.rt.o.CallTimeout)
	defer cancel()
	in, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	keep := false
	defer func() { p.release(in, keep) }()
	var ms int64
	if !now.IsZero() {
		ms = now.UnixMilli()
	}
	in.begin(ctx, ms)
	defer in.end()
	input, err := encode(in.buf[:0])
	in.buf = input
	if err != nil {
		keep = true
		return err
	}
	in.watch(ctx)
	ptr, err := in.send(ctx, input)
	var r uint64
	if err == nil {
		r, err = in.call(ctx, hookExports[h].name, in.hooks[h], uint64(ptr), uint64(len(input)))
	}
	if in.unwatch() && err == nil { // intr is (being) set: the instance is done
		err = in.doneError(ctx, hookExports[h].name)
	}
	if err != nil {
		return err
	}
	if err := decode(in, r); err != nil {
		return err
	}
	keep = ctx.Err() == nil
	return nil
}

// Route calls wagate_route.
func (p *Plugin) Route(ctx context.Context, in policy.RouteInput) (d policy.RouteDecision, err error) {
	err = p.run(ctx, policy.HookRoute, in.Now, func(b []byte) ([]byte, error) {
		return policy.AppendRouteInput(b, &in), nil
	}, func(_ *instance, r uint64) (err error) {
		d, err = policy.DecodeRouteResult(int32(uint32(r)), &in)
		return err
	})
	return d, err
}

// Failover calls wagate_failover.
func (p *Plugin) Failover(ctx context.Context, in policy.FailoverInput) (d policy.FailoverDecision, err error) {
	err = p.run(ctx, policy.HookFailover, in.Now, func(b []byte) ([]byte, error) {
		return policy.AppendFailoverInput(b, &in), nil
	}, func(inst *instance, r uint64) (err error) {
		d, err = policy.DecodeFailoverResult(int64(r), &in, inst.mem)
		return err
	})
	return d, err
}

// Rate calls wagate_rate.
func (p *Plugin) Rate(ctx context.Context, in policy.RateInput) (d policy.RateDecision, err error) {
	err = p.run(ctx, policy.HookRate, in.Now, func(b []byte) ([]byte, error) {
		return policy.AppendRateInput(b, &in), nil
	}, func(inst *instance, r uint64) (err error) {
		d, err = policy.DecodeRateResult(int64(r), inst.mem)
		return err
	})
	return d, err
}

// Transform calls wagate_transform with the event's JSON.
func (p *Plugin) Transform(ctx context.Context, in policy.TransformInput) (res policy.TransformResult, err error) {
	err = p.run(ctx, policy.HookTransform, in.Now, func(b []byte) ([]byte, error) {
		return policy.AppendTransformInput(b, &in)
	}, func(inst *instance, r uint64) (err error) {
		res, err = policy.DecodeTransformResult(int64(r), inst.mem)
		return err
	})
	return res, err
}

var (
	_ policy.Plugin        = (*Plugin)(nil)
	_ policy.RouteHook     = (*Plugin)(nil)
	_ policy.FailoverHook  = (*Plugin)(nil)
	_ policy.RateHook      = (*Plugin)(nil)
	_ policy.TransformHook = (*Plugin)(nil)
)
