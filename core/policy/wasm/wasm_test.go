package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

var ctx = context.Background()

// testRuntime is shared by the tests of the package (one compilation cache, in memory).
// Direct calls get a generous budget, so that a loaded machine (-race) does not fail
// them; the hostile tests give theirs through a chain.
var testRuntime = New(Options{CallTimeout: 10 * time.Second})

type loadOpts struct {
	rt     *Runtime
	tenant string
	config string
	kv     policy.KV
	log    *slog.Logger
}

// open loads module m with policy.Open as policy "p" of tenant acme (by default).
func open(t *testing.T, m []byte, o loadOpts) (*Plugin, error) {
	t.Helper()
	if o.rt == nil {
		o.rt = testRuntime
	}
	if o.tenant == "" {
		o.tenant = "acme"
	}
	if o.kv == nil {
		o.kv = policy.NewMemKV(policy.KVLimits{}).For(o.tenant)
	}
	spec := policy.Spec{Tenant: o.tenant, Name: "p", Source: m, KV: o.kv, Log: o.log}
	if o.config != "" {
		spec.Config = json.RawMessage(o.config)
	}
	p, err := policy.Open(ctx, o.rt, spec)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.(*Plugin), nil
}

func mustOpen(t *testing.T, m []byte, o loadOpts) *Plugin {
	t.Helper()
	p, err := open(t, m, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var twoCands = []policy.Candidate{
	{Session: "s1", Provider: "whatsmeow", State: "WORKING", QueueDepth: 3, SentMinute: 1},
	{Session: "s2", Provider: "cloudapi", State: "WORKING"},
}

func routeIn() policy.RouteInput {
	return policy.RouteInput{Now: time.UnixMilli(1_767_323_045_678), Message: policy.Message{ID: "m1", Tenant: "acme"},
		Candidates: twoCands}
}

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *mod
		want policy.RouteDecision
	}{
		{"first", routeConst(0), policy.RouteDecision{Session: "s1"}},
		{"second", routeConst(1), policy.RouteDecision{Session: "s2"}},
		{"no opinion", routeConst(-1), policy.RouteDecision{}},
		{"least loaded", leastLoaded(), policy.RouteDecision{Session: "s2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustOpen(t, tc.m.bytes(), loadOpts{})
			if info := p.Info(); info != (policy.Info{ABIVersion: 1, Hooks: policy.HooksOf(policy.HookRoute)}) {
				t.Errorf("info %+v", info)
			}
			for i := range 3 { // the instance is reused
				d, err := p.Route(ctx, routeIn())
				if err != nil || d != tc.want {
					t.Fatalf("call %d: %+v, %v; want %+v", i, d, err, tc.want)
				}
			}
			if n := len(p.idle); n != 1 {
				t.Errorf("%d idle instances, want 1", n)
			}
		})
	}
}

// TestLeastLoadedRecords: the guest reads the records where the header says, whatever
// their number.
func TestLeastLoadedRecords(t *testing.T) {
	p := mustOpen(t, leastLoaded().bytes(), loadOpts{})
	in := routeIn()
	in.Candidates = nil
	for i := range 10 {
		in.Candidates = append(in.Candidates, policy.Candidate{Session: string(rune('a' + i)), QueueDepth: 10 - i, SentMinute: i % 3})
	}
	in.Candidates[4].QueueDepth = 1 // ties with j (depth 1): e has sent_minute 1, j 0
	if d, err := p.Route(ctx, in); err != nil || d.Session != "j" {
		t.Fatalf("%+v, %v; want j", d, err)
	}
}

// results returns a guest implementing failover, rate and transform with constant
// results, and data: "too-slow" at 512, an event's JSON at 1024.
func results(failover, rate, transform int64) *mod {
	m := guest(1)
	m.dataAt(512, []byte("too-slow"))
	m.dataAt(1024, []byte(`{"id":"evt_1","timestamp":5,"event":"message","session":"s1","tenant":"acme","payload":{"x":1}}`))
	m.fn("wagate_failover", tsPtrLen, tsI64, nil, i64Const(failover))
	m.fn("wagate_rate", tsPtrLen, tsI64, nil, i64Const(rate))
	m.fn("wagate_transform", tsPtrLen, tsI64, nil, i64Const(transform))
	return m
}

