package wasm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// firstCandidate is the default route of the tests: a trusted native rule.
type firstCandidate struct{}

func (firstCandidate) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	return policy.RouteDecision{Session: in.Candidates[0].Session}, nil
}

// allowAll and keepAll are the defaults of the other hooks.
type defaults struct{}

func (defaults) Failover(context.Context, policy.FailoverInput) (policy.FailoverDecision, error) {
	return policy.FailoverDecision{Action: policy.FailoverFail, Reason: "default"}, nil
}
func (defaults) Rate(context.Context, policy.RateInput) (policy.RateDecision, error) {
	return policy.RateDecision{Action: policy.RateReject, Reason: "default"}, nil
}

type failures struct {
	mu sync.Mutex
	fs []policy.Failure
}

func (f *failures) add(x policy.Failure) { f.mu.Lock(); f.fs = append(f.fs, x); f.mu.Unlock() }
func (f *failures) list() []policy.Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]policy.Failure(nil), f.fs...)
}

// chainOf binds module m alone in tenant's chain, with budget per call.
func chainOf(t *testing.T, tenant string, m []byte, budget time.Duration, threshold int) (*policy.Chain, *Plugin, *failures) {
	t.Helper()
	p := mustOpen(t, m, loadOpts{tenant: tenant})
	fs := &failures{}
	c, err := policy.NewChain(tenant, policy.ChainOptions{
		Defaults:  policy.Defaults{Route: firstCandidate{}, Failover: defaults{}, Rate: defaults{}},
		OnFailure: fs.add, BreakerThreshold: threshold,
	}, policy.Binding{Name: "module", Plugin: p, Timeout: budget})
	if err != nil {
		t.Fatal(err)
	}
	return c, p, fs
}

// Hostile guests, each answering s2 (or retry, or allow) if it ever returned normally.

func spin() *mod {
	m := guest(1)
	m.fn("wagate_route", tsPtrLen, tsI32, nil, opLoop, br(0), opEnd, i32Const(1))
	return m
}

func recursion() *mod {
	m := guest(1)
	// f calls itself forever: index 2 (after wagate_abi_version and wagate_alloc).
	f := m.fn("", tsI32, tsI32, nil, localGet(0), i32Const(1), opI32Add, call(2), i32Const(1), opI32Add)
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(0), call(f), opDrop, i32Const(1))
	return m
}

// memoryBomb grows memory a page at a time until memory.grow fails, then answers the
// memory's size in pages as a candidate index: a bad output naming the size reached.
func memoryBomb() *mod {
	m := guest(1)
	m.fn("wagate_route", tsPtrLen, tsI32, nil,
		opLoop, i32Const(1), opMemoryGrow, i32Const(-1), []byte{0x47}, brIf(0), opEnd, // i32.ne
		opMemorySize)
	return m
}

// bigGrow asks for 4 GiB at once and answers the size plus one, a bad output naming
// the size.
func bigGrow() *mod {
	m := guest(1)
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(65535), opMemoryGrow, opDrop, opMemorySize, i32Const(1), opI32Add)
	return m
}

func trap() *mod {
	m := guest(1)
	m.fn("wagate_route", tsPtrLen, tsI32, nil, opUnreachable)
	return m
}

func outOfBoundsLoad() *mod {
	m := guest(1)
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(-8), i32Load(0))
	return m
}

func divideByZero() *mod {
	m := guest(1)
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(1), i32Const(0), []byte{0x6d}) // i32.div_s
	return m
}

// allocReturning is a guest whose wagate_alloc returns ptr.
func allocReturning(ptr int32) *mod {
	m := &mod{memMin: 1}
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(ptr))
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(1))
	return m
}

func spinningAlloc() *mod {
	m := &mod{memMin: 1}
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, opLoop, br(0), opEnd, i32Const(inputAt))
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(1))
	return m
}

