package wasm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wagate/wagate/core/policy"
)

// maxKeptInput is the largest input buffer an instance keeps between calls.
const maxKeptInput = 64 << 10

// instance is one instantiation of a plugin's module. It serves one call at a time and
// is discarded after any failure.
type instance struct {
	p     *Plugin
	name  string // the module name in the tenant's runtime, unique
	mod   api.Module
	mem   api.Memory
	alloc api.Function
	conf  api.Function // nil without wagate_configure
	hooks [policy.HookTransform + 1]api.Function
	stack [2]uint64
	buf   []byte // the input, encoded
	// reuse: the module lets the host write an input over the buffer of the last
	// wagate_alloc when it fits (wagate_input_reuse, ABI v1.1): inPtr and inCap are that
	// buffer, inCap 0 before the first.
	reuse        bool
	inPtr, inCap uint32
	out          [2]logWriter
	intr         api.MutableGlobal // interruptExport: 1 stops the guest at its next check
	stop         func()            // sets intr; armed with context.AfterFunc
	// disarm stops the watch armed by watch; nil outside one.
	disarm func() bool

	// Per call.
	ctx  context.Context
	now  int64 // the call's time, Unix ms; 0 outside calls (the host clock then)
	logs int
}

// newInstance instantiates the plugin's module under ctx, runs _initialize and, once
// the plugin is configured, wagate_configure.
func (p *Plugin) newInstance(ctx context.Context) (_ *instance, err error) {
	in := &instance{p: p, name: fmt.Sprintf("%s#%d", p.name, p.t.seq.Add(1))}
	in.out[0] = logWriter{in: in, level: slog.LevelInfo}
	in.out[1] = logWriter{in: in, level: slog.LevelWarn}
	p.t.register(in)
	in.begin(ctx, 0)
	defer in.end()
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	cfg := wazero.NewModuleConfig().WithName(in.name).WithStartFunctions().
		WithStdout(&in.out[0]).WithStderr(&in.out[1]).
		WithWalltime(in.walltime, sys.ClockResolution(time.Millisecond)).WithSysNanotime().
		WithRandSource(rand.Reader)
	in.mod, err = p.t.r.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		in.mod = nil // a typed nil would not compare equal to nil
		return nil, in.callError(ctx, "instantiating", err)
	}
	in.mem = in.mod.Memory()
	g, ok := in.mod.ExportedGlobal(interruptExport).(api.MutableGlobal)
	if !ok {
		return nil, fmt.Errorf("wasm: the module has no %s global", interruptExport) // instrument adds it
	}
	in.intr = g
	in.stop = func() { g.Set(1) }
	if start := in.mod.ExportedFunction(startExport); start != nil {
		if _, err := in.call(ctx, "instantiating", start, 0, 0); err != nil {
			return nil, err
		}
	}
	in.alloc = in.mod.ExportedFunction(exportAlloc)
	if p.ex.hasConfigure {
		in.conf = in.mod.ExportedFunction(exportConfigure)
	}
	for _, h := range policy.AllHooks {
		if p.ex.hooks.Has(h) {
			in.hooks[h] = in.mod.ExportedFunction(hookExports[h].name)
		}
	}
	if p.ex.hasInit {
		if _, err := in.call(ctx, exportInitialize, in.mod.ExportedFunction(exportInitialize), 0, 0); err != nil {
			return nil, err
		}
	}
	if p.ex.hasReuse {
		r, err := in.call(ctx, exportReuse, in.mod.ExportedFunction(exportReuse), 0, 0)
		if err != nil {
			return nil, err
		}
		switch v := int32(uint32(r)); v {
		case 0, 1:
			in.reuse = v == 1
		default:
			return nil, fmt.Errorf("%w: %s returned %d (want 0 or 1)", ErrExport, exportReuse, v)
		}
	}
	if p.config != nil {
		if err := in.configure(ctx, p.config); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// configure hands the configuration to wagate_configure; a module without it accepts
// only "{}" (checked by Plugin.Configure).
func (in *instance) configure(ctx context.Context, config []byte) error {
	if in.conf == nil {
		return nil
	}
	ptr, err := in.send(ctx, config)
	if err != nil {
		return err
	}
	r, err := in.call(ctx, exportConfigure, in.conf, uint64(ptr), uint64(len(config)))
	if err != nil {
		return err
	}
	if code := int32(uint32(r)); code != 0 {
		return fmt.Errorf("%w: wagate_configure returned %d", policy.ErrBadConfig, code)
	}
	return nil
}

// call calls fn with up to two parameters and returns its first result. The call is
// interrupted when ctx is done (interrupt.go), by the watch of the hook call (watch)
// or, outside one, by a watch of its own. An interrupted call fails, even one that
// returned first, since the instance would stop at its next check: the caller discards
// the instance after any failure.
func (in *instance) call(ctx context.Context, what string, fn api.Function, a, b uint64) (uint64, error) {
	if ctx.Err() != nil {
		return 0, in.doneError(ctx, what)
	}
	in.stack[0], in.stack[1] = a, b
	var err error
	if in.disarm != nil {
		err = fn.CallWithStack(ctx, in.stack[:])
		if ctx.Err() != nil { // the watch fired, or will
			return 0, in.doneError(ctx, what)
		}
	} else {
		disarm := context.AfterFunc(ctx, in.stop)
		err = fn.CallWithStack(ctx, in.stack[:])
		if !disarm() { // the context was done during the call: intr is (being) set
			return 0, in.doneError(ctx, what)
		}
	}
	if err != nil {
		return 0, in.callError(ctx, what, err)
	}
	return in.stack[0], nil
}

// watch arms one interruption watch for the calls of a hook (wagate_alloc and the
// hook) until unwatch, which reports whether it fired.
func (in *instance) watch(ctx context.Context) { in.disarm = context.AfterFunc(ctx, in.stop) }

func (in *instance) unwatch() (fired bool) {
	fired = !in.disarm()
	in.disarm = nil
	return fired
}

// doneError is the error of a call whose context is done: a timeout when its deadline
// passed, the caller's own cancellation as it is.
func (in *instance) doneError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return policy.Timeout(what)
	}
	return fmt.Errorf("wasm: %s: %w", what, ctx.Err())
}

