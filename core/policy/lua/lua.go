// Package lua is the Lua policy host: scripts (Lua 5.1, gopher-lua) implementing any of
// the hooks as global functions (see docs/plugins.md, "Lua").
//
// A script is parsed and compiled once, at Load, to a FunctionProto. Calls run on a pool
// of interpreter states per policy (at most MaxStates); each state is created by running
// the compiled script's top level and then configure(config), and serves one call at a
// time. A state is sandboxed:
//
//   - only the base, table, string and math libraries are opened, and from them every
//     function that reaches outside (print, load*, dofile, require, module, getfenv,
//     setfenv, collectgarbage, newproxy, string.dump) is removed;
//   - every call runs under a context deadline (L.SetContext): the VM looks at it every
//     256 instructions (vmctx.go), and the host's own long-running functions (patterns,
//     table.concat) check it every few thousand steps;
//   - the call stack, the value stack and every string a call can build are bounded
//     (Options), including the `..` operator, which Load compiles into a checked call.
//
// A state whose call raised an error, timed out or hit a limit is closed, never reused.
//
//	rt := lua.New(lua.Options{})
//	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "router", Source: script, KV: kv.For("acme")})
package lua

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/wagate/wagate/core/policy"
)

// Options bound the Lua host. Zero fields take the defaults shown.
type Options struct {
	// MaxStates bounds the interpreter states of one policy, hence its concurrent calls
	// (8). A call waits for a free state within its budget.
	MaxStates int
	// CallStackSize bounds the Lua call stack, in frames (128).
	CallStackSize int
	// RegistryMaxSize bounds the value stack, in slots (16384).
	RegistryMaxSize int
	// MaxString bounds one string built by a call, in bytes (1 MiB).
	MaxString int
	// MaxCallAlloc bounds the bytes of strings one call builds (16 MiB).
	MaxCallAlloc int
	// MaxScriptSize bounds a script's source, in bytes (64 KiB).
	MaxScriptSize int
	// CallTimeout is the budget of a call whose context has no deadline (20ms). The
	// chain always gives one; this protects direct callers.
	CallTimeout time.Duration
	// InitTimeout bounds running a new state's top level and configure (1s).
	InitTimeout time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxStates, 8)
	def(&o.CallStackSize, 128)
	def(&o.RegistryMaxSize, 1<<14)
	def(&o.MaxString, 1<<20)
	def(&o.MaxCallAlloc, 16<<20)
	def(&o.MaxScriptSize, 64<<10)
	if o.CallTimeout <= 0 {
		o.CallTimeout = 20 * time.Millisecond
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = time.Second
	}
	return o
}

// Runtime loads Lua policies.
type Runtime struct {
	o Options
}

// New returns a Lua runtime bounded by o.
func New(o Options) *Runtime { return &Runtime{o: o.withDefaults()} }

// Name is "lua".
func (*Runtime) Name() string { return "lua" }

// Load compiles spec.Source and runs it once in a throw-away state to learn which hooks
// it defines.
func (r *Runtime) Load(ctx context.Context, spec policy.Spec) (policy.Plugin, error) {
	if len(spec.Source) > r.o.MaxScriptSize {
		return nil, fmt.Errorf("script of %d bytes (at most %d)", len(spec.Source), r.o.MaxScriptSize)
	}
	chunk, err := parse.Parse(bytes.NewReader(spec.Source), spec.Name)
	if err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	proto, err := lua.Compile(rewriteConcat(chunk), spec.Name)
	if err != nil {
		return nil, fmt.Errorf("compiling: %w", err)
	}
	p := &Plugin{rt: r, proto: proto, ownStores: ownStoresOnly(proto), kv: policy.KVOf(spec), log: spec.Log,
		sem: make(chan struct{}, r.o.MaxStates)}
	if p.log != nil {
		p.log = p.log.With("tenant", spec.Tenant, "policy", spec.Name)
	}
	ictx, cancel := context.WithTimeout(ctx, r.o.InitTimeout)
	defer cancel()
	st, err := p.newState(ictx)
	if err != nil {
		return nil, fmt.Errorf("running the script: %w", err)
	}
	for _, h := range policy.AllHooks {
		if st.hooks[h] != nil {
			p.hooks |= policy.HooksOf(h)
		}
	}
	p.hasConfigure = st.L.GetGlobal("configure").Type() == lua.LTFunction
	st.L.Close()
	return p, nil
}

// Plugin is a loaded Lua policy. Safe for concurrent use.
type Plugin struct {
	rt           *Runtime
	proto        *lua.FunctionProto
	ownStores    bool // the script's bytecode stores only into tables it creates (purity.go)
	hooks        policy.Hooks
	hasConfigure bool
	config       json.RawMessage
	kv           policy.KV
	log          *slog.Logger

	sem    chan struct{} // a slot per live state
	mu     sync.Mutex
	idle   []*state
	closed bool
}

// Info implements policy.Plugin: the hooks are the global functions the script defines.
func (p *Plugin) Info() policy.Info {
	return policy.Info{ABIVersion: policy.ABIVersion, Hooks: p.hooks}
}

