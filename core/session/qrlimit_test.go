package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
)

// pairUntilLimited pumps the fake clock until session name is FAILED qr_limit and
// returns that status and the QR codes published meanwhile.
func (r *clockRig) pairUntilLimited(name string) (StatusPayload, int) {
	r.t.Helper()
	codes := 0
	var failed StatusPayload
	r.poll(5*time.Second, "FAILED qr_limit", func() bool {
		for {
			select {
			case env := <-r.sub.C():
				if env.Session != name {
					continue
				}
				switch env.Event {
				case event.SessionQR:
					codes++
				case event.SessionStatus:
					var p StatusPayload
					json.Unmarshal(env.Payload, &p)
					if p.Status == StateFailed {
						if p.Reason != ReasonQRLimit {
							r.t.Fatalf("FAILED %s, want qr_limit", p.Reason)
						}
						failed = p
						return true
					}
				}
			default:
				return false
			}
		}
	})
	return failed, codes
}

// The sandbox's endless_qr fault rotates QR codes for ever. The limiter stops the
// session after max_codes codes, FAILED qr_limit with how to retry; past
// max_attempts_per_hour attempts a start is refused until the hour has passed.
func TestQRLimiterStopsAnEndlessQRLoop(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) { o.QR = QRLimits{MaxCodes: 3, MaxAttemptsPerHour: 2} })
	ctx := context.Background()
	firstAttempt := r.clock.Now()
	_, err := r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true, Config: json.RawMessage(`{"faults":{"endless_qr":true}}`)})
	if err != nil {
		t.Fatal(err)
	}
	p, codes := r.pairUntilLimited("s")
	if codes != 3 {
		t.Errorf("%d QR codes shown, want 3 (sessions.qr.max_codes)", codes)
	}
	if !strings.Contains(p.Message, "sessions.qr.max_codes") || !strings.Contains(p.Message, "start the session again") {
		t.Errorf("message %q does not say how to retry", p.Message)
	}
	l := r.live("s")
	r.poll(0, "provider stopped", func() bool { return !l.hasProvider() })
	if rec := l.snapshot(); rec.Running || rec.State != StateFailed {
		t.Errorf("after qr_limit: %+v; want FAILED with the intent cleared (no restore at boot)", rec)
	}
	if _, err := r.m.QR(ctx, "acme", "s"); !errors.Is(err, ErrNoQR) {
		t.Errorf("QR after qr_limit: %v, want ErrNoQR", err)
	}
	// The provider was stopped: no more codes however long we wait.
	r.clock.Advance(10 * time.Minute)
	r.poll(0, "", func() bool { return true })
	select {
	case env := <-r.sub.C():
		if env.Event == event.SessionQR {
			t.Fatal("QR code published after qr_limit")
		}
	default:
	}

	// Second attempt within the hour: allowed, limited again.
	secondStart := r.clock.Now()
	if _, err := r.m.Start(ctx, "acme", "s"); err != nil {
		t.Fatal(err)
	}
	if _, codes := r.pairUntilLimited("s"); codes != 3 {
		t.Errorf("second attempt showed %d codes, want 3", codes)
	}
	// Third attempt within the hour: refused before anything starts.
	_, err = r.m.Start(ctx, "acme", "s")
	var qe *QRLimitError
	// The first attempt began with its first code: after the first start, before the
	// second.
	if !errors.As(err, &qe) || !errors.Is(err, ErrQRLimit) || qe.Attempts != 2 ||
		qe.RetryAt.Before(firstAttempt.Add(time.Hour)) || !qe.RetryAt.Before(secondStart.Add(time.Hour)) {
		t.Fatalf("third start within the hour: %v, want QRLimitError{2, about %s}", err, firstAttempt.Add(time.Hour))
	}
	if !strings.Contains(err.Error(), "start the session again after") {
		t.Errorf("error %q does not say when to retry", err)
	}
	if l.hasProvider() {
		t.Fatal("a refused start built a provider")
	}
	for lim, want := range map[string]float64{"codes": 2} {
		if v := value(r.m.metrics.qrLimited.WithLabelValues(lim)); v != want {
			t.Errorf("qr_limited{%s} = %v, want %v", lim, v, want)
		}
	}
	if v := value(r.m.metrics.pairingAttempts); v != 2 {
		t.Errorf("pairing attempts = %v, want 2", v)
	}

	// Once the first attempt has left the hour, pairing may start again.
	r.clock.Advance(qe.RetryAt.Sub(r.clock.Now()))
	if _, err := r.m.Start(ctx, "acme", "s"); err != nil {
		t.Fatalf("start after the hour: %v", err)
	}
	r.status("s", 0, is(StateScanQR, ""))
}

// A start nobody waits for (boot restore, reconnect) of an unlinked session past its
// hourly cap leaves it FAILED qr_limit, its intent cleared.
func TestQRLimiterOnUnattendedStarts(t *testing.T) {
	r := newClockRig(t, t.TempDir(), func(o *Options) { o.QR = QRLimits{MaxCodes: 1, MaxAttemptsPerHour: 1} })
	ctx := context.Background()
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true, Config: json.RawMessage(`{"faults":{"endless_qr":true}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, codes := r.pairUntilLimited("s"); codes != 1 {
		t.Fatalf("%d codes, want 1", codes)
	}
	l := r.live("s")
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	l.update(func(r *Record) { r.Running = true })
	_, err := r.m.startLocked(ctx, l, startOpts{noWait: true})
	l.release()
	if !errors.Is(err, ErrQRLimit) {
		t.Fatalf("unattended start: %v, want ErrQRLimit", err)
	}
	p := r.status("s", 0, is(StateFailed, ReasonQRLimit))
	if !strings.Contains(p.Message, "max_attempts_per_hour") || !strings.Contains(p.Message, "start the session again after") {
		t.Errorf("message %q", p.Message)
	}
	if rec := l.snapshot(); rec.Running || l.hasProvider() {
		t.Errorf("after an unattended start refused by the QR limiter: running %v, provider %v", rec.Running, l.hasProvider())
	}
}