// logOutside calls log with a message outside memory.
func logOutside() *mod {
	m := &mod{memMin: 1}
	log := m.importFunc("wagate", "log", []byte{tI32, tI32, tI32}, tsNone)
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(inputAt))
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(1), i32Const(65530), i32Const(100), call(log), i32Const(1))
	return m
}

// kvOutside calls kv_get with an output buffer outside memory.
func kvOutside() *mod {
	m := &mod{memMin: 1}
	get := m.importFunc("wagate", "kv_get", []byte{tI32, tI32, tI32, tI32}, tsI32)
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(inputAt))
	m.dataAt(16, []byte("k"))
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(16), i32Const(1), i32Const(65000), i32Const(4096), call(get), opDrop, i32Const(1))
	return m
}

// procExit calls WASI's proc_exit(3).
func procExit() *mod {
	m := &mod{memMin: 1}
	exit := m.importFunc(wasiModule, "proc_exit", tsI32, tsNone)
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(inputAt))
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(3), call(exit), i32Const(1))
	return m
}

// TestHostile runs guests that try to escape their budget, their memory or the
// contract. Each must be stopped within its budget, its instance discarded, the failure
// reported with its reason, and the default route must answer (s1).
func TestHostile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      *mod
		reason policy.Reason
		msg    string // in the failure's error
		// slow: hitting the bound takes work that may pass the budget on a slow
		// machine (-race), so a timeout is accepted too.
		slow bool
		// late is how long past the budget the call may return (200ms when zero).
		late time.Duration
	}{
		{"infinite loop", spin(), policy.ReasonTimeout, "wagate_route", false, 0},
		{"spinning wagate_alloc", spinningAlloc(), policy.ReasonTimeout, "wagate_alloc", false, 0},
		// wazero grows a call's stack up to ~100 MB before it reports an overflow, and
		// when the deadline interrupts a deep stack it unwinds every frame to build the
		// error's trace: ~70ms and ~160 MiB of transient allocations here, or a few
		// hundred milliseconds past the budget, seconds under -race (docs/plugins.md
		// says so). The caller's goroutine waits; nothing else does.
		{"deep recursion", recursion(), policy.ReasonError, "stack overflow", true, 10 * time.Second},
		{"memory bomb", memoryBomb(), policy.ReasonBadOutput, "candidate index 256 of 2", true, 0},
		{"grow 4 GiB", bigGrow(), policy.ReasonBadOutput, "candidate index 2 of 2", false, 0},
		{"unreachable", trap(), policy.ReasonError, "unreachable", false, 0},
		{"out of bounds load", outOfBoundsLoad(), policy.ReasonError, "out of bounds memory access", false, 0},
		{"divide by zero", divideByZero(), policy.ReasonError, "integer divide by zero", false, 0},
		{"proc_exit", procExit(), policy.ReasonError, "exited with code 3", false, 0},
		{"index past the candidates", routeConst(2), policy.ReasonBadOutput, "candidate index 2 of 2", false, 0},
		{"guest error", routeConst(-7), policy.ReasonError, "reported error -7", false, 0},
		{"alloc returns 0", allocReturning(0), policy.ReasonError, "returned 0x0", false, 0},
		{"alloc unaligned", allocReturning(4097), policy.ReasonError, "8-byte aligned", false, 0},
		{"alloc outside memory", allocReturning(65528), policy.ReasonError, "outside memory", false, 0},
		{"alloc negative", allocReturning(-8), policy.ReasonError, "outside memory", false, 0},
		{"log outside memory", logOutside(), policy.ReasonError, "log: 100 bytes at 0xfffa are outside memory", false, 0},
		{"kv_get buffer outside memory", kvOutside(), policy.ReasonError, "kv_get: 4096 bytes at 0xfde8 are outside memory", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The guests that spin get the default budget; the others one that a loaded
			// machine cannot pass by accident, so that they fail for their own reason.
			budget := time.Second
			if tc.reason == policy.ReasonTimeout {
				budget = policy.DefaultTimeout
			}
			c, p, fs := chainOf(t, "acme", tc.m.bytes(), budget, 100)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			d := c.Route(ctx, policy.RouteInput{Candidates: twoCands})
			took := time.Since(start)
			runtime.ReadMemStats(&after)

			if d.Session != "s1" {
				t.Errorf("answer %q, want the default's s1", d.Session)
			}
			if tc.late == 0 {
				tc.late = 200 * time.Millisecond
			}
			if took > budget+tc.late {
				t.Errorf("took %s, budget %s", took, budget)
			}
			f := fs.list()
			if len(f) == 1 && tc.slow && f[0].Reason == policy.ReasonTimeout {
				tc.reason, tc.msg = policy.ReasonTimeout, "timed out"
			}
			if len(f) != 1 || f[0].Reason != tc.reason || f[0].Tenant != "acme" || f[0].Policy != "module" || f[0].Hook != policy.HookRoute {
				t.Fatalf("failures %+v, want one %s", f, tc.reason)
			}
			if !strings.Contains(f[0].Err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", f[0].Err, tc.msg)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
				t.Errorf("allocated %d MiB in one call", alloc>>20)
			}
			if n := len(f[0].Err.Error()); n > 1024 {
				t.Errorf("the failure's error is %d bytes long", n)
			}
			p.mu.Lock()
			live, idle := p.live, len(p.idle)
			p.mu.Unlock()
			if live != 0 || idle != 0 {
				t.Errorf("%d live and %d idle instances after the failure, want none", live, idle)
			}
			t.Logf("%s after %s, %d MiB allocated: %v", f[0].Reason, took.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20, f[0].Err)
		})
	}
}

