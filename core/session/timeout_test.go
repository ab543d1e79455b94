package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/store"
)

// bounded runs fn and fails the test if it does not return within waitLimit: the
// call under test hung.
func bounded[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s hung", what)
		panic("unreachable")
	}
}

// A provider that ignores its context (blocks in Stop, Logout and Send for ever) holds
// nothing: each call is abandoned past its deadline, the session stays usable, and
// shutdown is not held up.
func TestTimeoutHandlerAbandonsAProviderIgnoringItsContext(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) {
		o.StopTimeout, o.SendTimeout = 30*time.Millisecond, 30*time.Millisecond
	})
	r.m.callGrace = 20 * time.Millisecond
	ctx := context.Background()
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "h", Provider: "fake", Start: true}); err != nil {
		t.Fatal(err)
	}
	r.status("h", 0, is(StateWorking, ""))
	r.fake.set(func(f *fakeFactory) { f.hang = true })
	mt := r.m.metrics

	err := bounded(t, "send", func() error { _, err := r.m.Send(ctx, "acme", "h", text("x")); return err })
	if !errors.Is(err, ErrProviderHung) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send through a hung provider: %v, want ErrProviderHung", err)
	}
	info := bounded(t, "stop", func() Info { in, _ := r.m.Stop(ctx, "acme", "h"); return in })
	if info.Status != StateFailed || info.Reason != "stop_timeout" {
		t.Fatalf("stop of a hung provider: %+v, want FAILED stop_timeout", info)
	}
	err = bounded(t, "logout", func() error { _, err := r.m.Logout(ctx, "acme", "h"); return err })
	if !errors.Is(err, ErrLogoutFailed) {
		t.Fatalf("logout through a hung provider: %v, want ErrLogoutFailed", err)
	}
	for _, op := range []string{opSend, opStop, opLogout} {
		if v := value(mt.callAbandoned.WithLabelValues(op)); v != 1 {
			t.Errorf("abandoned{%s} = %v, want 1", op, v)
		}
		if v := value(mt.callTimeouts.WithLabelValues(op)); v != 1 {
			t.Errorf("timeouts{%s} = %v, want 1", op, v)
		}
	}
	if v := value(mt.stuck); v != 3 {
		t.Errorf("stuck calls = %v, want 3", v)
	}

	// The session still works with a provider that answers.
	r.fake.set(func(f *fakeFactory) { f.hang = false })
	if info, err := r.m.Start(ctx, "acme", "h"); err != nil || !info.Status.running() {
		t.Fatalf("start after the hung calls: %+v, %v", info, err)
	}
	r.fake.set(func(f *fakeFactory) { f.hang = true })
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	bounded(t, "close", func() bool { r.m.Close(sctx); return true })

	// When the stuck calls finally return, they are no longer counted.
	close(r.fake.release)
	r.poll(0, "stuck calls returned", func() bool { return value(mt.stuck) == 0 })
}

// hang_on_stop cannot hold up shutdown; the session keeps its intent so the next boot
// restores it.
func TestHangOnStopCannotHangShutdown(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) { o.StopTimeout = 50 * time.Millisecond })
	r.working("s", "15550001111")
	if err := r.net.SetFaults("acme", "s", config.SandboxFaults{HangOnStop: true}); err != nil {
		t.Fatal(err)
	}
	l := r.live("s")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bounded(t, "close", func() bool { r.m.Close(ctx); return true })
	if rec := l.snapshot(); rec.State != StateFailed || rec.Reason != "stop_timeout" || !rec.Running {
		t.Fatalf("after shutdown: %+v, want FAILED stop_timeout with the intent kept", rec)
	}
	if v := value(r.m.metrics.callTimeouts.WithLabelValues(opStop)); v != 1 {
		t.Errorf("stop timeouts = %v, want 1", v)
	}
	if v := value(r.m.metrics.callAbandoned.WithLabelValues(opStop)); v != 0 {
		t.Errorf("the sandbox honours its context, yet %v stops were abandoned", v)
	}
}

// Start/stop cycles, sends, hung stops, reconnects and shutdown leave no goroutine
// behind: the manager's loops, monitor, pings, reconnects and background stops all end.
func TestStartStopCyclesLeakNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(event.Options{Buffer: 1024})
	sub, _ := bus.Subscribe(event.Filter{Tenant: "acme"})
	net := sandbox.NewNetwork(sandboxCfg(), sandbox.StoreLinks{DB: db})
	m := NewManager(db, bus, Options{
		StartTimeout: 2 * time.Second, StopTimeout: 50 * time.Millisecond, SendTimeout: 50 * time.Millisecond,
		DefaultProvider: "sandbox", Pool: PoolOptions{MaxLive: 4, AdmissionQueue: 4, AdmissionTimeout: time.Second},
		QR: QRLimits{MaxCodes: 5, MaxAttemptsPerHour: 100},
		Health: HealthOptions{Enabled: true, Interval: 10 * time.Millisecond, UnresponsiveAfter: 30 * time.Millisecond,
			PingTimeout: 10 * time.Millisecond, SendTimeouts: 1, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond},
	}, net)
	if err := m.Restore(ctx, true); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, db: db, bus: bus, net: net, m: m, sub: sub}

	for i := range 5 {
		name := "s" + string(rune('0'+i))
		if _, err := m.Create(ctx, "acme", CreateInput{Name: name, Start: true}); err != nil {
			t.Fatal(err)
		}
		r.next(event.SessionQR, "")
		if _, err := net.Link("acme", name, ""); err != nil {
			t.Fatal(err)
		}
		r.next(event.SessionStatus, StateWorking)
		if _, err := m.Send(ctx, "acme", name, text("m")); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			m.Stop(ctx, "acme", name)
			m.Start(ctx, "acme", name)
		}
		m.Restart(ctx, "acme", name)
		// A send that times out declares the session dead: it is reconnected.
		net.SetFaults("acme", name, config.SandboxFaults{SilentDisconnect: true})
		m.Send(ctx, "acme", name, text("lost"))
		net.SetFaults("acme", name, config.SandboxFaults{HangOnStop: true})
		m.Stop(ctx, "acme", name) // bounded by StopTimeout
		net.SetFaults("acme", name, config.SandboxFaults{})
		if i%2 == 0 {
			m.Start(ctx, "acme", name)
		} else if err := m.Delete(ctx, "acme", name); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m.Close(cctx)
	net.Close()
	bus.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
