package session

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/provider"
)

func poolLive(m *Manager) int {
	live, _ := m.pool.stats()
	return live
}

func poolWaiting(m *Manager) int {
	_, waiting := m.pool.stats()
	return waiting
}

// Starts beyond max_live wait in the admission queue, get the slot a stop frees, are
// refused at once when the queue is full, and after admission_timeout otherwise.
func TestPoolAdmissionQueue(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) {
		o.Pool = PoolOptions{MaxLive: 2, AdmissionQueue: 1, AdmissionTimeout: 5 * time.Second}
	})
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c", "d"} {
		if _, err := r.m.Create(ctx, "acme", CreateInput{Name: n, Provider: "fake"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a", "b"} {
		if _, err := r.m.Start(ctx, "acme", n); err != nil {
			t.Fatalf("start %s: %v", n, err)
		}
	}
	if live := poolLive(r.m); live != 2 {
		t.Fatalf("live = %d, want 2", live)
	}

	started := make(chan error, 1)
	go func() { _, err := r.m.Start(ctx, "acme", "c"); started <- err }()
	r.poll(0, "c queued", func() bool { return poolWaiting(r.m) == 1 })

	// The queue (1) is full: d is refused at once.
	_, err := r.m.Start(ctx, "acme", "d")
	var full *PoolFullError
	if !errors.As(err, &full) || full.Limit != 2 || full.Tenant || full.Waited != 0 || !errors.Is(err, ErrPoolFull) {
		t.Fatalf("start beyond the queue: %v, want an immediate PoolFullError{2}", err)
	}
	if in := r.info("acme", "d"); in.Status != StateStopped {
		t.Errorf("a refused start changed the session: %s", in.Status)
	}

	// Stopping a frees its slot for c.
	if _, err := r.m.Stop(ctx, "acme", "a"); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("queued start: %v", err)
	}
	r.status("c", 0, is(StateWorking, ""))

	// d waits, and gives up after the admission timeout (fake clock).
	go func() { _, err := r.m.Start(ctx, "acme", "d"); started <- err }()
	r.poll(0, "d queued", func() bool { return poolWaiting(r.m) == 1 })
	r.clock.Advance(5 * time.Second)
	err = <-started
	if !errors.As(err, &full) || full.Waited != 5*time.Second || !strings.Contains(err.Error(), "waited 5s") {
		t.Fatalf("start after the admission timeout: %v", err)
	}
	for o, want := range map[string]float64{"admitted": 2, "waited": 1, "queue_full": 1, "timeout": 1} {
		if v := value(r.m.metrics.admissions.WithLabelValues(o)); v != want {
			t.Errorf("admissions{%s} = %v, want %v", o, v, want)
		}
	}

	// Logout and delete give slots back; a permanent failure too.
	if _, err := r.m.Logout(ctx, "acme", "b"); err != nil {
		t.Fatal(err)
	}
	if err := r.m.Delete(ctx, "acme", "c"); err != nil {
		t.Fatal(err)
	}
	if live := poolLive(r.m); live != 0 {
		t.Fatalf("live after logout and delete = %d, want 0", live)
	}
	r.fake.set(func(f *fakeFactory) {
		f.report = &provider.StatusEvent{Status: provider.StatusFailed, Reason: "temporary_ban"}
	})
	if _, err := r.m.Start(ctx, "acme", "d"); err != nil {
		t.Fatal(err)
	}
	r.status("d", 0, is(StateFailed, "temporary_ban"))
	r.poll(0, "the banned session's slot released", func() bool { return poolLive(r.m) == 0 })
}

