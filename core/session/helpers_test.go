package session

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/store"
)

// waitLimit bounds every wait of the tests below (real time): a deadline, not a sleep.
const waitLimit = 10 * time.Second

// clockRig is a manager on a fake clock, over the sandbox (on the same clock) and a
// scriptable fake provider.
type clockRig struct {
	t     *testing.T
	clock *clockwork.FakeClock
	db    *store.DB
	bus   *event.Bus
	net   *sandbox.Network
	fake  *fakeFactory
	m     *Manager
	sub   *event.Subscription
	opts  Options

	closeOnce sync.Once
}

// newClockRig builds the rig; edit changes the options before the manager is built.
// The manager is restored (and its health monitor started) before it returns.
func newClockRig(t *testing.T, dir string, edit func(*Options)) *clockRig {
	t.Helper()
	r := buildClockRig(t, dir, edit)
	if err := r.m.Restore(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	return r
}

// buildClockRig is newClockRig without the Restore.
func buildClockRig(t *testing.T, dir string, edit func(*Options)) *clockRig {
	t.Helper()
	clock := clockwork.NewFakeClockAt(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC))
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(event.Options{Buffer: 4096})
	sub, _ := bus.Subscribe(event.Filter{AllTenants: true})
	net := sandbox.NewNetwork(sandboxCfg(), sandbox.StoreLinks{DB: db}, sandbox.WithClock(clock))
	fake := newFakeFactory(clock)
	o := Options{
		StartTimeout: 2 * time.Second, StopTimeout: 200 * time.Millisecond, SendTimeout: 2 * time.Second,
		DefaultProvider: "sandbox", Clock: clock,
		MaxSessions: func(context.Context, string) (int, error) { return 100, nil },
	}
	if edit != nil {
		edit(&o)
	}
	r := &clockRig{t: t, clock: clock, db: db, bus: bus, net: net, fake: fake, sub: sub, opts: o}
	r.m = NewManager(db, bus, o, net, fake)
	t.Cleanup(r.close)
	return r
}

func (r *clockRig) close() {
	r.closeOnce.Do(func() {
		r.m.Close(context.Background())
		r.net.Close()
		r.bus.Close()
		r.db.Close()
	})
}

// poll waits until cond holds, advancing the fake clock by step between checks.
func (r *clockRig) poll(step time.Duration, what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not within %s of real time (fake clock at %s)", what, waitLimit, r.clock.Now().Format(time.TimeOnly))
		}
		if step > 0 {
			r.clock.Advance(step)
		}
		time.Sleep(time.Millisecond) // let the manager's goroutines run between steps
	}
}

// status waits for the next session.status of session name matching match, advancing
// the fake clock by step meanwhile; events of other kinds and sessions are skipped.
func (r *clockRig) status(name string, step time.Duration, match func(StatusPayload) bool) StatusPayload {
	r.t.Helper()
	var got StatusPayload
	r.poll(step, "session.status of "+name, func() bool {
		for {
			select {
			case env := <-r.sub.C():
				if env.Event != event.SessionStatus || env.Session != name {
					continue
				}
				var p StatusPayload
				json.Unmarshal(env.Payload, &p)
				if match(p) {
					got = p
					return true
				}
			default:
				return false
			}
		}
	})
	return got
}

// is matches a status and, when reason is not "", its reason.
func is(st State, reason string) func(StatusPayload) bool {
	return func(p StatusPayload) bool { return p.Status == st && (reason == "" || p.Reason == reason) }
}

// working creates a linked sandbox session and waits for it to be WORKING.
func (r *clockRig) working(name, phone string) {
	r.t.Helper()
	if _, err := r.m.Create(context.Background(), "acme", CreateInput{Name: name, Start: true}); err != nil {
		r.t.Fatal(err)
	}
	r.status(name, 0, is(StateScanQR, ""))
	if _, err := r.net.Link("acme", name, phone); err != nil {
		r.t.Fatal(err)
	}
	r.status(name, 0, is(StateWorking, ""))
}