// TestHostileResults: failover, rate and transform results that are out of shape or
// point outside memory fail as bad outputs; the defaults answer.
func TestHostileResults(t *testing.T) {
	const budget = time.Second
	for _, tc := range []struct {
		name                string
		failover, rate, trn int64
		msg                 string
	}{
		{"unknown actions", packed(9, 0), packed(7, 0), 0, "action"},
		{"payload with no opinion", packed(0, 5), packed(1, 5), 0, "payload"},
		{"delays out of range", packed(1, 86_400_001), packed(2, 0), 0, "delay"},
		{"reroute past the candidates", packed(2, 2), 0, 0, "candidate 2 of 2"},
		{"reasons outside memory", packed(3, 8<<32|0xfffff000), packed(3, 8<<32|65532), 0, "outside memory"},
		{"reasons too long", packed(3, 300<<32|512), packed(3, 257<<32|512), 0, "at most 256"},
		{"guest errors", -1, -2, -3, "reported error"},
		{"transform outside memory", 0, 0, 0x10000<<32 | 16, "outside memory"},
		{"transform output too large", 0, 0, 1024<<32 | 3<<20, "transform output"},
		{"transform pointer 0", 0, 0, 0<<32 | 10, "transform output"},
		{"transform not JSON", 0, 0, 512<<32 | 8, "transform output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, fs := chainOf(t, "acme", results(tc.failover, tc.rate, tc.trn).bytes(), budget, 100)
			fin := policy.FailoverInput{Session: twoCands[0], Attempt: 1, Candidates: twoCands}
			if tc.failover != 0 {
				if d := c.Failover(ctx, fin); d.Reason != "default" {
					t.Errorf("failover: %+v, want the default's", d)
				}
			}
			if tc.rate != 0 {
				if d := c.Rate(ctx, policy.RateInput{Session: twoCands[0]}); d.Reason != "default" {
					t.Errorf("rate: %+v, want the default's", d)
				}
			}
			if tc.trn != 0 {
				in := transformIn()
				if r := c.Transform(ctx, in); r.Drop || string(r.Event.Payload) != string(in.Event.Payload) {
					t.Errorf("transform: %+v, want the event unchanged", r)
				}
			}
			for _, f := range fs.list() {
				want := policy.ReasonBadOutput
				if tc.name == "guest errors" {
					want = policy.ReasonError
				}
				if f.Reason != want || !strings.Contains(f.Err.Error(), tc.msg) {
					t.Errorf("%s: %s %v; want %s saying %q", f.Hook, f.Reason, f.Err, want, tc.msg)
				}
			}
			if len(fs.list()) == 0 {
				t.Error("no failure reported")
			}
		})
	}
}