// max_live_per_tenant keeps one tenant from taking the whole node.
func TestPoolPerTenantCap(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) {
		o.Pool = PoolOptions{MaxLive: 10, MaxLivePerTenant: 1}
	})
	ctx := context.Background()
	for _, tn := range []string{"acme", "other"} {
		for _, n := range []string{"x", "y"} {
			if _, err := r.m.Create(ctx, tn, CreateInput{Name: n, Provider: "fake"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := r.m.Start(ctx, "acme", "x"); err != nil {
		t.Fatal(err)
	}
	_, err := r.m.Start(ctx, "acme", "y")
	var full *PoolFullError
	if !errors.As(err, &full) || !full.Tenant || full.Limit != 1 {
		t.Fatalf("acme's second start: %v, want a per-tenant PoolFullError", err)
	}
	if _, err := r.m.Start(ctx, "other", "x"); err != nil {
		t.Fatalf("another tenant's start: %v", err)
	}
}

// A boot restore beyond max_live does not queue: the session is FAILED pool_full and
// the health monitor starts it once a slot frees.
func TestPoolRestoreBeyondTheCapIsRetried(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r := newClockRig(t, dir, nil)
	for _, n := range []string{"a", "b", "c"} {
		if _, err := r.m.Create(ctx, "acme", CreateInput{Name: n, Provider: "fake", Start: true}); err != nil {
			t.Fatal(err)
		}
	}
	r.close()

	r = newClockRig(t, dir, func(o *Options) {
		healthOpts(o)
		o.Pool = PoolOptions{MaxLive: 2}
	})
	var refused string
	for _, n := range []string{"a", "b", "c"} {
		if in := r.info("acme", n); in.Status == StateFailed {
			if in.Reason != ReasonPoolFull || !strings.Contains(in.Message, "session pool full") {
				t.Fatalf("%s: %+v, want FAILED pool_full with a message", n, in)
			}
			refused = n
		}
	}
	if refused == "" || value(r.m.metrics.restores.WithLabelValues("pool_full")) != 1 || value(r.m.metrics.restores.WithLabelValues("started")) != 2 {
		t.Fatalf("want one of three restores refused by the pool of 2; restores: started %v, pool_full %v",
			value(r.m.metrics.restores.WithLabelValues("started")), value(r.m.metrics.restores.WithLabelValues("pool_full")))
	}
	other := "a"
	if refused == "a" {
		other = "b"
	}
	if _, err := r.m.Stop(ctx, "acme", other); err != nil {
		t.Fatal(err)
	}
	r.status(refused, 250*time.Millisecond, is(StateWorking, ""))
	if live := poolLive(r.m); live != 2 {
		t.Fatalf("live = %d, want 2", live)
	}
}

// Boot restores are staggered: at most restore_concurrency at a time, the first ones
// at once, the rest spread over restore_window with jitter.
func TestRestoreIsStaggered(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r := newClockRig(t, dir, nil)
	const n = 12
	for i := range n {
		if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "s" + string(rune('a'+i)), Provider: "fake", Start: true}); err != nil {
			t.Fatal(err)
		}
	}
	r.close()

	r2 := buildClockRig(t, dir, func(o *Options) { o.RestoreConcurrency, o.RestoreWindow = 2, 10*time.Second })
	fake := r2.fake
	fake.set(func(f *fakeFactory) { f.startTakes = 300 * time.Millisecond }) // starts overlap in fake time
	// Restore returns once the first restore_concurrency starts were attempted; the
	// others follow in the background, and Ready waits for them.
	restored := make(chan error, 1)
	go func() { restored <- r2.m.Restore(ctx, true) }()
	var err error
	r2.poll(50*time.Millisecond, "restore", func() bool {
		select {
		case err = <-restored:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if r2.m.Ready() {
		t.Fatal("ready before the spread-out starts were attempted")
	}
	waiting := 0
	for _, l := range r2.m.allLives() {
		if rec := l.snapshot(); rec.State == StateStarting && rec.Reason == ReasonRestoring {
			waiting++
		}
	}
	if waiting == 0 {
		t.Error("no session shows STARTING restoring while waiting for its turn")
	}
	r2.poll(50*time.Millisecond, "ready", r2.m.Ready)
	got := fake.get()
	if got.starts != n {
		t.Fatalf("starts = %d, want %d", got.starts, n)
	}
	begin := got.startTimes[0]
	times := make([]time.Duration, n)
	for i, at := range got.startTimes {
		times[i] = at.Sub(begin)
	}
	slices.Sort(times)
	// No start comes before its slot (the fake clock only moves forward, so this holds
	// however the goroutines are scheduled); each comes soon after its slot opens.
	slot := 10 * time.Second / (n - 2)
	for k := 2; k < n; k++ {
		lo, hi := slot*time.Duration(k-2), slot*time.Duration(k-1)+time.Second
		if times[k] < lo || times[k] > hi {
			t.Errorf("start %d at %s, outside [%s, %s]; offsets %v", k, times[k], lo, hi, times)
		}
	}
	if early := slices.IndexFunc(times, func(d time.Duration) bool { return d >= slot }); early > 3 {
		t.Errorf("%d starts in the first %s, want at most 3 (2 at once, 1 jittered); offsets %v", early, slot, times)
	}
	if got.maxRunning > 2 {
		t.Errorf("%d starts ran at once, want at most 2", got.maxRunning)
	}
	if v := value(r2.m.metrics.restores.WithLabelValues("started")); v != n {
		t.Errorf("restores started = %v, want %d", v, n)
	}
}

func TestRestoreOffsets(t *testing.T) {
	cases := []struct {
		n, c   int
		window time.Duration
	}{{12, 2, 10 * time.Second}, {3, 8, time.Minute}, {20, 4, 0}, {1000, 8, time.Minute}}
	for _, tc := range cases {
		offs := restoreOffsets(tc.n, tc.c, tc.window)
		if len(offs) != tc.n {
			t.Fatalf("%+v: %d offsets", tc, len(offs))
		}
		for i, d := range offs {
			if i < tc.c || tc.window == 0 {
				if d != 0 {
					t.Errorf("%+v: offset %d = %s, want 0", tc, i, d)
				}
				continue
			}
			slot := tc.window / time.Duration(tc.n-tc.c)
			if lo, hi := slot*time.Duration(i-tc.c), slot*time.Duration(i-tc.c+1); d < lo || d >= hi {
				t.Errorf("%+v: offset %d = %s outside its slot [%s, %s)", tc, i, d, lo, hi)
			}
		}
	}
}