func (r *clockRig) live(name string) *live {
	r.t.Helper()
	l, err := r.m.lookup("acme", name)
	if err != nil {
		r.t.Fatal(err)
	}
	return l
}

func (r *clockRig) info(tenant, name string) Info {
	r.t.Helper()
	in, err := r.m.Get(context.Background(), tenant, name)
	if err != nil {
		r.t.Fatal(err)
	}
	return in
}

func text(id string) provider.Outbound {
	return provider.Outbound{ID: id, ChatID: chatid.MustParse("15550009999"), Kind: provider.KindText, Text: id}
}

// value reads a counter or gauge.
func value(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// fakeFactory builds scriptable providers of kind "fake". By default Start reports
// WORKING at once and every call honours its context.
type fakeFactory struct {
	clock clockwork.Clock

	mu sync.Mutex
	// starts counts Start calls; startTimes records when (fake clock) each began.
	starts     int
	startTimes []time.Time
	running    int // Start calls in progress
	maxRunning int
	// onStart, when set, decides a Start: its error fails it; report says what the
	// provider reports on success (nil: WORKING).
	onStart func(n int) error
	report  *provider.StatusEvent
	// startTakes makes Start wait this long on the fake clock.
	startTakes time.Duration
	// hang makes Stop, Logout and Send block, ignoring their context, until release
	// is closed.
	hang    bool
	release chan struct{}
	built   []*fakeProvider
}

func newFakeFactory(clock clockwork.Clock) *fakeFactory {
	return &fakeFactory{clock: clock, release: make(chan struct{})}
}

func (f *fakeFactory) Name() string { return "fake" }

func (f *fakeFactory) New(spec provider.Spec, sink provider.Sink) (provider.Provider, error) {
	p := &fakeProvider{f: f, sink: sink, spec: spec}
	f.mu.Lock()
	f.built = append(f.built, p)
	f.mu.Unlock()
	return p, nil
}

func (f *fakeFactory) set(fn func(f *fakeFactory)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeFactory) get() fakeFactory {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeFactory{starts: f.starts, startTimes: append([]time.Time(nil), f.startTimes...), maxRunning: f.maxRunning}
}

type fakeProvider struct {
	f    *fakeFactory
	spec provider.Spec
	sink provider.Sink
}

func (p *fakeProvider) Start(ctx context.Context) error {
	f := p.f
	f.mu.Lock()
	f.starts++
	n := f.starts
	f.startTimes = append(f.startTimes, f.clock.Now())
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	onStart, report, takes := f.onStart, f.report, f.startTakes
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if takes > 0 {
		select {
		case <-f.clock.After(takes):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if onStart != nil {
		if err := onStart(n); err != nil {
			return err
		}
	}
	ev := provider.StatusEvent{Status: provider.StatusWorking, Me: &provider.Account{ID: chatid.MustParse("15550001000")}}
	if report != nil {
		ev = *report
	}
	p.sink(provider.StatusEvent{Status: provider.StatusConnecting})
	p.sink(ev)
	return nil
}

func (p *fakeProvider) wait(ctx context.Context) error {
	p.f.mu.Lock()
	hang := p.f.hang
	p.f.mu.Unlock()
	if hang {
		<-p.f.release // ignores ctx: the misbehaving provider the timeout handler guards against
	}
	return ctx.Err()
}

func (p *fakeProvider) Stop(ctx context.Context) error {
	if err := p.wait(ctx); err != nil {
		return err
	}
	p.sink(provider.StatusEvent{Status: provider.StatusStopped})
	return nil
}

func (p *fakeProvider) Logout(ctx context.Context) error { return p.wait(ctx) }

func (p *fakeProvider) Send(ctx context.Context, msg provider.Outbound) (provider.SendResult, error) {
	if err := p.wait(ctx); err != nil {
		return provider.SendResult{}, err
	}
	return provider.SendResult{ProviderID: "fake-" + msg.ID}, nil
}

func (p *fakeProvider) RequestPairingCode(context.Context, string) (string, error) {
	return "", provider.ErrNotPairing
}

var errFakeStart = errors.New("fake start failure")