// minReusedInput is the least a host asks of wagate_alloc for a module that lets it
// reuse the buffer: inputs of a few candidates then never call wagate_alloc again.
const minReusedInput = 4 << 10

// send writes b into the guest's memory: over the buffer of the last wagate_alloc when
// the module allows it (reuse) and b fits, else into a buffer wagate_alloc returns.
// For a module allowing reuse, the size asked is len(b) rounded up to a power of two
// (at least minReusedInput), so that inputs growing a little do not each call it.
func (in *instance) send(ctx context.Context, b []byte) (uint32, error) {
	if in.reuse && in.inCap != 0 && len(b) <= int(in.inCap) {
		if !in.mem.Write(in.inPtr, b) {
			return 0, fmt.Errorf("wasm: the input buffer at %#x is outside memory (%d bytes)", in.inPtr, in.mem.Size())
		}
		return in.inPtr, nil
	}
	size := len(b)
	if in.reuse {
		size = max(minReusedInput, 1<<bits.Len(uint(len(b)-1)))
		if len(b) == 0 {
			size = minReusedInput
		}
	}
	r, err := in.call(ctx, exportAlloc, in.alloc, uint64(size), 0)
	if err != nil {
		return 0, err
	}
	ptr := uint32(r)
	if ptr == 0 || ptr%8 != 0 {
		return 0, fmt.Errorf("wasm: wagate_alloc(%d) returned %#x (want a non-zero pointer, 8-byte aligned)", size, ptr)
	}
	if uint64(ptr)+uint64(size) > uint64(in.mem.Size()) || !in.mem.Write(ptr, b) {
		return 0, fmt.Errorf("wasm: wagate_alloc(%d) returned %#x: outside memory (%d bytes)", size, ptr, in.mem.Size())
	}
	if in.reuse {
		in.inPtr, in.inCap = ptr, uint32(size)
	}
	return ptr, nil
}

// callError turns the error of a call into the contract's: a timeout when the call's
// deadline passed (the caller's own cancellation passes through), an exit of the guest
// (proc_exit, a Go guest's panic), or a trap.
func (in *instance) callError(ctx context.Context, what string, err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return policy.Timeout(what)
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("wasm: %s: %w", what, context.Canceled)
		}
		return fmt.Errorf("wasm: %s: the guest exited with code %d", what, exit.ExitCode())
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return policy.Timeout(what)
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " | ")
	return fmt.Errorf("wasm: %s: %s", what, policy.Clip(msg, 512))
}

// begin prepares a call under ctx at time now (Unix ms; 0: the clock).
func (in *instance) begin(ctx context.Context, now int64) {
	in.ctx, in.now, in.logs = ctx, now, 0
}

// end flushes what the guest printed and forgets the call.
func (in *instance) end() {
	in.out[0].flush()
	in.out[1].flush()
	in.ctx, in.now = nil, 0
	if cap(in.buf) > maxKeptInput {
		in.buf = nil
	}
}

func (in *instance) nowMillis() int64 {
	if in.now != 0 {
		return in.now
	}
	return time.Now().UnixMilli()
}

func (in *instance) callCtx() context.Context {
	if in.ctx != nil {
		return in.ctx
	}
	return context.Background()
}

// close closes the module (a timed-out one is already closed) and forgets the instance.
func (in *instance) close() {
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
	}
	in.p.t.unregister(in)
}
