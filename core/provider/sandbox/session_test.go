package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

func TestStopThenStart(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")

	// Acks pending at Stop never arrive.
	if _, err := p.Send(context.Background(), text("15557654321", "x")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	f.advance(time.Hour)
	rec.none()
	if _, err := p.Send(context.Background(), text("15557654321", "x")); !errors.Is(err, provider.ErrNotConnected) {
		t.Fatalf("Send after Stop: %v, want ErrNotConnected", err)
	}
	if _, ok, _ := f.links.LoadLink(context.Background(), "t1", "s1"); !ok {
		t.Fatal("Stop deleted the link")
	}

	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusConnecting, "")
	if st := rec.status(provider.StatusWorking, ""); st.Me.ID.Local != "15550001111" {
		t.Fatalf("Me = %+v", st.Me)
	}
	// Start on a running session does nothing.
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	rec.none()
	if _, err := p.Send(context.Background(), text("15557654321", "x")); err != nil {
		t.Fatalf("Send after restart: %v", err)
	}
}

func TestStopWhilePairing(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")
	f.advance(time.Hour)
	rec.none()
	if _, err := f.net.Link("t1", "s1", ""); !errors.Is(err, ErrNotPairing) {
		t.Fatalf("Link after Stop: %v", err)
	}
	// Start pairs again from the first code.
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	if q := rec.qr(); !q.ExpiresAt.Equal(f.clock.Now().Add(60 * time.Second)) {
		t.Fatalf("first code after restart expires at %s", q.ExpiresAt)
	}
}

func TestStopAndLogoutAreSafe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fixture, p provider.Provider, rec *recorder)
		stop  []provider.Status // what Stop, Stop, Logout, Logout report
	}{
		{"never started", func(*fixture, provider.Provider, *recorder) {}, []provider.Status{provider.StatusLoggedOut}},
		{"after failed pairing", func(f *fixture, p provider.Provider, rec *recorder) {
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec.status(provider.StatusPairing, "")
			for range 6 {
				rec.qr()
				f.advance(time.Minute)
			}
			rec.status(provider.StatusFailed, "qr_timeout")
		}, []provider.Status{provider.StatusStopped, provider.StatusLoggedOut}},
		{"after canceled Start", func(f *fixture, p provider.Provider, rec *recorder) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := p.Start(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Start with canceled ctx: %v", err)
			}
		}, []provider.Status{provider.StatusLoggedOut}},
		{"working", func(f *fixture, p provider.Provider, rec *recorder) {
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			rec.status(provider.StatusPairing, "")
			rec.qr()
			if _, err := f.net.Link("t1", "s1", ""); err != nil {
				t.Fatal(err)
			}
			rec.status(provider.StatusWorking, "")
		}, []provider.Status{provider.StatusStopped, provider.StatusLoggedOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			p, rec := f.session("t1", "s1")
			tc.setup(f, p, rec)
			for _, call := range []func(context.Context) error{p.Stop, p.Stop, p.Logout, p.Logout, p.Stop} {
				if err := call(context.Background()); err != nil {
					t.Fatalf("call: %v", err)
				}
			}
			for _, want := range tc.stop {
				rec.status(want, "")
			}
			rec.none()
			if _, ok, _ := f.links.LoadLink(context.Background(), "t1", "s1"); ok {
				t.Fatal("Logout kept the link")
			}
		})
	}
}

