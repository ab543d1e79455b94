package session

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

// healthOpts turns the monitor on with short (fake-clock) periods; ping deadlines are
// real time, and short.
func healthOpts(o *Options) {
	o.Health = HealthOptions{Enabled: true, Interval: time.Second, UnresponsiveAfter: 3 * time.Second,
		PingTimeout: 20 * time.Millisecond, SendTimeouts: 3, BackoffBase: time.Second, BackoffMax: 4 * time.Second}
}

var announced = regexp.MustCompile(`reconnecting in ([0-9.]+m?s) \(attempt ([0-9]+)\)`)

// The sandbox's silent_disconnect leaves a session WORKING but dead: pings get no
// answer. The monitor declares it unresponsive, reconnects it with growing, capped,
// jittered delays while the fault lasts, and the session recovers once it is gone.
func TestHealthReconnectsASilentlyDisconnectedSession(t *testing.T) {
	r := newClockRig(t, t.TempDir(), healthOpts)
	r.working("s", "15550001111")
	m := r.m.metrics

	// Healthy: pinged when quiet, never declared dead.
	r.poll(250*time.Millisecond, "pings of a healthy session", func() bool { return value(m.pings.WithLabelValues("ok")) >= 3 })
	if n := value(m.unresponsive.WithLabelValues(causeSilence)); n != 0 {
		t.Fatalf("healthy session declared dead %v times", n)
	}

	if err := r.net.SetFaults("acme", "s", config.SandboxFaults{SilentDisconnect: true}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 4; attempt++ {
		p := r.status("s", 100*time.Millisecond, is(StateStarting, ReasonUnresponsive))
		match := announced.FindStringSubmatch(p.Message)
		if match == nil || !strings.Contains(p.Message, "no sign of life") {
			t.Fatalf("attempt %d: message %q does not announce the reconnect", attempt, p.Message)
		}
		delay, _ := time.ParseDuration(match[1])
		if n, _ := strconv.Atoi(match[2]); n != attempt {
			t.Fatalf("announced attempt %s, want %d (the count resets only on traffic)", match[2], attempt)
		}
		nominal := min(time.Second<<(attempt-1), 4*time.Second)
		if delay < nominal/2 || delay > nominal {
			t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, delay, nominal/2, nominal)
		}
		// The reconnect starts a new provider: under the fault it answers WORKING again.
		r.status("s", 100*time.Millisecond, is(StateWorking, ""))
	}
	if n := value(m.unresponsive.WithLabelValues(causeSilence)); n < 4 {
		t.Fatalf("declared dead %v times, want 4", n)
	}

	// The fault goes: the next reconnect sticks, pings answer, the count resets.
	r.net.SetFaults("acme", "s", config.SandboxFaults{})
	l := r.live("s")
	r.poll(100*time.Millisecond, "attempts reset by a successful ping", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.h.attempts == 0 && l.h.job == nil && l.rec.State == StateWorking
	})
	gen := l.currentGen()
	deaths := value(m.unresponsive.WithLabelValues(causeSilence))
	for range 50 { // 50 more pings answered: the session stays up
		before := value(m.pings.WithLabelValues("ok"))
		r.poll(250*time.Millisecond, "the next ping", func() bool { return value(m.pings.WithLabelValues("ok")) > before })
	}
	if l.currentGen() != gen || value(m.unresponsive.WithLabelValues(causeSilence)) != deaths {
		t.Fatal("a recovered session was reconnected again")
	}
	if _, err := r.m.Send(context.Background(), "acme", "s", text("after")); err != nil {
		t.Fatalf("send after recovery: %v", err)
	}
	if v := value(m.reconnects.WithLabelValues("started")); v != 4 {
		t.Fatalf("reconnects started = %v, want 4", v)
	}
}