func TestResults(t *testing.T) {
	const evLen = 95
	evIn := policy.TransformInput{Event: event.Envelope{ID: "evt_1", Timestamp: 5, Event: "message", Session: "s1", Tenant: "acme",
		Payload: json.RawMessage(`{"x":0}`)}}
	fin := policy.FailoverInput{Message: policy.Message{ID: "m"}, Session: twoCands[0], Attempt: 1, Candidates: twoCands}
	for _, tc := range []struct {
		name                string
		failover, rate, trn int64
		wantF               policy.FailoverDecision
		wantR               policy.RateDecision
		wantDrop            bool
	}{
		{"retry, allow, keep", packed(1, 1500), packed(1, 0), 1024<<32 | evLen,
			policy.FailoverDecision{Action: policy.FailoverRetry, Delay: 1500 * time.Millisecond}, policy.RateDecision{Action: policy.RateAllow}, false},
		{"reroute, delay, drop", packed(2, 1), packed(2, 250), 0,
			policy.FailoverDecision{Action: policy.FailoverReroute, Session: "s2"}, policy.RateDecision{Action: policy.RateDelay, Delay: 250 * time.Millisecond}, true},
		{"fail and reject with reasons", packed(3, 8<<32|512), packed(3, 8<<32|512), 0,
			policy.FailoverDecision{Action: policy.FailoverFail, Reason: "too-slow"}, policy.RateDecision{Action: policy.RateReject, Reason: "too-slow"}, true},
		{"no opinion", 0, 0, 0, policy.FailoverDecision{}, policy.RateDecision{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustOpen(t, results(tc.failover, tc.rate, tc.trn).bytes(), loadOpts{})
			if d, err := p.Failover(ctx, fin); err != nil || d != tc.wantF {
				t.Errorf("failover: %+v, %v; want %+v", d, err, tc.wantF)
			}
			if d, err := p.Rate(ctx, policy.RateInput{Session: twoCands[0]}); err != nil || d != tc.wantR {
				t.Errorf("rate: %+v, %v; want %+v", d, err, tc.wantR)
			}
			r, err := p.Transform(ctx, evIn)
			if err != nil || r.Drop != tc.wantDrop || !tc.wantDrop && string(r.Event.Payload) != `{"x":1}` {
				t.Errorf("transform: %+v, %v", r, err)
			}
			if _, err := p.Route(ctx, routeIn()); !errors.Is(err, policy.ErrNotImplemented) {
				t.Errorf("route not exported: %v", err)
			}
		})
	}
}

// echoInput is a guest whose failover copies its whole input into the reason... no:
// whose transform returns its input unchanged, so the input the host wrote is visible.
func echoInput() *mod {
	m := guest(1)
	m.fn("wagate_transform", tsPtrLen, tsI64, nil,
		localGet(0), opI64ExtendU, i64Const(32), opI64Shl, localGet(1), opI64ExtendU, opI64Or)
	return m
}

func TestTransformInputIsTheEnvelope(t *testing.T) {
	p := mustOpen(t, echoInput().bytes(), loadOpts{})
	ev := event.Envelope{ID: "evt_1", Timestamp: 7, Event: "message.ack", Session: "s1", Tenant: "acme",
		Payload: json.RawMessage(`{"body":"ünïcode ✓","list":[1,2]}`)}
	r, err := p.Transform(ctx, policy.TransformInput{Event: ev})
	if err != nil || r.Drop {
		t.Fatal(r, err)
	}
	got, _ := json.Marshal(r.Event)
	want, _ := json.Marshal(ev)
	if !bytes.Equal(got, want) {
		t.Errorf("got %s, want %s", got, want)
	}
}