// TestHostileTenantIsolation: while tenant A's module spins on every call, tenant B's
// route calls keep getting B's own answers, quickly.
func TestHostileTenantIsolation(t *testing.T) {
	a, _, aFails := chainOf(t, "tenant-a", spin().bytes(), 20*time.Millisecond, 1_000_000)
	b, _, bFails := chainOf(t, "tenant-b", leastLoaded().bytes(), 500*time.Millisecond, 5)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var aCalls atomic.Int64
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := a.Route(ctx, policy.RouteInput{Candidates: twoCands}); d.Session != "s1" {
					t.Errorf("tenant A: %q, want its default", d.Session)
				}
				aCalls.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(aFails.list()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("tenant A never spun")
		}
		runtime.Gosched()
	}
	start := time.Now()
	for i := range 200 {
		if d := b.Route(ctx, policy.RouteInput{Candidates: twoCands}); d.Session != "s2" {
			t.Fatalf("tenant B call %d: %q, want its module's s2 (failures %+v)", i, d.Session, bFails.list())
		}
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if f := bFails.list(); len(f) != 0 {
		t.Errorf("tenant B failures: %+v", f)
	}
	fa := aFails.list()
	if len(fa) == 0 || int64(len(fa)) != aCalls.Load() {
		t.Errorf("tenant A: %d failures for %d calls, want all", len(fa), aCalls.Load())
	}
	for _, f := range fa {
		if f.Reason != policy.ReasonTimeout || f.Tenant != "tenant-a" {
			t.Fatalf("tenant A failure %+v", f)
		}
	}
	t.Logf("tenant B: 200 calls in %s while tenant A spun (%d calls)", took, aCalls.Load())
}

// TestBreakerDisablesSpinningModule: a module that always times out is disabled after
// the threshold, and then costs nothing.
func TestBreakerDisablesSpinningModule(t *testing.T) {
	c, _, fs := chainOf(t, "acme", spin().bytes(), 10*time.Millisecond, 3)
	for range 3 {
		c.Route(ctx, policy.RouteInput{Candidates: twoCands})
	}
	f := fs.list()
	if len(f) != 3 || !f[2].Disabled {
		t.Fatalf("failures %+v", f)
	}
	start := time.Now()
	for range 100 {
		if d := c.Route(ctx, policy.RouteInput{Candidates: twoCands}); d.Session != "s1" {
			t.Fatalf("%q", d.Session)
		}
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("100 calls with the policy disabled took %s", took)
	}
}

// TestCallerCancel: a call whose caller gives up is interrupted and not counted against
// the policy.
func TestCallerCancel(t *testing.T) {
	c, p, fs := chainOf(t, "acme", spin().bytes(), time.Minute, 1)
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if d := c.Route(cctx, policy.RouteInput{Candidates: twoCands}); d.Session != "s1" {
		t.Errorf("%q, want the default", d.Session)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %s after the caller cancelled", took)
	}
	if f := fs.list(); len(f) != 0 {
		t.Errorf("failures %+v", f)
	}
	_, err := p.Route(cctx, routeIn())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("direct call with a cancelled context: %v", err)
	}
}

func transformIn() policy.TransformInput {
	in := policy.TransformInput{}
	in.Event.ID, in.Event.Tenant, in.Event.Event, in.Event.Payload = "evt_1", "acme", "message", []byte(`{"x":0}`)
	return in
}

var _ = fmt.Sprint
