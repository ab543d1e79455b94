package goplugin

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// A plugin whose process dies in the middle of a call: the call fails and the default
// answers, calls fail at once while the process is down, it is restarted after the
// backoff, and later calls reach the new process.
func TestHostileCrash(t *testing.T) {
	for _, tc := range []struct{ name, text, output string }{
		{"os.Exit", "crash", "crashing on purpose"},
		{"panic in a goroutine", "crash-goroutine", "goroutine panic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const backoff = 300 * time.Millisecond
			rt, rec, logs := newRuntime(t, Options{RestartBackoff: backoff, MaxRestartBackoff: time.Second}, bin("router"))
			p := open(t, rt, "acme", "router", `{}`)
			c, fs := chainOf(t, "acme", p, time.Second)
			old := p.PID()

			if d := c.Route(ctx, routeIn(tc.text)); d.Session != "s2" {
				t.Fatalf("crashing call: got %q, want the default's s2", d.Session)
			}
			f := fs.list()
			if len(f) != 1 || f[0].Reason != policy.ReasonError || !errors.Is(f[0].Err, ErrCrashed) {
				t.Fatalf("failures %+v, want one ErrCrashed", f)
			}
			lost, next := rec.wait(t, 0, "lost")
			if lost.PID != old || lost.Delay != backoff {
				t.Errorf("lost %+v, want pid %d and the first backoff %s", lost, old, backoff)
			}

			// Down: fail fast, the default answers.
			start := time.Now()
			if d := c.Route(ctx, routeIn("hi")); d.Session != "s2" {
				t.Fatalf("call while down: got %q, want the default's s2", d.Session)
			}
			if took := time.Since(start); took > backoff/2 {
				t.Errorf("a call while down took %s: it should fail at once", took)
			}
			if f := fs.list(); len(f) != 2 || !errors.Is(f[1].Err, ErrUnavailable) {
				t.Fatalf("failures %+v, want ErrUnavailable second", f)
			}

			gone(t, old)
			started, _ := rec.wait(t, next, "started")
			if after := started.At.Sub(lost.At); after < backoff {
				t.Errorf("restarted %s after the crash, before the backoff of %s", after, backoff)
			}
			waitUntil(t, "restarted", func() bool { return p.PID() != 0 })
			if p.PID() == old || p.Restarts() != 1 {
				t.Errorf("pid %d (was %d), %d restarts", p.PID(), old, p.Restarts())
			}
			if d := c.Route(ctx, routeIn("hi")); d.Session != "s1" {
				t.Fatalf("after the restart: got %q, want the plugin's s1", d.Session)
			}
			if n := len(fs.list()); n != 2 {
				t.Errorf("%d failures, want 2", n)
			}
			waitUntil(t, "the crash logged with the plugin's output", func() bool {
				s := logs.String()
				return strings.Contains(s, "go-plugin process crashed") && strings.Contains(s, tc.output)
			})
		})
	}
}

