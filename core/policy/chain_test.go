package policy

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wagate/wagate/core/event"
)

// fake is a plugin whose hooks are functions; a nil function panics if called.
type fake struct {
	info      Info
	route     func(context.Context, RouteInput) (RouteDecision, error)
	failover  func(context.Context, FailoverInput) (FailoverDecision, error)
	rate      func(context.Context, RateInput) (RateDecision, error)
	transform func(context.Context, TransformInput) (TransformResult, error)
	configure func(json.RawMessage) error
	closed    int
}

func (f *fake) Info() Info { return f.info }
func (f *fake) Configure(_ context.Context, c json.RawMessage) error {
	if f.configure != nil {
		return f.configure(c)
	}
	return nil
}
func (f *fake) Close() error { f.closed++; return nil }
func (f *fake) Route(ctx context.Context, in RouteInput) (RouteDecision, error) {
	return f.route(ctx, in)
}
func (f *fake) Failover(ctx context.Context, in FailoverInput) (FailoverDecision, error) {
	return f.failover(ctx, in)
}
func (f *fake) Rate(ctx context.Context, in RateInput) (RateDecision, error) { return f.rate(ctx, in) }
func (f *fake) Transform(ctx context.Context, in TransformInput) (TransformResult, error) {
	return f.transform(ctx, in)
}

func trusted(hs ...Hook) Info { return NativeInfo(hs...) }

func router(session string) *fake {
	return &fake{info: trusted(HookRoute), route: func(context.Context, RouteInput) (RouteDecision, error) {
		return RouteDecision{Session: session}, nil
	}}
}

// first is the default route used by the tests: the first candidate.
var first = &fake{info: trusted(HookRoute), route: func(_ context.Context, in RouteInput) (RouteDecision, error) {
	return RouteDecision{Session: in.Candidates[0].Session}, nil
}}

var cands3 = []Candidate{{Session: "a"}, {Session: "b"}, {Session: "c"}}

// recorder collects the failures a chain reports.
type recorder struct {
	mu sync.Mutex
	fs []Failure
}

func (r *recorder) on(f Failure) { r.mu.Lock(); r.fs = append(r.fs, f); r.mu.Unlock() }
func (r *recorder) all() []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Failure(nil), r.fs...)
}

