package lua

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
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

// chainOf binds the Lua route script src alone in tenant's chain, with budget per call.
func chainOf(t *testing.T, tenant, src string, budget time.Duration, threshold int) (*policy.Chain, *Plugin, *failures) {
	t.Helper()
	p, err := policy.Open(ctx, New(Options{}), policy.Spec{Tenant: tenant, Name: "script", Source: []byte(src),
		KV: policy.NewMemKV(policy.KVLimits{}).For(tenant)})
	if err != nil {
		t.Fatal(err)
	}
	fs := &failures{}
	c, err := policy.NewChain(tenant, policy.ChainOptions{Defaults: policy.Defaults{Route: firstCandidate{}},
		OnFailure: fs.add, BreakerThreshold: threshold}, policy.Binding{Name: "script", Plugin: p, Timeout: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, p.(*Plugin), fs
}

// TestHostile runs scripts that try to escape their budget or the sandbox. Each must be
// stopped within its budget, its state discarded, the failure reported, and the default
// route must answer (s1; the script would answer s2 if it ever returned normally).
func TestHostile(t *testing.T) {
	const budget = 20 * time.Millisecond
	pwned := filepath.Join(t.TempDir(), "pwned")
	for _, tc := range []struct {
		name   string
		body   string // body of route(m, cs)
		reason policy.Reason
		// slow: the work before the bound is hit may pass the budget on a slow machine
		// (-race), so a timeout is accepted too; TestLimits checks each bound itself.
		slow bool
	}{
		{"infinite loop", `while true do end`, policy.ReasonTimeout, false},
		{"loop swallowing errors", `while true do pcall(function() while true do end end) end`, policy.ReasonTimeout, false},
		{"deep recursion", `local function f(n) return 1 + f(n + 1) end return f(1)`, policy.ReasonError, true},
		{"metamethod recursion", `local t = setmetatable({}, {__index = function(t, k) return t[k] end}) return t.x`, policy.ReasonError, true},
		{"string.rep bomb", `local s = string.rep("x", 2^30)`, policy.ReasonError, true},
		{"concat doubling", `local s = "x" for i = 1, 64 do s = s .. s end`, policy.ReasonError, true},
		{"wide concat", `local s = string.rep("x", 1e6) local u = s .. s .. s .. s .. s .. s .. s .. s`, policy.ReasonError, true},
		{"many big strings", `local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 1e6) end`, policy.ReasonError, true},
		{"table growth", `local t, i = {}, 0 while true do i = i + 1 t[i] = {i} end`, policy.ReasonTimeout, false},
		{"gsub bomb", `string.gsub(string.rep("x", 1e5), "", string.rep("y", 1000))`, policy.ReasonError, true},
		{"gsub capture bomb", `string.gsub(string.rep("x", 3e5), "(x*)", "%1%1%1%1")`, policy.ReasonError, true},
		{"pattern backtracking", `string.find(string.rep("a", 5000), "a*a*a*a*a*b")`, policy.ReasonTimeout, false},
		{"gmatch on a long text", `for w in string.gmatch(string.rep("a", 1e6), "a*a*a*b") do end`, policy.ReasonTimeout, false},
		{"format width", `string.format("%099999999d", 1)`, policy.ReasonError, false},
		{"format many", `local s = string.rep("x", 1e6) string.format(string.rep("%s", 100), s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s)`, policy.ReasonError, true},
		{"table.concat bomb", `local s, t = string.rep("x", 1e6), {} for i = 1, 1000 do t[i] = s end table.concat(t)`, policy.ReasonError, true},
		{"unpack bomb", `unpack({}, 1, 1e8)`, policy.ReasonError, true},
		{"string.byte bomb", `string.byte(string.rep("x", 1e6), 1, -1)`, policy.ReasonError, true},
		{"error", `error("boom")`, policy.ReasonError, false},
		{"huge error", `error(string.rep("x", 1e6))`, policy.ReasonError, true},
		{"error object", `error(setmetatable({}, {__tostring = function() while true do end end}))`, policy.ReasonError, false},
		{"runtime error", `local x return x.y`, policy.ReasonError, false},
		{"wrong output shape", `return 42`, policy.ReasonBadOutput, false},
		{"huge output", `return {session = string.rep("x", 1e6)}`, policy.ReasonBadOutput, false},
		{"os.execute", `os.execute("touch ` + pwned + `")`, policy.ReasonError, false},
		{"io.open", `io.open("` + pwned + `", "w")`, policy.ReasonError, false},
		{"require", `require("os")`, policy.ReasonError, false},
		{"load", `load("return 1")`, policy.ReasonError, false},
		{"loadstring", `loadstring("return 1")()`, policy.ReasonError, false},
		{"dofile", `dofile("/etc/passwd")`, policy.ReasonError, false},
		{"loadfile", `loadfile("/etc/passwd")`, policy.ReasonError, false},
		{"debug", `debug.getinfo(1)`, policy.ReasonError, false},
		{"string.dump", `string.dump(route)`, policy.ReasonError, false},
		{"getfenv", `getfenv(0).os = nil`, policy.ReasonError, false},
		{"coroutine", `coroutine.wrap(function() end)()`, policy.ReasonError, false},
		{"collectgarbage", `collectgarbage("stop")`, policy.ReasonError, false},
		{"package", `package.loadlib("libc.so.6", "system")`, policy.ReasonError, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p, fs := chainOf(t, "acme", "function route(m, cs)\ndo\n"+tc.body+"\nend\nreturn cs[2]\nend", budget, 100)
			if len(p.idle) != 1 {
				t.Fatalf("%d idle states before the call, want 1", len(p.idle))
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			d := c.Route(ctx, policy.RouteInput{Candidates: twoCands})
			took := time.Since(start)
			runtime.ReadMemStats(&after)

			if d.Session != "s1" {
				t.Errorf("answer %q, want the default's s1", d.Session)
			}
			if took > budget+200*time.Millisecond {
				t.Errorf("took %s, budget %s", took, budget)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB in one call", alloc>>20)
			}
			f := fs.list()
			if len(f) == 1 && tc.slow && f[0].Reason == policy.ReasonTimeout {
				tc.reason = policy.ReasonTimeout
			}
			if len(f) != 1 || f[0].Reason != tc.reason || f[0].Tenant != "acme" || f[0].Policy != "script" || f[0].Hook != policy.HookRoute {
				t.Fatalf("failures %+v, want one %s", f, tc.reason)
			}
			wantIdle := 0 // a state that raised or timed out is discarded
			if tc.reason == policy.ReasonBadOutput {
				wantIdle = 1
			}
			if len(p.idle) != wantIdle {
				t.Errorf("%d idle states after the call, want %d", len(p.idle), wantIdle)
			}
			if n := len(f[0].Err.Error()); n > 1024 {
				t.Errorf("the failure's error is %d bytes long", n)
			}
			t.Logf("%s after %s, %d MiB allocated: %v", f[0].Reason, took.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20, f[0].Err)
		})
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a script created a file")
	}
}

// TestHostileTenantIsolation: while tenant A's script spins on every call, tenant B's
// route calls keep getting B's own answers.
func TestHostileTenantIsolation(t *testing.T) {
	a, _, aFails := chainOf(t, "tenant-a", `function route(m, cs) wagate.kv_set("spinning", "yes") while true do end end`,
		20*time.Millisecond, 1_000_000)
	b, _, bFails := chainOf(t, "tenant-b", `function route(m, cs) return cs[2] end`, 500*time.Millisecond, 5)

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
	// Wait (polling, with a deadline) until A's first call has timed out: A is spinning.
	deadline := time.Now().Add(5 * time.Second)
	for len(aFails.list()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("tenant A never spun")
		}
		runtime.Gosched()
	}
	for i := range 200 {
		if d := b.Route(ctx, policy.RouteInput{Candidates: twoCands}); d.Session != "s2" {
			t.Fatalf("tenant B call %d: %q, want its script's s2 (failures %+v)", i, d.Session, bFails.list())
		}
	}
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
}

// TestBreakerDisablesSpinningScript: a script that always times out is disabled after the
// threshold, and then costs nothing.
func TestBreakerDisablesSpinningScript(t *testing.T) {
	c, _, fs := chainOf(t, "acme", `function route() while true do end end`, 10*time.Millisecond, 3)
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