// Sends timing out in a row declare a session dead without waiting for the silence
// threshold; the session comes back and sends again once the fault is gone.
func TestHealthSendTimeoutsDeclareASessionDead(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) {
		healthOpts(o)
		o.SendTimeout = 30 * time.Millisecond
		o.Health.UnresponsiveAfter = time.Hour // only the send timeouts can condemn it here
	})
	r.working("s", "15550001111")
	r.net.SetFaults("acme", "s", config.SandboxFaults{SilentDisconnect: true})
	for i := range 3 {
		_, err := r.m.Send(context.Background(), "acme", "s", text("m"+strconv.Itoa(i)))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("send %d under silent_disconnect: %v, want a timeout", i, err)
		}
	}
	p := r.status("s", 0, is(StateStarting, ReasonUnresponsive))
	if !strings.Contains(p.Message, "3 sends in a row timed out") {
		t.Fatalf("message %q does not name the cause", p.Message)
	}
	if v := value(r.m.metrics.callTimeouts.WithLabelValues(opSend)); v != 3 {
		t.Errorf("send timeouts counted: %v, want 3", v)
	}
	r.net.SetFaults("acme", "s", config.SandboxFaults{})
	r.status("s", 100*time.Millisecond, is(StateWorking, ""))
	if _, err := r.m.Send(context.Background(), "acme", "s", text("back")); err != nil {
		t.Fatalf("send after the reconnect: %v", err)
	}
	if v := value(r.m.metrics.unresponsive.WithLabelValues(causeSendTimeouts)); v != 1 {
		t.Errorf("declared dead by send timeouts %v times, want 1", v)
	}
}

// Permanent causes (a ban, a logout from the phone) are not retried, and the status
// says so.
func TestHealthLeavesPermanentCausesAlone(t *testing.T) {
	r := newClockRig(t, t.TempDir(), healthOpts)
	r.working("banned", "15550001111")
	r.working("unlinked", "15550002222")
	m := r.m.metrics

	r.net.SetFaults("acme", "banned", config.SandboxFaults{TempBan: true})
	p := r.status("banned", 0, is(StateFailed, "temporary_ban"))
	if !strings.Contains(p.Message, "not reconnecting") || !strings.Contains(p.Message, "ban") {
		t.Fatalf("ban message %q does not say it is not retried", p.Message)
	}
	r.net.SetFaults("acme", "unlinked", config.SandboxFaults{LoggedOut: true})
	p = r.status("unlinked", 0, is(StateLoggedOut, "logged_out_from_phone"))
	if !strings.Contains(p.Message, "not reconnecting") || !strings.Contains(p.Message, "pair again") {
		t.Fatalf("logout message %q does not say what to do", p.Message)
	}

	gens := map[string]uint64{"banned": r.live("banned").currentGen(), "unlinked": r.live("unlinked").currentGen()}
	for range 10 * 60 { // ten minutes of fake time: many monitor passes and backoff periods
		r.clock.Advance(time.Second)
	}
	r.poll(0, "monitor passes", func() bool { return true })
	for name, gen := range gens {
		if r.live(name).currentGen() != gen {
			t.Errorf("%s: the provider was replaced; a permanent cause was retried", name)
		}
	}
	if v := value(m.reconnects.WithLabelValues("started")) + value(m.reconnects.WithLabelValues("failed")); v != 0 {
		t.Errorf("%v reconnects for permanent causes", v)
	}
	if v := value(m.notRetried.WithLabelValues("temporary_ban")); v != 1 {
		t.Errorf("not_retried{temporary_ban} = %v, want 1", v)
	}
	if in := r.info("acme", "banned"); in.Status != StateFailed || in.Message == "" {
		t.Errorf("banned session shows %+v", in)
	}
	// The ban lifts: the sandbox reports WORKING again by itself.
	r.net.SetFaults("acme", "banned", config.SandboxFaults{})
	r.status("banned", 0, is(StateWorking, ""))
}