func newChain(t *testing.T, rec *recorder, bs ...Binding) *Chain {
	t.Helper()
	opts := ChainOptions{Defaults: Defaults{Route: first}, BreakerThreshold: 3}
	if rec != nil {
		opts.OnFailure = rec.on
	}
	c, err := NewChain("acme", opts, bs...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChainRoute(t *testing.T) {
	ctx := context.Background()
	boom := &fake{info: trusted(HookRoute), route: func(context.Context, RouteInput) (RouteDecision, error) {
		return RouteDecision{}, errors.New("boom")
	}}
	for _, tc := range []struct {
		name    string
		chain   []Binding
		want    string
		failure Reason
	}{
		{"no policy: default", nil, "a", ""},
		{"first opinion wins", []Binding{{Name: "p1", Plugin: router("c")}, {Name: "p2", Plugin: router("b")}}, "c", ""},
		{"no opinion asks the next", []Binding{{Name: "p1", Plugin: router("")}, {Name: "p2", Plugin: router("b")}}, "b", ""},
		{"nobody: default", []Binding{{Name: "p1", Plugin: router("")}}, "a", ""},
		{"non-candidate is a bad output; default answers, next not asked",
			[]Binding{{Name: "p1", Plugin: router("zz")}, {Name: "p2", Plugin: router("b")}}, "a", ReasonBadOutput},
		{"error: default", []Binding{{Name: "p1", Plugin: boom}, {Name: "p2", Plugin: router("b")}}, "a", ReasonError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			c := newChain(t, rec, tc.chain...)
			in := RouteInput{Message: Message{ID: "m"}, Candidates: cands3}
			if got := c.Route(ctx, in); got.Session != tc.want {
				t.Errorf("got %q, want %q", got.Session, tc.want)
			}
			fs := rec.all()
			if tc.failure == "" && len(fs) != 0 {
				t.Errorf("unexpected failures %+v", fs)
			}
			if tc.failure != "" && (len(fs) != 1 || fs[0].Reason != tc.failure || fs[0].Policy != "p1" ||
				fs[0].Tenant != "acme" || fs[0].Hook != HookRoute) {
				t.Errorf("failures %+v, want one %s of p1", fs, tc.failure)
			}
		})
	}
	t.Run("no candidates: no call, no opinion", func(t *testing.T) {
		c := newChain(t, nil, Binding{Name: "p1", Plugin: router("x")})
		if got := c.Route(ctx, RouteInput{}); got.Session != "" {
			t.Errorf("got %q", got.Session)
		}
	})
	t.Run("the chain's tenant and a time are stamped on the input", func(t *testing.T) {
		var seen RouteInput
		p := &fake{info: trusted(HookRoute), route: func(_ context.Context, in RouteInput) (RouteDecision, error) {
			seen = in
			return RouteDecision{}, nil
		}}
		c := newChain(t, nil, Binding{Name: "p", Plugin: p})
		c.Route(ctx, RouteInput{Message: Message{Tenant: "other"}, Candidates: cands3})
		if seen.Message.Tenant != "acme" || seen.Now.IsZero() {
			t.Errorf("plugin saw tenant %q, now %v", seen.Message.Tenant, seen.Now)
		}
	})
}

func TestChainRate(t *testing.T) {
	ctx := context.Background()
	rate := func(d RateDecision) *fake {
		return &fake{info: trusted(HookRate), rate: func(context.Context, RateInput) (RateDecision, error) { return d, nil }}
	}
	allow, none := RateDecision{Action: RateAllow}, RateDecision{}
	delay := func(d time.Duration) RateDecision { return RateDecision{Action: RateDelay, Delay: d} }
	reject := RateDecision{Action: RateReject, Reason: "nope"}
	def := rate(delay(time.Minute)) // the default: always a minute
	for _, tc := range []struct {
		name  string
		chain []RateDecision
		want  RateDecision
	}{
		{"no policy: default", nil, delay(time.Minute)},
		{"no opinion: default", []RateDecision{none, none}, delay(time.Minute)},
		{"allow replaces the default", []RateDecision{allow}, allow},
		{"first non-allow wins, even after an allow", []RateDecision{allow, delay(time.Second), reject}, delay(time.Second)},
		{"reject", []RateDecision{none, reject, delay(time.Second)}, reject},
		{"empty reason gets the default one", []RateDecision{{Action: RateReject}}, RateDecision{Action: RateReject, Reason: "rejected_by_policy"}},
		{"zero delay is a bad output: default", []RateDecision{delay(0)}, delay(time.Minute)},
		{"unknown action is a bad output: default", []RateDecision{allow, {Action: 9}}, delay(time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bs []Binding
			for i, d := range tc.chain {
				bs = append(bs, Binding{Name: "p" + string(rune('1'+i)), Plugin: rate(d)})
			}
			c, err := NewChain("acme", ChainOptions{Defaults: Defaults{Rate: def}}, bs...)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Rate(ctx, RateInput{}); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("no default: allow", func(t *testing.T) {
		c, _ := NewChain("acme", ChainOptions{}, Binding{Name: "p", Plugin: rate(none)})
		if got := c.Rate(ctx, RateInput{}); got != allow {
			t.Errorf("got %+v", got)
		}
	})
}

func TestChainFailover(t *testing.T) {
	ctx := context.Background()
	fo := func(d FailoverDecision) *fake {
		return &fake{info: trusted(HookFailover), failover: func(context.Context, FailoverInput) (FailoverDecision, error) {
			return d, nil
		}}
	}
	retry := FailoverDecision{Action: FailoverRetry, Delay: time.Second}
	def := fo(FailoverDecision{Action: FailoverFail, Reason: "default"})
	for _, tc := range []struct {
		name  string
		chain []FailoverDecision
		want  FailoverDecision
	}{
		{"first decision wins", []FailoverDecision{{}, retry, {Action: FailoverFail}}, retry},
		{"reroute to a candidate", []FailoverDecision{{Action: FailoverReroute, Session: "b"}}, FailoverDecision{Action: FailoverReroute, Session: "b"}},
		{"reroute to a stranger is a bad output", []FailoverDecision{{Action: FailoverReroute, Session: "x"}}, FailoverDecision{Action: FailoverFail, Reason: "default"}},
		{"negative delay is a bad output", []FailoverDecision{{Action: FailoverRetry, Delay: -1}}, FailoverDecision{Action: FailoverFail, Reason: "default"}},
		{"reason too long is a bad output", []FailoverDecision{{Action: FailoverFail, Reason: strings.Repeat("x", 257)}}, FailoverDecision{Action: FailoverFail, Reason: "default"}},
		{"nobody: default", []FailoverDecision{{}}, FailoverDecision{Action: FailoverFail, Reason: "default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bs []Binding
			for i, d := range tc.chain {
				bs = append(bs, Binding{Name: "p" + string(rune('1'+i)), Plugin: fo(d)})
			}
			c, err := NewChain("acme", ChainOptions{Defaults: Defaults{Failover: def}}, bs...)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Failover(ctx, FailoverInput{Candidates: cands3}); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("no default: no opinion", func(t *testing.T) {
		c, _ := NewChain("acme", ChainOptions{})
		if got := c.Failover(ctx, FailoverInput{}); got != (FailoverDecision{}) {
			t.Errorf("got %+v", got)
		}
	})
}

func TestChainTransform(t *testing.T) {
	ctx := context.Background()
	ev := event.Envelope{ID: "evt_1", Event: "message", Tenant: "acme", Payload: json.RawMessage(`{"body":"hi"}`)}
	set := func(body string) *fake {
		return &fake{info: trusted(HookTransform), transform: func(_ context.Context, in TransformInput) (TransformResult, error) {
			out := in.Event
			out.Payload = json.RawMessage(`{"body":` + body + `}`)
			return Keep(out), nil
		}}
	}
	appendX := &fake{info: trusted(HookTransform), transform: func(_ context.Context, in TransformInput) (TransformResult, error) {
		var p map[string]string
		_ = json.Unmarshal(in.Event.Payload, &p)
		p["body"] += "X"
		out := in.Event
		out.Payload, _ = json.Marshal(p)
		return Keep(out), nil
	}}
	drop := &fake{info: trusted(HookTransform), transform: func(context.Context, TransformInput) (TransformResult, error) {
		return Drop(), nil
	}}
	steal := &fake{info: trusted(HookTransform), transform: func(_ context.Context, in TransformInput) (TransformResult, error) {
		out := in.Event
		out.Tenant = "other"
		return Keep(out), nil
	}}
	panics := &fake{info: trusted(HookTransform), transform: func(context.Context, TransformInput) (TransformResult, error) {
		panic("oops")
	}}
	t.Run("another tenant's event is not shown to the policies", func(t *testing.T) {
		c := newChain(t, nil, Binding{Name: "p", Plugin: drop})
		other := ev
		other.Tenant = "other"
		if r := c.Transform(ctx, TransformInput{Event: other}); r.Drop || r.Event.Tenant != "other" {
			t.Errorf("got %+v", r)
		}
	})
	for _, tc := range []struct {
		name     string
		chain    []*fake
		wantBody string // "" = dropped
		failures int
	}{
		{"each gets the previous output", []*fake{set(`"a"`), appendX, appendX}, `{"body":"aXX"}`, 0},
		{"drop stops the chain", []*fake{set(`"a"`), drop, appendX}, "", 0},
		{"bad JSON: default for that link, chain goes on", []*fake{set(`"a"`), set(`nope`), appendX}, `{"body":"aX"}`, 1},
		{"tenant changed: bad output, chain goes on", []*fake{steal, appendX}, `{"body":"hiX"}`, 1},
		{"panic: contained, chain goes on", []*fake{panics, appendX}, `{"body":"hiX"}`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var bs []Binding
			for i, p := range tc.chain {
				bs = append(bs, Binding{Name: "p" + string(rune('1'+i)), Plugin: p})
			}
			c := newChain(t, rec, bs...)
			r := c.Transform(ctx, TransformInput{Event: ev})
			if tc.wantBody == "" {
				if !r.Drop {
					t.Errorf("not dropped: %s", r.Event.Payload)
				}
			} else if r.Drop || string(r.Event.Payload) != tc.wantBody || r.Event.ID != "evt_1" {
				t.Errorf("got drop=%v %s, want %s", r.Drop, r.Event.Payload, tc.wantBody)
			}
			if n := len(rec.all()); n != tc.failures {
				t.Errorf("%d failures, want %d", n, tc.failures)
			}
		})
	}
}

func TestChainContainment(t *testing.T) {
	ctx := context.Background()
	in := RouteInput{Candidates: cands3}
	t.Run("panic", func(t *testing.T) {
		rec := &recorder{}
		p := &fake{info: trusted(HookRoute), route: func(context.Context, RouteInput) (RouteDecision, error) { panic("bug") }}
		c := newChain(t, rec, Binding{Name: "p", Plugin: p})
		if got := c.Route(ctx, in); got.Session != "a" {
			t.Errorf("got %q, want the default", got.Session)
		}
		if fs := rec.all(); len(fs) != 1 || fs[0].Reason != ReasonPanic || !errors.Is(fs[0].Err, ErrPanic) {
			t.Errorf("failures %+v", fs)
		}
	})
	t.Run("untrusted call gets a deadline and times out", func(t *testing.T) {
		rec := &recorder{}
		var deadline time.Time
		p := &fake{info: Info{ABIVersion: 1, Hooks: HooksOf(HookRoute)},
			route: func(ctx context.Context, _ RouteInput) (RouteDecision, error) {
				deadline, _ = ctx.Deadline()
				<-ctx.Done() // a guest spinning until the host interrupts it
				return RouteDecision{}, errors.Join(ErrTimeout, ctx.Err())
			}}
		c := newChain(t, rec, Binding{Name: "p", Plugin: p, Timeout: 5 * time.Millisecond})
		start := time.Now()
		got := c.Route(ctx, in)
		if got.Session != "a" || deadline.IsZero() || deadline.Sub(start) > 6*time.Millisecond {
			t.Errorf("got %q, deadline %v after start", got.Session, deadline.Sub(start))
		}
		if fs := rec.all(); len(fs) != 1 || fs[0].Reason != ReasonTimeout {
			t.Errorf("failures %+v", fs)
		}
	})
	t.Run("trusted call gets no deadline; overrunning counts as timeout", func(t *testing.T) {
		rec := &recorder{}
		p := &fake{info: trusted(HookRoute), route: func(ctx context.Context, _ RouteInput) (RouteDecision, error) {
			if _, ok := ctx.Deadline(); ok {
				t.Error("trusted call got a deadline")
			}
			time.Sleep(3 * time.Millisecond) // the slow work itself, not a wait for an event
			return RouteDecision{Session: "b"}, nil
		}}
		c := newChain(t, rec, Binding{Name: "p", Plugin: p, Timeout: time.Millisecond})
		if got := c.Route(ctx, in); got.Session != "a" {
			t.Errorf("got %q, want the default", got.Session)
		}
		if fs := rec.all(); len(fs) != 1 || fs[0].Reason != ReasonTimeout {
			t.Errorf("failures %+v", fs)
		}
	})
	t.Run("caller's context ended: default, not counted", func(t *testing.T) {
		rec := &recorder{}
		p := &fake{info: Info{ABIVersion: 1, Hooks: HooksOf(HookRoute)},
			route: func(ctx context.Context, _ RouteInput) (RouteDecision, error) { return RouteDecision{}, ctx.Err() }}
		c := newChain(t, rec, Binding{Name: "p", Plugin: p})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for range 10 {
			if got := c.Route(cctx, in); got.Session != "a" {
				t.Fatalf("got %q", got.Session)
			}
		}
		if fs := rec.all(); len(fs) != 0 || c.Status()[0].Disabled {
			t.Errorf("failures %+v, status %+v", fs, c.Status())
		}
	})
}

func TestChainBreaker(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	failing := true
	calls := 0
	p := &fake{info: trusted(HookRoute, HookRate),
		route: func(context.Context, RouteInput) (RouteDecision, error) {
			calls++
			if failing {
				return RouteDecision{Session: "stranger"}, nil
			}
			return RouteDecision{Session: "c"}, nil
		},
		rate: func(context.Context, RateInput) (RateDecision, error) {
			calls++
			return RateDecision{}, errors.New("broken")
		}}
	rec := &recorder{}
	c, err := NewChain("acme", ChainOptions{Defaults: Defaults{Route: first}, Metrics: m, OnFailure: rec.on, BreakerThreshold: 3},
		Binding{Name: "flaky", Plugin: p})
	if err != nil {
		t.Fatal(err)
	}
	in := RouteInput{Candidates: cands3}

	// Two failures, a success: the count restarts.
	c.Route(ctx, in)
	c.Rate(ctx, RateInput{})
	failing = false
	if got := c.Route(ctx, in); got.Session != "c" {
		t.Fatalf("got %q", got.Session)
	}
	if st := c.Status()[0]; st.Failures != 0 || st.Disabled || st.Hooks != "route,rate" {
		t.Fatalf("after a success: %+v", st)
	}
	// Three in a row, across hooks: disabled.
	failing = true
	c.Route(ctx, in)
	c.Rate(ctx, RateInput{})
	c.Route(ctx, in)
	fs := rec.all()
	if len(fs) != 5 || !fs[4].Disabled || fs[3].Disabled {
		t.Fatalf("failures %+v, want the 5th to disable", fs)
	}
	if evs := fs[4].Envelopes(); len(evs) != 2 || evs[0].Event != EventError || evs[1].Event != EventDisabled || evs[1].Tenant != "acme" {
		t.Errorf("envelopes %+v", evs)
	}
	if got := testutil.ToFloat64(m.disabled.WithLabelValues("acme", "flaky")); got != 1 {
		t.Errorf("disabled gauge %v", got)
	}
	// Disabled: skipped, not called, not counted.
	before := calls
	failing = false
	if got := c.Route(ctx, in); got.Session != "a" || calls != before {
		t.Errorf("disabled policy: got %q, calls %d -> %d", got.Session, before, calls)
	}
	// Reset: back in the chain.
	if !c.Reset("flaky") || c.Reset("nope") {
		t.Fatal("Reset")
	}
	if got := c.Route(ctx, in); got.Session != "c" {
		t.Errorf("after reset: got %q", got.Session)
	}
	if got := testutil.ToFloat64(m.disabled.WithLabelValues("acme", "flaky")); got != 0 {
		t.Errorf("disabled gauge after reset %v", got)
	}
	// Metrics: calls and errors by hook and reason.
	if got := testutil.ToFloat64(m.calls.WithLabelValues("acme", "flaky", "route")); got != 5 {
		t.Errorf("route calls %v, want 5", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("acme", "flaky", "route", "bad_output")); got != 3 {
		t.Errorf("route bad outputs %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("acme", "flaky", "rate", "error")); got != 2 {
		t.Errorf("rate errors %v, want 2", got)
	}
	if n := testutil.CollectAndCount(m.latency); n != 2 {
		t.Errorf("%d latency series, want 2 (route, rate)", n)
	}
	// A second NewMetrics on the same registry shares the series.
	m2, err := NewMetrics(reg)
	if err != nil || testutil.ToFloat64(m2.calls.WithLabelValues("acme", "flaky", "route")) != 5 {
		t.Errorf("second registration: %v", err)
	}
}

func TestNewChainRefuses(t *testing.T) {
	p := router("a")
	for name, bs := range map[string][]Binding{
		"bad name":         {{Name: "Bad Name", Plugin: p}},
		"duplicate":        {{Name: "p", Plugin: p}, {Name: "p", Plugin: p}},
		"no plugin":        {{Name: "p"}},
		"hook not in info": {{Name: "p", Plugin: p, Hooks: HooksOf(HookRate)}},
	} {
		if _, err := NewChain("acme", ChainOptions{}, bs...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestChainClose(t *testing.T) {
	a, b := router("a"), router("b")
	c, _ := NewChain("acme", ChainOptions{}, Binding{Name: "a", Plugin: a}, Binding{Name: "b", Plugin: b})
	_ = c.Close()
	_ = c.Close()
	if a.closed != 1 || b.closed != 1 {
		t.Errorf("closed %d, %d times; want once each", a.closed, b.closed)
	}
	c2, _ := NewChain("acme", ChainOptions{Defaults: Defaults{Route: first}}, Binding{Name: "b", Plugin: router("b")})
	_ = c2.Close()
	if d := c2.Route(context.Background(), RouteInput{Candidates: cands3}); d.Session != "a" {
		t.Errorf("a closed chain asked its plugin: %q", d.Session)
	}
}

func TestChainRouteAllocs(t *testing.T) {
	c := newChain(t, nil, Binding{Name: "p1", Plugin: router("")}, Binding{Name: "p2", Plugin: router("c")})
	ctx := context.Background()
	in := RouteInput{Now: time.Now(), Message: Message{ID: "m", Tenant: "acme"}, Candidates: cands3}
	if n := testing.AllocsPerRun(200, func() { c.Route(ctx, in) }); n != 0 {
		t.Errorf("Chain.Route over trusted plugins: %v allocs per call, want 0", n)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	reg := NewRegistry()
	var last *fake
	add := func(name string, f func() *fake) {
		if err := reg.Register(name, func(Spec) Plugin { last = f(); return last }); err != nil {
			t.Fatal(err)
		}
	}
	add("good", func() *fake { return router("a") })
	add("old-abi", func() *fake { return &fake{info: Info{ABIVersion: 0, Hooks: HooksOf(HookRoute)}} })
	add("no-hooks", func() *fake { return &fake{info: Info{ABIVersion: 1}} })
	add("bad-config", func() *fake {
		return &fake{info: trusted(HookRoute), configure: func(c json.RawMessage) error {
			var v struct{}
			return DecodeConfig(c, &v)
		}}
	})
	if err := reg.Register("good", nil); err == nil {
		t.Error("registered a name twice")
	}
	p, err := Open(ctx, reg, Spec{Tenant: "acme", Name: "r", Source: []byte("good")})
	if err != nil || p.Info().Hooks != HooksOf(HookRoute) {
		t.Fatalf("good: %v", err)
	}
	for _, tc := range []struct {
		source, config string
		want           error
	}{
		{"missing", "", ErrUnknownPlugin},
		{"old-abi", "", ErrABIVersion},
		{"no-hooks", "", ErrNoHooks},
		{"bad-config", `{"unknown":1}`, ErrBadConfig},
	} {
		last = nil
		_, err := Open(ctx, reg, Spec{Tenant: "acme", Name: "r", Source: []byte(tc.source), Config: json.RawMessage(tc.config)})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "tenant acme") {
			t.Errorf("%s: err = %v, want %v naming the tenant", tc.source, err, tc.want)
		}
		if last != nil && last.closed != 1 {
			t.Errorf("%s: plugin closed %d times after a failed open", tc.source, last.closed)
		}
	}
	if _, err := Open(ctx, reg, Spec{Tenant: "acme", Name: "Bad", Source: []byte("good")}); !errors.Is(err, ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
}

// A transform sees the session context and cannot change it: the chain gives every
// output the input's me, engine, environment and metadata.
func TestChainTransformKeepsContext(t *testing.T) {
	ctx := context.Background()
	ev := event.Envelope{ID: "evt_1", Event: "message", Session: "s1", Tenant: "acme", Payload: json.RawMessage(`{"body":"hi"}`),
		Me: &event.Me{ID: "15550000001@c.us", PushName: "Ann"}, Engine: "sandbox",
		Environment: &event.Environment{Version: "v1", Engine: "sandbox", Tier: event.Tier},
		Metadata:    map[string]string{"user.id": "123"}}
	var seen event.Envelope
	strip := &fake{info: trusted(HookTransform), transform: func(_ context.Context, in TransformInput) (TransformResult, error) {
		seen = in.Event
		out := in.Event
		out.Me, out.Engine, out.Environment, out.Metadata = nil, "other", nil, map[string]string{"x": "y"}
		out.Payload = json.RawMessage(`{"body":"changed"}`)
		return Keep(out), nil
	}}
	c := newChain(t, nil, Binding{Name: "p", Plugin: strip})
	r := c.Transform(ctx, TransformInput{Event: ev})
	if !maps.Equal(seen.Metadata, ev.Metadata) || seen.Me != ev.Me || seen.Engine != "sandbox" {
		t.Errorf("the transform saw %+v", seen)
	}
	if r.Drop || string(r.Event.Payload) != `{"body":"changed"}` || r.Event.Me != ev.Me || r.Event.Engine != "sandbox" ||
		r.Event.Environment != ev.Environment || !maps.Equal(r.Event.Metadata, ev.Metadata) {
		t.Errorf("got %+v", r.Event)
	}
}
