package sandbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// waitLimit bounds every wait of the tests (real time); it is a deadline, not a sleep.
const waitLimit = 5 * time.Second

// recorder is a sink that keeps events and lets a test consume them in order.
type recorder struct {
	t      testing.TB
	mu     sync.Mutex
	events []provider.Event
	next   int // index of the next event to consume
	notify chan struct{}
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, notify: make(chan struct{}, 1)}
}

func (r *recorder) sink(ev provider.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// take returns the next unconsumed event, waiting for it up to waitLimit.
func (r *recorder) take() provider.Event {
	r.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if r.next < len(r.events) {
			ev := r.events[r.next]
			r.next++
			r.mu.Unlock()
			return ev
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-deadline.C:
			r.t.Fatalf("no event within %s", waitLimit)
		}
	}
}

// status takes the next event and checks it is a StatusEvent with want status (and
// reason, if non-empty).
func (r *recorder) status(want provider.Status, reason string) provider.StatusEvent {
	r.t.Helper()
	ev := r.take()
	st, ok := ev.(provider.StatusEvent)
	if !ok || st.Status != want || (reason != "" && st.Reason != reason) {
		r.t.Fatalf("event = %#v, want StatusEvent{%s %q}", ev, want, reason)
	}
	return st
}

func (r *recorder) qr() provider.QREvent {
	r.t.Helper()
	ev := r.take()
	q, ok := ev.(provider.QREvent)
	if !ok {
		r.t.Fatalf("event = %#v, want QREvent", ev)
	}
	return q
}

func (r *recorder) ack(id string, want provider.Ack) provider.AckEvent {
	r.t.Helper()
	ev := r.take()
	a, ok := ev.(provider.AckEvent)
	if !ok || a.ProviderID != id || a.Ack != want {
		r.t.Fatalf("event = %#v, want AckEvent{%s %s}", ev, id, want)
	}
	return a
}

func (r *recorder) message() provider.Inbound {
	r.t.Helper()
	ev := r.take()
	m, ok := ev.(provider.MessageEvent)
	if !ok {
		r.t.Fatalf("event = %#v, want MessageEvent", ev)
	}
	return m.Message
}

// none checks that no unconsumed event has arrived.
func (r *recorder) none() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next < len(r.events) {
		r.t.Fatalf("unexpected events: %#v", r.events[r.next:])
	}
}

// fixture is a network on a fake clock with an in-memory link store.
type fixture struct {
	t     testing.TB
	clock *clockwork.FakeClock
	links *MemoryLinkStore
	net   *Network
}

// testConfig is the default config with instant sends; tests change what they test.
func testConfig() config.Sandbox {
	cfg := config.Defaults().Providers.Sandbox
	cfg.SendLatency = 0
	return cfg
}

func newFixture(t testing.TB, cfg config.Sandbox) *fixture {
	t.Helper()
	f := &fixture{
		t:     t,
		clock: clockwork.NewFakeClockAt(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		links: NewMemoryLinkStore(),
	}
	f.net = NewNetwork(cfg, f.links, WithClock(f.clock), WithRand(rand.New(rand.NewPCG(1, 2))))
	t.Cleanup(f.net.Close)
	return f
}

// session builds a provider for tenant/name.
func (f *fixture) session(tenant, name string) (provider.Provider, *recorder) {
	f.t.Helper()
	rec := newRecorder(f.t)
	p, err := f.net.New(provider.Spec{Tenant: tenant, Session: name}, rec.sink)
	if err != nil {
		f.t.Fatalf("New(%s/%s): %v", tenant, name, err)
	}
	return p, rec
}

// linked builds, starts and links a session to phone, consuming the events up to WORKING.
func (f *fixture) linked(tenant, name, phone string) (provider.Provider, *recorder) {
	f.t.Helper()
	p, rec := f.session(tenant, name)
	if err := p.Start(context.Background()); err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if _, err := f.net.Link(tenant, name, phone); err != nil {
		f.t.Fatalf("Link: %v", err)
	}
	rec.status(provider.StatusWorking, "")
	return p, rec
}

// advance moves the fake clock.
func (f *fixture) advance(d time.Duration) { f.clock.Advance(d) }

// waiters blocks until the fake clock has at least n timers armed.
func (f *fixture) waiters(n int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := f.clock.BlockUntilContext(ctx, n); err != nil {
		f.t.Fatalf("waiting for %d timers: %v", n, err)
	}
}

// fakeTimeout is a context that ends when the fake clock passes d.
func (f *fixture) fakeTimeout(d time.Duration) context.Context {
	ctx, cancel := clockwork.WithTimeout(context.Background(), f.clock, d)
	f.t.Cleanup(cancel)
	return ctx
}

func text(to, body string) provider.Outbound {
	return provider.Outbound{ID: "m-" + body, ChatID: chatid.MustParse(to), Kind: provider.KindText, Text: body}
}

// async runs fn in a goroutine; the returned function waits for its result.
func async[T any](t testing.TB, fn func() T) func() T {
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	return func() T {
		t.Helper()
		select {
		case v := <-ch:
			return v
		case <-time.After(waitLimit):
			t.Fatalf("call did not return within %s", waitLimit)
			panic("unreachable")
		}
	}
}

type sendResult struct {
	res provider.SendResult
	err error
}

func (r sendResult) String() string { return fmt.Sprintf("%+v %v", r.res, r.err) }