// Configure keeps config for every state and creates the first state with it, so that a
// script whose configure raises an error is refused now. A configuration other than {}
// for a script without configure() is refused too.
func (p *Plugin) Configure(ctx context.Context, config json.RawMessage) error {
	if !p.hasConfigure {
		var m map[string]any
		if err := json.Unmarshal(config, &m); err != nil || len(m) != 0 {
			return fmt.Errorf("%w: the script has no configure() for configuration %s", policy.ErrBadConfig, config)
		}
	}
	p.config = config
	ictx, cancel := context.WithTimeout(ctx, p.rt.o.InitTimeout)
	defer cancel()
	st, err := p.newState(ictx)
	if err != nil {
		return err
	}
	p.sem <- struct{}{}
	p.release(st, true)
	return nil
}

// Close closes the idle states; states in use are closed when their call returns, and
// later calls fail with policy.ErrClosed.
func (p *Plugin) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, st := range p.idle {
		st.L.Close()
	}
	p.idle = nil
	return nil
}

// acquire takes a state, creating one (within ctx) when none is idle.
func (p *Plugin) acquire(ctx context.Context) (*state, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, policy.TimeoutError(ctx, "waiting for a free interpreter")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, policy.ErrClosed
	}
	if n := len(p.idle); n > 0 {
		st := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return st, nil
	}
	p.mu.Unlock()
	st, err := p.newState(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return st, nil
}

// release returns st to the pool when keep is set, else closes it.
func (p *Plugin) release(st *state, keep bool) {
	if keep {
		st.L.SetTop(0)
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, st)
			st = nil
		}
		p.mu.Unlock()
	}
	if st != nil {
		st.L.Close()
	}
	<-p.sem
}

// call runs hook h on a pooled state: push pushes the arguments and returns how many,
// out reads the result. A state whose call failed is discarded; a bad output does not
// harm the state, which is kept.
func (p *Plugin) call(ctx context.Context, h policy.Hook, now time.Time,
	push func(st *state) (int, error), out func(st *state, v lua.LValue) error) error {
	if !p.hooks.Has(h) {
		return fmt.Errorf("%w: %s", policy.ErrNotImplemented, h)
	}
	ctx, cancel := policy.WithBudget(ctx, p.rt.o.CallTimeout)
	defer cancel()
	st, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	keep := false
	defer func() { p.release(st, keep) }()
	st.begin(ctx, int64(millis(now)))
	defer st.end()
	L := st.L
	L.Push(st.hooks[h])
	n, err := push(st)
	if err != nil {
		keep = true
		return err
	}
	if err := L.PCall(n, 1, nil); err != nil {
		return st.callError(err)
	}
	v := L.Get(-1)
	L.Pop(1)
	err = out(st, v)
	keep = st.ctx.Err() == nil
	return err
}

// Route calls the script's route(msg, candidates).
func (p *Plugin) Route(ctx context.Context, in policy.RouteInput) (d policy.RouteDecision, err error) {
	err = p.call(ctx, policy.HookRoute, in.Now, func(st *state) (int, error) {
		st.L.Push(st.messageTable(&in.Message))
		st.L.Push(st.candidatesTable(in.Candidates))
		return 2, nil
	}, func(_ *state, v lua.LValue) (err error) {
		d, err = routeResult(v)
		return err
	})
	return d, err
}

// Failover calls the script's failover(msg, err, attempt, candidates, session).
func (p *Plugin) Failover(ctx context.Context, in policy.FailoverInput) (d policy.FailoverDecision, err error) {
	err = p.call(ctx, policy.HookFailover, in.Now, func(st *state) (int, error) {
		st.L.Push(st.messageTable(&in.Message))
		st.L.Push(st.errorTable(&in.Error))
		st.L.Push(lua.LNumber(in.Attempt))
		st.L.Push(st.candidatesTable(in.Candidates))
		st.L.Push(st.candidateTable(&in.Session))
		return 5, nil
	}, func(_ *state, v lua.LValue) (err error) {
		d, err = failoverResult(v)
		return err
	})
	return d, err
}

// Rate calls the script's rate(msg, session).
func (p *Plugin) Rate(ctx context.Context, in policy.RateInput) (d policy.RateDecision, err error) {
	err = p.call(ctx, policy.HookRate, in.Now, func(st *state) (int, error) {
		st.L.Push(st.messageTable(&in.Message))
		st.L.Push(st.candidateTable(&in.Session))
		return 2, nil
	}, func(_ *state, v lua.LValue) (err error) {
		d, err = rateResult(v)
		return err
	})
	return d, err
}

// Transform calls the script's transform(event).
func (p *Plugin) Transform(ctx context.Context, in policy.TransformInput) (r policy.TransformResult, err error) {
	err = p.call(ctx, policy.HookTransform, in.Now, func(st *state) (int, error) {
		t, err := st.eventTable(&in.Event)
		if err != nil {
			return 0, err
		}
		st.L.Push(t)
		return 1, nil
	}, func(st *state, v lua.LValue) (err error) {
		r, err = st.transformResult(v)
		return err
	})
	return r, err
}

var (
	_ policy.Runtime       = (*Runtime)(nil)
	_ policy.Plugin        = (*Plugin)(nil)
	_ policy.RouteHook     = (*Plugin)(nil)
	_ policy.FailoverHook  = (*Plugin)(nil)
	_ policy.RateHook      = (*Plugin)(nil)
	_ policy.TransformHook = (*Plugin)(nil)
)