// A start that fails for a cause that may pass is retried with backoff until it
// works; a session stuck connecting is reconnected; MaxReconnects gives up.
func TestHealthRetriesTransientFailures(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) { healthOpts(o); o.Health.MaxReconnects = 3 })
	ctx := context.Background()
	f := r.fake
	f.set(func(f *fakeFactory) {
		f.onStart = func(n int) error {
			if n <= 2 {
				return errFakeStart
			}
			return nil
		}
	})
	info, err := r.m.Create(ctx, "acme", CreateInput{Name: "flaky", Provider: "fake", Start: true})
	if !errors.Is(err, ErrStartFailed) || info.Status != StateFailed || info.Reason != "start_failed" {
		t.Fatalf("first start: %+v, %v", info, err)
	}
	r.status("flaky", 100*time.Millisecond, is(StateWorking, ""))
	if n := f.get().starts; n != 3 {
		t.Fatalf("starts = %d, want 3 (two failures, then success)", n)
	}
	if v := value(r.m.metrics.reconnects.WithLabelValues("failed")); v != 1 {
		t.Errorf("reconnects failed = %v, want 1", v)
	}

	// Stuck connecting: the provider says CONNECTING and nothing more.
	f.set(func(f *fakeFactory) {
		f.onStart = nil
		f.report = &provider.StatusEvent{Status: provider.StatusConnecting, Reason: "disconnected"}
	})
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "stuck", Provider: "fake", Start: true}); err != nil {
		t.Fatal(err)
	}
	p := r.status("stuck", 250*time.Millisecond, is(StateStarting, ReasonUnresponsive))
	if !strings.Contains(p.Message, "still connecting") {
		t.Fatalf("message %q", p.Message)
	}
	// Three reconnects that never get further, then the monitor gives up.
	p = r.status("stuck", 250*time.Millisecond, func(p StatusPayload) bool { return p.Status == StateFailed })
	if p.Reason != ReasonUnresponsive || !strings.Contains(p.Message, "gave up after 3") {
		t.Fatalf("after max_reconnects: %+v", p)
	}
	starts := f.get().starts
	for range 10 * 60 {
		r.clock.Advance(time.Second)
	}
	r.poll(0, "", func() bool { return true })
	if f.get().starts != starts {
		t.Fatalf("%d more starts after giving up", f.get().starts-starts)
	}
	// An operator start tries again.
	f.set(func(f *fakeFactory) { f.report = nil })
	if info, err := r.m.Start(ctx, "acme", "stuck"); err != nil || !info.Status.running() {
		t.Fatalf("start after giving up: %+v, %v", info, err)
	}
	r.status("stuck", 0, is(StateWorking, ""))
}

// An operator action cancels a pending reconnect.
func TestHealthOperatorStopCancelsTheReconnect(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) { healthOpts(o); o.Health.BackoffBase = time.Hour; o.Health.BackoffMax = time.Hour })
	r.working("s", "15550001111")
	r.net.SetFaults("acme", "s", config.SandboxFaults{SilentDisconnect: true})
	r.status("s", 250*time.Millisecond, is(StateStarting, ReasonUnresponsive))
	if _, err := r.m.Stop(context.Background(), "acme", "s"); err != nil {
		t.Fatal(err)
	}
	l := r.live("s")
	r.poll(0, "the reconnect ends", func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.h.job == nil })
	r.clock.Advance(2 * time.Hour)
	r.poll(0, "", func() bool { return true })
	if in := r.info("acme", "s"); in.Status != StateStopped {
		t.Fatalf("stopped session is %s after its cancelled reconnect's delay", in.Status)
	}
}

func TestLost(t *testing.T) {
	for _, c := range []struct {
		st     State
		reason string
		lost   bool
	}{
		{StateLoggedOut, "logged_out_from_phone", true},
		{StateFailed, "temporary_ban", true},
		{StateFailed, "auth_failed", true},
		{StateFailed, "stream_replaced", true},
		{StateFailed, "stop_timeout", false},    // the operator's stop going wrong
		{StateFailed, "connect_failure", false}, // transient: the health monitor retries
		{StateWorking, "temporary_ban", false},
	} {
		if got := Lost(c.st, c.reason); got != c.lost {
			t.Errorf("Lost(%s, %s) = %v, want %v", c.st, c.reason, got, c.lost)
		}
	}
}