// hostCalls is a guest exercising the wagate imports: its failover sets "k" to "hello"
// in the KV and answers fail(kv_get("k")); its rate answers delay(now_ms() mod 86400000
// + 1); its route logs its input's message id at level 2 and "bye" at level 7, then
// answers candidate 0; its transform logs 150 lines.
func hostCalls() *mod {
	m := &mod{memMin: 1}
	log := m.importFunc("wagate", "log", []byte{tI32, tI32, tI32}, tsNone)
	now := m.importFunc("wagate", "now_ms", tsNone, tsI64)
	get := m.importFunc("wagate", "kv_get", []byte{tI32, tI32, tI32, tI32}, tsI32)
	set := m.importFunc("wagate", "kv_set", []byte{tI32, tI32, tI32, tI32}, tsI32)
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(inputAt))
	m.dataAt(256, []byte("k"))
	m.dataAt(264, []byte("hello"))
	m.dataAt(272, []byte("bye"))
	m.fn("wagate_failover", tsPtrLen, tsI64, nil,
		i32Const(256), i32Const(1), i32Const(264), i32Const(5), call(set), opDrop,
		// fail: action 3, reason len = kv_get's result, ptr 384
		i64Const(3<<56|384),
		i32Const(256), i32Const(1), i32Const(384), i32Const(64), call(get),
		opI64ExtendU, i64Const(32), opI64Shl, opI64Or)
	m.fn("wagate_rate", tsPtrLen, tsI64, nil,
		i64Const(2<<56),
		call(now), i64Const(86_400_000), []byte{0x82}, // i64.rem_u
		opI64Or, i64Const(1), []byte{0x7c}) // i64.add
	m.fn("wagate_route", tsPtrLen, tsI32, nil,
		// log(2, ptr + msg.id.off, msg.id.len)
		i32Const(2), localGet(0), localGet(0), i32Load(32), opI32Add, localGet(0), i32Load(36), call(log),
		i32Const(7), i32Const(272), i32Const(3), call(log),
		i32Const(0))
	m.fn("wagate_transform", tsPtrLen, tsI64, []byte{tI32},
		opLoop,
		i32Const(1), i32Const(272), i32Const(3), call(log),
		localGet(2), i32Const(1), opI32Add, localSet(2),
		localGet(2), i32Const(150), opI32LtU, brIf(0),
		opEnd,
		i64Const(0))
	return m
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *logLines) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func TestHostFunctions(t *testing.T) {
	kvs := policy.NewMemKV(policy.KVLimits{})
	lines := &logLines{}
	logger := slog.New(slog.NewTextHandler(lines, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	p := mustOpen(t, hostCalls().bytes(), loadOpts{kv: kvs.For("acme"), log: logger})

	t.Run("kv", func(t *testing.T) {
		d, err := p.Failover(ctx, policy.FailoverInput{Session: twoCands[0], Attempt: 1})
		if err != nil || d.Reason != "hello" {
			t.Fatalf("%+v, %v", d, err)
		}
		if v, ok, _ := kvs.For("acme").Get(ctx, "k"); !ok || string(v) != "hello" {
			t.Errorf("acme's KV: %q, %v", v, ok)
		}
		if _, ok, _ := kvs.For("other").Get(ctx, "k"); ok {
			t.Error("the key is in another tenant's KV")
		}
	})
	t.Run("kv of another tenant", func(t *testing.T) {
		// Tenant other's plugin, same module: its kv_get misses until its own kv_set.
		o := mustOpen(t, hostCalls().bytes(), loadOpts{tenant: "other", kv: kvs.For("other")})
		if err := kvs.For("acme").Set(ctx, "k", []byte("acme's")); err != nil {
			t.Fatal(err)
		}
		d, err := o.Failover(ctx, policy.FailoverInput{Session: twoCands[0], Attempt: 1})
		if err != nil || d.Reason != "hello" {
			t.Fatalf("%+v, %v", d, err)
		}
		if v, _, _ := kvs.For("acme").Get(ctx, "k"); string(v) != "acme's" {
			t.Errorf("acme's value became %q", v)
		}
		if o.t == p.t || o.t.r == p.t.r {
			t.Error("two tenants share a wazero runtime")
		}
	})
	t.Run("now_ms", func(t *testing.T) {
		now := time.UnixMilli(1_767_323_045_678)
		d, err := p.Rate(ctx, policy.RateInput{Now: now, Session: twoCands[0]})
		if want := time.Duration(now.UnixMilli()%86_400_000+1) * time.Millisecond; err != nil || d.Delay != want {
			t.Fatalf("%+v, %v; want delay %s", d, err, want)
		}
	})
	t.Run("log", func(t *testing.T) {
		if _, err := p.Route(ctx, routeIn()); err != nil {
			t.Fatal(err)
		}
		got := lines.list()
		want := []string{
			`level=WARN msg=m1 tenant=acme policy=p module=` + p.version,
			`level=INFO msg=bye tenant=acme policy=p module=` + p.version,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("log lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("log lines per call", func(t *testing.T) {
		before := len(lines.list())
		if _, err := p.Transform(ctx, policy.TransformInput{Event: event.Envelope{ID: "e", Tenant: "acme", Event: "x", Payload: json.RawMessage(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		if n := len(lines.list()) - before; n != maxLogLines {
			t.Errorf("%d lines logged by one call, want %d", n, maxLogLines)
		}
	})
}

// configured is a guest whose wagate_configure keeps the configuration's length (and
// refuses one of 13 bytes with 7) and whose route answers length mod 2; _initialize
// counts its calls, and a second call makes route trap.
func configured() *mod {
	m := guest(1)
	length, inits := m.global(), m.global()
	m.fn("_initialize", tsNone, tsNone, nil,
		globalGet(inits), i32Const(1), opI32Add, globalSet(inits))
	m.fn("wagate_configure", tsPtrLen, tsI32, nil,
		localGet(1), globalSet(length),
		localGet(1), i32Const(13), opI32Eq, opIf, i32Const(7), opReturn, opEnd,
		i32Const(0))
	m.fn("wagate_route", tsPtrLen, tsI32, nil,
		globalGet(inits), i32Const(1), []byte{0x47}, opIf, opUnreachable, opEnd, // i32.ne
		globalGet(length), i32Const(2), opI32RemU)
	return m
}

func TestConfigure(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         string // session, or error
	}{
		{"none", "", "s1"},       // "{}": 2 bytes
		{"odd", `{"a":1}`, "s2"}, // 7 bytes
		{"refused", `{"a":1234567}`, policy.ErrBadConfig.Error()}, // 13 bytes
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := open(t, configured().bytes(), loadOpts{config: tc.config})
			if err != nil {
				if !errors.Is(err, policy.ErrBadConfig) || tc.want != policy.ErrBadConfig.Error() || !strings.Contains(err.Error(), "returned 7") {
					t.Fatalf("open: %v", err)
				}
				return
			}
			// Two concurrent calls: the second creates an instance, configured too.
			var held, wg sync.WaitGroup
			hold := make(chan struct{})
			for range 2 {
				held.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					in, err := p.acquire(ctx)
					held.Done()
					if err != nil {
						t.Error(err)
						return
					}
					<-hold
					p.release(in, true)
				}()
			}
			held.Wait()
			close(hold)
			wg.Wait()
			if n := len(p.idle); n != 2 {
				t.Fatalf("%d idle instances, want 2", n)
			}
			for range 2 {
				if d, err := p.Route(ctx, routeIn()); err != nil || d.Session != tc.want {
					t.Fatalf("%+v, %v; want %s", d, err, tc.want)
				}
			}
		})
	}
	t.Run("configuration for a module without wagate_configure", func(t *testing.T) {
		if _, err := open(t, routeConst(0).bytes(), loadOpts{config: `{"a":1}`}); !errors.Is(err, policy.ErrBadConfig) {
			t.Fatalf("%v", err)
		}
	})
}

// TestHooksExport: wagate_hooks narrows the hooks to those it lists; listing one that is
// not exported refuses the module.
func TestHooksExport(t *testing.T) {
	m := results(0, 0, 0)
	m.fn("wagate_hooks", tsNone, tsI32, nil, i32Const(int32(policy.HooksOf(policy.HookRate))))
	p := mustOpen(t, m.bytes(), loadOpts{})
	if h := p.Info().Hooks; h != policy.HooksOf(policy.HookRate) {
		t.Errorf("hooks %s, want rate", h)
	}
	if _, err := p.Failover(ctx, policy.FailoverInput{}); !errors.Is(err, policy.ErrNotImplemented) {
		t.Errorf("failover: %v", err)
	}
	for _, mask := range []int32{int32(policy.HooksOf(policy.HookRoute)), 0x10} {
		m := results(0, 0, 0)
		m.fn("wagate_hooks", tsNone, tsI32, nil, i32Const(mask))
		if _, err := open(t, m.bytes(), loadOpts{}); !errors.Is(err, ErrExport) {
			t.Errorf("mask %#x: %v", mask, err)
		}
	}
	m = routeConst(0)
	m.fn("wagate_hooks", tsNone, tsI32, nil, i32Const(0))
	if _, err := open(t, m.bytes(), loadOpts{}); !errors.Is(err, policy.ErrNoHooks) {
		t.Errorf("no hook listed: %v", err)
	}
}

func TestCacheDir(t *testing.T) {
	dir := t.TempDir() + "/wasm-cache"
	rt := New(Options{CacheDir: dir})
	mustOpen(t, leastLoaded().bytes(), loadOpts{rt: rt})
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache dir: %v, %d entries", err, len(entries))
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, leastLoaded().bytes(), loadOpts{rt: rt}); !errors.Is(err, ErrClosed) {
		t.Errorf("load after Close: %v", err)
	}
}

// TestTenantRuntimes: a tenant's wazero runtime lives while one of its plugins does.
func TestTenantRuntimes(t *testing.T) {
	rt := New(Options{})
	defer rt.Close()
	open := func(tenant string) policy.Plugin {
		p, err := policy.Open(ctx, rt, policy.Spec{Tenant: tenant, Name: "p", Source: routeConst(0).bytes()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a1, a2, b := open("a"), open("a"), open("b")
	count := func() int { rt.mu.Lock(); defer rt.mu.Unlock(); return len(rt.tenants) }
	if n := count(); n != 2 {
		t.Fatalf("%d tenant runtimes, want 2", n)
	}
	_ = a1.Close()
	if n := count(); n != 2 {
		t.Fatalf("after closing one of a's plugins: %d tenant runtimes, want 2", n)
	}
	_ = a2.Close()
	_ = b.Close()
	if n := count(); n != 0 {
		t.Fatalf("after closing every plugin: %d tenant runtimes, want 0", n)
	}
}

// TestCloseDuringCall: a plugin closed while a call runs lets the call finish, then
// refuses calls; its instance is closed when the call returns.
func TestCloseDuringCall(t *testing.T) {
	p := mustOpen(t, routeConst(1).bytes(), loadOpts{})
	in, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	if _, err := p.Route(ctx, routeIn()); !errors.Is(err, policy.ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
	p.release(in, true)
	if p.live != 0 || len(p.idle) != 0 {
		t.Errorf("%d live, %d idle instances after the call", p.live, len(p.idle))
	}
}

func TestConcurrentCalls(t *testing.T) {
	rt := New(Options{MaxInstances: 2, CallTimeout: 10 * time.Second})
	defer rt.Close()
	p := mustOpen(t, leastLoaded().bytes(), loadOpts{rt: rt})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if d, err := p.Route(ctx, routeIn()); err != nil || d.Session != "s2" {
					t.Errorf("%+v, %v", d, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if p.live > 2 {
		t.Errorf("%d instances, at most 2", p.live)
	}
}