// Losses in a row double the wait before the restart, up to the cap; a successful call
// starts the backoff afresh.
func TestHostileRestartBackoff(t *testing.T) {
	rt, rec, _ := newRuntime(t, Options{RestartBackoff: 10 * time.Millisecond, MaxRestartBackoff: 80 * time.Millisecond}, bin("router"))
	p := open(t, rt, "acme", "router", `{}`)
	crash := func() time.Duration {
		t.Helper()
		waitUntil(t, "up", func() bool { return p.PID() != 0 })
		n := len(rec.all())
		if _, err := p.Route(ctx, routeIn("crash")); !errors.Is(err, ErrCrashed) {
			t.Fatalf("got %v, want ErrCrashed", err)
		}
		ev, _ := rec.wait(t, n, "lost")
		return ev.Delay
	}
	var got []time.Duration
	for range 6 {
		got = append(got, crash())
	}
	want := []time.Duration{10, 20, 40, 80, 80, 80}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !equalDurations(got, want) {
		t.Fatalf("backoffs %v, want %v", got, want)
	}
	waitUntil(t, "up", func() bool { return p.PID() != 0 })
	if _, err := p.Route(ctx, routeIn("hi")); err != nil {
		t.Fatal(err)
	}
	if d := crash(); d != 10*time.Millisecond {
		t.Errorf("after a successful call the backoff is %s, want 10ms", d)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A binary changed on disk after it was loaded is refused at the restart, again at
// every attempt, and started again once the pinned file is back.
func TestHostileRestartChecksBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router")
	copyFile(t, testBin, path, 0o700)
	b := Binary{Name: "router", Path: path, SHA256: testSum}
	rt, rec, _ := newRuntime(t, Options{RestartBackoff: 10 * time.Millisecond, MaxRestartBackoff: 40 * time.Millisecond}, b)
	p := open(t, rt, "acme", "router", `{}`)

	// Replaced (a running executable cannot be written to): a new file at the path.
	tmp := path + ".new"
	copyFile(t, testBin, tmp, 0o700)
	f, err := os.OpenFile(tmp, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("tampered"))
	_ = f.Close()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Route(ctx, routeIn("crash")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("got %v, want ErrCrashed", err)
	}
	ev, next := rec.wait(t, 0, "restart-failed")
	if !errors.Is(ev.Err, ErrChecksum) {
		t.Fatalf("restart failed with %v, want ErrChecksum", ev.Err)
	}
	ev, _ = rec.wait(t, next, "restart-failed")
	if !errors.Is(ev.Err, ErrChecksum) || ev.Delay <= 10*time.Millisecond {
		t.Fatalf("second attempt: %+v, want ErrChecksum and a longer backoff", ev)
	}
	if _, err := p.Route(ctx, routeIn("hi")); !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrChecksum) {
		t.Fatalf("call while refused: %v, want ErrUnavailable naming the checksum", err)
	}

	copyFile(t, testBin, tmp, 0o700)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "restarted with the pinned binary", func() bool { return p.PID() != 0 })
	if d, err := p.Route(ctx, routeIn("hi")); err != nil || d.Session != "s1" {
		t.Fatalf("after the restart: %+v, %v", d, err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A hook that panics is reported as a panic; the SDK recovers it and the process
// lives on.
func TestHostileHookPanic(t *testing.T) {
	rt, rec, _ := newRuntime(t, Options{}, bin("router"))
	p := open(t, rt, "acme", "router", `{}`)
	c, fs := chainOf(t, "acme", p, time.Second)
	pid := p.PID()
	if d := c.Route(ctx, routeIn("panic")); d.Session != "s2" {
		t.Fatalf("got %q, want the default's s2", d.Session)
	}
	if f := fs.list(); len(f) != 1 || f[0].Reason != policy.ReasonPanic || !strings.Contains(f[0].Err.Error(), "hook panic") {
		t.Fatalf("failures %+v, want one panic", f)
	}
	if d := c.Route(ctx, routeIn("hi")); d.Session != "s1" || p.PID() != pid || rec.count("lost") != 0 {
		t.Fatalf("after the panic: %q, pid %d (was %d), %d losses", d.Session, p.PID(), pid, rec.count("lost"))
	}
}

// A hook that never returns: each call ends at its deadline and the default answers;
// HungAfter timeouts in a row get the process killed and restarted.
func TestHostileHang(t *testing.T) {
	const budget = 100 * time.Millisecond
	rt, rec, _ := newRuntime(t, Options{HungAfter: 2}, bin("router"))
	p := open(t, rt, "acme", "router", `{}`)
	c, fs := chainOf(t, "acme", p, budget)
	pid := p.PID()

	for i := range 2 {
		start := time.Now()
		if d := c.Route(ctx, routeIn("hang")); d.Session != "s2" {
			t.Fatalf("hanging call %d: got %q, want the default's s2", i, d.Session)
		}
		if took := time.Since(start); took < budget || took > budget+time.Second {
			t.Errorf("hanging call %d took %s, budget %s", i, took, budget)
		}
		f := fs.list()
		if len(f) != i+1 || f[i].Reason != policy.ReasonTimeout {
			t.Fatalf("failures %+v, want %d timeouts", f, i+1)
		}
		if i == 0 && (p.PID() != pid || rec.count("lost") != 0) {
			t.Fatalf("killed after one timeout (HungAfter 2)")
		}
	}
	lost, _ := rec.wait(t, 0, "lost")
	if !errors.Is(lost.Err, ErrHung) || lost.PID != pid {
		t.Fatalf("lost %+v, want pid %d hung", lost, pid)
	}
	gone(t, pid)
	waitUntil(t, "restarted", func() bool { return p.PID() != 0 })
	if d := c.Route(ctx, routeIn("hi")); d.Session != "s1" {
		t.Fatalf("after the restart: got %q, want s1", d.Session)
	}
}

// Answers of the wrong shape are bad outputs: a response that does not decode, a
// session that is not a candidate, an action the contract does not have.
func TestHostileWrongOutput(t *testing.T) {
	t.Run("response of another message type", func(t *testing.T) {
		rt, _, _ := newRuntime(t, Options{}, bin("wire", "TESTPLUGIN_MODE=wire"))
		p := open(t, rt, "acme", "wire", `{}`)
		c, fs := chainOf(t, "acme", p, time.Second)
		if d := c.Route(ctx, routeIn("hi")); d.Session != "s2" {
			t.Fatalf("route: got %q, want the default's s2", d.Session)
		}
		if d := c.Rate(ctx, policy.RateInput{Now: now, Session: cands[0]}); d.Action != policy.RateAllow {
			t.Fatalf("rate: got %+v, want allow (no default)", d)
		}
		ev := transformIn()
		if r := c.Transform(ctx, ev); r.Drop || string(r.Event.Payload) != string(ev.Event.Payload) {
			t.Fatalf("transform: got %+v, want the event unchanged", r)
		}
		f := fs.list()
		if len(f) != 3 {
			t.Fatalf("failures %+v, want three bad outputs", f)
		}
		for _, x := range f {
			if x.Reason != policy.ReasonBadOutput {
				t.Errorf("%s: reason %s (%v), want bad_output", x.Hook, x.Reason, x.Err)
			}
		}
		if p.PID() == 0 {
			t.Error("a bad output should not take the process down")
		}
	})
	rt, _, _ := newRuntime(t, Options{}, bin("router"))
	p := open(t, rt, "acme", "router", `{}`)
	c, fs := chainOf(t, "acme", p, time.Second)
	if d := c.Route(ctx, routeIn("not-candidate")); d.Session != "s2" {
		t.Fatalf("not a candidate: got %q, want the default's s2", d.Session)
	}
	if d := c.Failover(ctx, policy.FailoverInput{Now: now, Error: policy.Error{Code: "bad-action"}, Attempt: 1, Candidates: cands}); d.Action != policy.FailoverNoOpinion {
		t.Fatalf("unknown action: got %+v, want no decision", d)
	}
	f := fs.list()
	if len(f) != 2 || f[0].Reason != policy.ReasonBadOutput || f[1].Reason != policy.ReasonBadOutput {
		t.Fatalf("failures %+v, want two bad outputs", f)
	}
}

// While tenant A's plugin hangs on every call, tenant B's plugin (the same binary, its
// own process) answers every call.
func TestHostileTenantIsolation(t *testing.T) {
	rt, _, _ := newRuntime(t, Options{HungAfter: 1 << 30}, bin("router"))
	a := open(t, rt, "tenant-a", "router", `{}`)
	b := open(t, rt, "tenant-b", "router", `{}`)
	ca, fa := chainOf(t, "tenant-a", a, 50*time.Millisecond)
	cb, fb := chainOf(t, "tenant-b", b, time.Second)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var hung atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ca.Route(ctx, routeIn("hang"))
				hung.Add(1)
			}
		}()
	}
	waitUntil(t, "tenant A's calls hanging", func() bool { return hung.Load() >= 4 })
	for i := range 300 {
		if d := cb.Route(ctx, routeIn("hi")); d.Session != "s1" {
			t.Fatalf("tenant B call %d: got %q, want its plugin's s1 (failures %+v)", i, d.Session, fb.list())
		}
	}
	close(stop)
	wg.Wait()
	if f := fb.list(); len(f) != 0 {
		t.Errorf("tenant B failures: %+v", f)
	}
	for _, f := range fa.list() {
		if f.Reason != policy.ReasonTimeout {
			t.Fatalf("tenant A failure %+v, want timeouts only", f)
		}
	}
	if hung.Load() < 4 || len(fa.list()) == 0 {
		t.Fatalf("tenant A made %d calls", hung.Load())
	}
}

// Close during calls lets them end (within their budget), then kills the process.
func TestCloseDuringCalls(t *testing.T) {
	rt, _, _ := newRuntime(t, Options{HungAfter: 1 << 30}, bin("router"))
	p := open(t, rt, "acme", "router", `{}`)
	pid := p.PID()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	started := make(chan struct{}, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			started <- struct{}{}
			_, err := p.Route(cctx, routeIn("hang"))
			errs <- err
		}()
	}
	for range 4 {
		<-started
	}
	waitUntil(t, "calls in flight", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.inflight == 4
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	gone(t, pid)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, policy.ErrTimeout) {
			t.Errorf("call in flight at Close: %v, want its timeout", err)
		}
	}
}