func TestLogoutThenPairAgain(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	if err := p.Logout(context.Background()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	rec.status(provider.StatusLoggedOut, "logout")
	if _, err := p.Send(context.Background(), text("15557654321", "x")); !errors.Is(err, provider.ErrLoggedOut) {
		t.Fatalf("Send after Logout: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if _, err := f.net.Link("t1", "s1", "15550001111"); err != nil {
		t.Fatalf("Link the same number again: %v", err)
	}
	rec.status(provider.StatusWorking, "")
}

func TestStartRespectsContext(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.session("t1", "s1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start: %v, want context.Canceled", err)
	}
	rec.none()

	// A link store that blocks until its context ends.
	blocking := &blockingStore{MemoryLinkStore: NewMemoryLinkStore()}
	n := NewNetwork(testConfig(), blocking, WithClock(f.clock))
	defer n.Close()
	p2, err := n.New(provider.Spec{Tenant: "t1", Session: "s1"}, rec.sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx = f.fakeTimeout(time.Second)
	wait := async(t, func() error { return p2.Start(ctx) })
	f.advance(time.Second)
	if err := wait(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start with a hanging store: %v, want DeadlineExceeded", err)
	}
	// Stop after the failed Start is fine.
	if err := p2.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.none()
}

type blockingStore struct{ *MemoryLinkStore }

func (b *blockingStore) LoadLink(ctx context.Context, _, _ string) (string, bool, error) {
	<-ctx.Done()
	return "", false, ctx.Err()
}

func TestReentrantSink(t *testing.T) {
	f := newFixture(t, testConfig())
	var p provider.Provider
	rec := newRecorder(t)
	var stopped atomic.Bool
	sink := func(ev provider.Event) {
		rec.sink(ev)
		// The session manager reacting to WORKING by calling back into the provider.
		if st, ok := ev.(provider.StatusEvent); ok && st.Status == provider.StatusWorking && !stopped.Swap(true) {
			if _, err := p.Send(context.Background(), text("15557654321", "from the sink")); err != nil {
				t.Errorf("Send from sink: %v", err)
			}
			if err := p.Stop(context.Background()); err != nil {
				t.Errorf("Stop from sink: %v", err)
			}
		}
	}
	p, err := f.net.New(provider.Spec{Tenant: "t1", Session: "s1"}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.net.Link("t1", "s1", ""); err != nil {
		t.Fatal(err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	rec.status(provider.StatusWorking, "")
	rec.status(provider.StatusStopped, "")
	f.advance(time.Hour)
	rec.none()
}

func TestNewValidation(t *testing.T) {
	f := newFixture(t, testConfig())
	for _, tc := range []struct {
		name string
		spec provider.Spec
		sink provider.Sink
		want error
	}{
		{"ok", provider.Spec{Tenant: "t", Session: "s"}, func(provider.Event) {}, nil},
		{"ok null config", provider.Spec{Tenant: "t", Session: "s", Config: []byte("null")}, func(provider.Event) {}, nil},
		{"ok empty config", provider.Spec{Tenant: "t", Session: "s", Config: []byte("{}")}, func(provider.Event) {}, nil},
		{"ok faults", provider.Spec{Tenant: "t", Session: "s", Config: []byte(`{"faults":{"send_failure_rate":0.5}}`)}, func(provider.Event) {}, nil},
		{"no tenant", provider.Spec{Session: "s"}, func(provider.Event) {}, errors.New("any")},
		{"no session", provider.Spec{Tenant: "t"}, func(provider.Event) {}, errors.New("any")},
		{"no sink", provider.Spec{Tenant: "t", Session: "s"}, nil, errors.New("any")},
		{"unknown field", provider.Spec{Tenant: "t", Session: "s", Config: []byte(`{"phone":"1"}`)}, func(provider.Event) {}, ErrInvalidConfig},
		{"bad json", provider.Spec{Tenant: "t", Session: "s", Config: []byte(`{`)}, func(provider.Event) {}, ErrInvalidConfig},
		{"bad faults", provider.Spec{Tenant: "t", Session: "s", Config: []byte(`{"faults":{"send_failure_rate":2}}`)}, func(provider.Event) {}, ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.net.New(tc.spec, tc.sink)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != nil && err == nil:
				t.Fatal("New succeeded")
			case tc.want != nil && tc.want.Error() != "any" && !errors.Is(err, tc.want):
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
		})
	}
	if got, _ := f.net.Faults("t", "s"); got.SendFailureRate != 0.5 {
		t.Fatalf("config faults not applied: %+v", got)
	}
	if f.net.Name() != "sandbox" {
		t.Fatalf("Name = %q", f.net.Name())
	}
}

func TestNewReplacesProvider(t *testing.T) {
	f := newFixture(t, testConfig())
	old, oldRec := f.linked("t1", "s1", "15550001111")
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{SendFailureRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Send(context.Background(), text("15557654321", "x")); err != nil && !errors.Is(err, ErrSendFailure) {
		t.Fatal(err)
	}
	p, rec := f.session("t1", "s1")
	if got, _ := f.net.Faults("t1", "s1"); got.SendFailureRate != 0.5 {
		t.Fatalf("new provider faults %+v, want the old one's", got)
	}
	if err := old.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start on the replaced provider: %v, want ErrClosed", err)
	}
	if _, err := old.Send(context.Background(), text("15557654321", "x")); !errors.Is(err, provider.ErrNotConnected) || !errors.Is(err, ErrClosed) {
		t.Fatalf("Send on the replaced provider: %v", err)
	}
	if err := old.Stop(context.Background()); err != nil {
		t.Fatalf("Stop on the replaced provider: %v", err)
	}
	// The number went with the old provider's run; the new one takes it back.
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusConnecting, "")
	rec.status(provider.StatusWorking, "")
	f.advance(time.Hour)
	oldRec.none()
}

func TestPhoneInUseAtStart(t *testing.T) {
	f := newFixture(t, testConfig())
	f.linked("t1", "a", "15550001111")
	if err := f.links.SaveLink(context.Background(), "t2", "b", "15550001111"); err != nil {
		t.Fatal(err)
	}
	p, rec := f.session("t2", "b")
	if err := p.Start(context.Background()); !errors.Is(err, ErrPhoneInUse) {
		t.Fatalf("Start: %v, want ErrPhoneInUse", err)
	}
	rec.none()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestClose(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	if _, err := p.Send(context.Background(), text("15557654321", "x")); err != nil {
		t.Fatal(err)
	}
	f.net.Close()
	f.net.Close()
	f.advance(time.Hour)
	rec.none()
	if err := p.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if err := p.Logout(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Logout after Close: %v", err)
	}
	if _, err := f.net.New(provider.Spec{Tenant: "t1", Session: "s2"}, rec.sink); !errors.Is(err, ErrClosed) {
		t.Fatalf("New after Close: %v", err)
	}
	if _, err := f.net.Link("t1", "s1", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Link after Close: %v", err)
	}
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetFaults after Close: %v", err)
	}
}

// settleGoroutines waits until the goroutine count is back to at most base.
func settleGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock func() clockwork.Clock
	}{
		{"fake clock", func() clockwork.Clock { return clockwork.NewFakeClock() }},
		{"real clock", func() clockwork.Clock { return clockwork.NewRealClock() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			cfg := testConfig()
			cfg.SendLatency = config.Duration(time.Millisecond)
			cfg.DeliveryDelay = config.Duration(time.Millisecond)
			cfg.ReadDelay = config.Duration(time.Hour)
			cfg.AutoLink = config.Duration(time.Hour)
			n := NewNetwork(cfg, nil, WithClock(tc.clock()))

			var sinks sync.WaitGroup
			sink := func(provider.Event) {}
			// A pairing session, a working one with acks pending, one stuck in a hung Stop
			// and one in a silent send, with contexts that never end: Close frees them.
			pairing, _ := n.New(provider.Spec{Tenant: "t", Session: "pairing"}, sink)
			if err := pairing.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			var working []provider.Provider
			for i := range 3 {
				p, _ := n.New(provider.Spec{Tenant: "t", Session: fmt.Sprint("w", i)}, sink)
				if err := p.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				if _, err := n.Link("t", fmt.Sprint("w", i), ""); err != nil {
					t.Fatal(err)
				}
				working = append(working, p)
			}
			if tc.name == "real clock" {
				if _, err := working[0].Send(context.Background(), text("15557654321", "x")); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.SetFaults("t", "w1", config.SandboxFaults{HangOnStop: true}); err != nil {
				t.Fatal(err)
			}
			if err := n.SetFaults("t", "w2", config.SandboxFaults{SilentDisconnect: true}); err != nil {
				t.Fatal(err)
			}
			stopCtx, sendCtx := newWatchedContext(), newWatchedContext()
			sinks.Add(2)
			go func() {
				defer sinks.Done()
				if err := working[1].Stop(stopCtx); !errors.Is(err, ErrClosed) {
					t.Errorf("hung Stop: %v, want ErrClosed", err)
				}
			}()
			go func() {
				defer sinks.Done()
				if _, err := working[2].Send(sendCtx, text("15557654321", "x")); !errors.Is(err, ErrClosed) {
					t.Errorf("silent Send: %v, want ErrClosed", err)
				}
			}()
			<-stopCtx.waiting
			<-sendCtx.waiting
			n.Close()
			sinks.Wait()
			settleGoroutines(t, base)
		})
	}
}

func TestConcurrentSends(t *testing.T) {
	cfg := testConfig()
	cfg.DeliveryDelay = 0
	cfg.ReadDelay = config.Duration(time.Second)
	f := newFixture(t, cfg)

	const sessions, senders, perSender = 4, 8, 50
	var ps []provider.Provider
	var recs []*recorder
	for i := range sessions {
		p, rec := f.linked("t", fmt.Sprint("s", i), fmt.Sprintf("1555000%04d", i))
		ps = append(ps, p)
		recs = append(recs, rec)
	}
	var wg sync.WaitGroup
	var sent atomic.Int64
	for i, p := range ps {
		for range senders {
			wg.Go(func() {
				for j := range perSender {
					// Every other message goes to the next sandbox number.
					to := "15557654321"
					if j%2 == 0 {
						to = fmt.Sprintf("1555000%04d", (i+1)%sessions)
					}
					if _, err := p.Send(context.Background(), text(to, "x")); err != nil {
						t.Errorf("Send: %v", err)
						return
					}
					sent.Add(1)
				}
			})
		}
		// Meanwhile: fault toggles, inbound messages and reads of the faults.
		wg.Go(func() {
			name := fmt.Sprint("s", i)
			for j := range perSender {
				if err := f.net.SetFaults("t", name, config.SandboxFaults{SendLatency: config.Duration(j % 2)}); err != nil {
					t.Errorf("SetFaults: %v", err)
				}
				if err := f.net.Inbound("t", name, chatid.MustParse("4915112345678"), "x"); err != nil {
					t.Errorf("Inbound: %v", err)
				}
				if _, err := f.net.Faults("t", name); err != nil {
					t.Errorf("Faults: %v", err)
				}
			}
		})
	}
	// Sends with a 1ns latency wait on the fake clock: keep it moving.
	stop := make(chan struct{})
	clockDone := make(chan struct{})
	go func() {
		defer close(clockDone)
		for {
			select {
			case <-stop:
				return
			default:
				f.clock.Advance(time.Nanosecond)
				runtime.Gosched()
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-clockDone
	if want := int64(sessions * senders * perSender); sent.Load() != want {
		t.Fatalf("%d sends, want %d", sent.Load(), want)
	}

	// Every send is delivered, then read.
	f.advance(time.Second)
	for i, rec := range recs {
		counts := map[string]int{}
		want := map[string]int{"delivered": senders * perSender, "read": senders * perSender, "message": senders*perSender/2 + perSender}
		for counts["delivered"] < want["delivered"] || counts["read"] < want["read"] || counts["message"] < want["message"] {
			switch ev := rec.take().(type) {
			case provider.AckEvent:
				counts[string(ev.Ack)]++
			case provider.MessageEvent:
				counts["message"]++
			default:
				t.Fatalf("session %d: unexpected %#v", i, ev)
			}
		}
		rec.none()
	}
}

// watchedContext never ends; waiting is closed once someone waits on it (calls Done).
type watchedContext struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func newWatchedContext() *watchedContext {
	return &watchedContext{Context: context.Background(), waiting: make(chan struct{})}
}

func (c *watchedContext) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}
