package sandbox

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

func TestFaultsReadBack(t *testing.T) {
	cfg := testConfig()
	cfg.Faults = config.SandboxFaults{SendFailureRate: 0.25}
	f := newFixture(t, cfg)
	f.session("t1", "s1")

	got, err := f.net.Faults("t1", "s1")
	if err != nil || got != cfg.Faults {
		t.Fatalf("initial Faults = %+v %v, want the config's %+v", got, err, cfg.Faults)
	}
	set := config.SandboxFaults{HangOnStop: true, SendLatency: config.Duration(time.Second)}
	if err := f.net.SetFaults("t1", "s1", set); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	if got, _ := f.net.Faults("t1", "s1"); got != set {
		t.Fatalf("Faults = %+v, want %+v", got, set)
	}

	for _, tc := range []struct {
		name    string
		session string
		f       config.SandboxFaults
		want    error
	}{
		{"unknown session", "nope", config.SandboxFaults{}, ErrUnknownSession},
		{"rate above 1", "s1", config.SandboxFaults{SendFailureRate: 1.5}, ErrInvalidFaults},
		{"negative rate", "s1", config.SandboxFaults{SendFailureRate: -0.1}, ErrInvalidFaults},
		{"NaN rate", "s1", config.SandboxFaults{SendFailureRate: math.NaN()}, ErrInvalidFaults},
		{"negative latency", "s1", config.SandboxFaults{SendLatency: -1}, ErrInvalidFaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.net.SetFaults("t1", tc.session, tc.f); !errors.Is(err, tc.want) {
				t.Fatalf("SetFaults: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := f.net.Faults("t1", "nope"); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("Faults(unknown): %v", err)
	}
	if got, _ := f.net.Faults("t1", "s1"); got != set {
		t.Fatalf("rejected SetFaults changed the faults to %+v", got)
	}
}

func TestSilentDisconnect(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	other, _ := f.linked("t1", "other", "15550002222")

	// A send before the fault: its acks are swallowed once the fault is set.
	if _, err := p.Send(context.Background(), text("15557654321", "before")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{SilentDisconnect: true}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}

	ctx := f.fakeTimeout(30 * time.Second)
	wait := async(t, func() sendResult {
		res, err := p.Send(ctx, text("15557654321", "into the void"))
		return sendResult{res, err}
	})
	f.advance(30 * time.Second)
	r := wait()
	var se *provider.SendError
	if !errors.As(r.err, &se) || se.Code != "timeout" || !se.Retryable || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("Send under silent_disconnect: %v, want retryable timeout", r.err)
	}

	// Nothing reaches the sink: no acks, no inbound from contacts or other numbers.
	if err := f.net.Inbound("t1", "s1", chatid.MustParse("4915112345678"), "hello?"); err != nil {
		t.Fatalf("Inbound: %v", err)
	}
	if _, err := other.Send(context.Background(), text("15550001111", "ping")); err != nil {
		t.Fatalf("other Send: %v", err)
	}
	f.advance(time.Second)
	f.advance(time.Second)
	rec.none()

	// Stop still answers.
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")

	// Cleared: the session reports again.
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusConnecting, "")
	rec.status(provider.StatusWorking, "")
	if err := f.net.Inbound("t1", "s1", chatid.MustParse("4915112345678"), "back?"); err != nil {
		t.Fatalf("Inbound: %v", err)
	}
	if m := rec.message(); m.Text != "back?" {
		t.Fatalf("inbound %+v", m)
	}
}

func TestSilentDisconnectSendEndsOnStop(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{SilentDisconnect: true}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	started := make(chan struct{})
	wait := async(t, func() error {
		close(started)
		_, err := p.Send(context.Background(), text("15557654321", "stuck"))
		return err
	})
	<-started
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")
	if err := wait(); !errors.Is(err, provider.ErrNotConnected) {
		t.Fatalf("Send cut by Stop: %v, want ErrNotConnected", err)
	}
}

func TestHangOnStop(t *testing.T) {
	for _, op := range []string{"stop", "logout"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t, testConfig())
			p, rec := f.linked("t1", "s1", "15550001111")
			if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{HangOnStop: true}); err != nil {
				t.Fatalf("SetFaults: %v", err)
			}
			call := p.Stop
			if op == "logout" {
				call = p.Logout
			}
			ctx := f.fakeTimeout(10 * time.Second)
			returned := make(chan struct{})
			wait := async(t, func() error {
				defer close(returned)
				return call(ctx)
			})
			f.advance(10*time.Second - time.Millisecond)
			select {
			case <-returned:
				t.Fatalf("%s returned before its deadline", op)
			default:
			}
			f.advance(time.Millisecond)
			if err := wait(); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: %v, want the context's deadline error", op, err)
			}
			// It stopped nothing: still working, still linked.
			rec.none()
			if _, err := p.Send(context.Background(), text("15557654321", "still here")); err != nil {
				t.Fatalf("Send after hung %s: %v", op, err)
			}
			if _, ok, _ := f.links.LoadLink(context.Background(), "t1", "s1"); !ok {
				t.Fatalf("hung %s deleted the link", op)
			}

			if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
				t.Fatalf("SetFaults: %v", err)
			}
			if err := call(context.Background()); err != nil {
				t.Fatalf("%s after clearing: %v", op, err)
			}
			if op == "stop" {
				rec.status(provider.StatusStopped, "")
			} else {
				rec.status(provider.StatusLoggedOut, "logout")
			}
		})
	}
}

func TestEndlessQR(t *testing.T) {
	cfg := testConfig()
	cfg.MaxQRCodes = 2
	cfg.AutoLink = config.Duration(30 * time.Second)
	cfg.Faults.EndlessQR = true
	f := newFixture(t, cfg)
	p, rec := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	f.advance(60 * time.Second) // auto-link at 30s fails quietly, the next code comes at 60s
	rec.qr()
	for range 20 {
		f.advance(20 * time.Second)
		rec.qr()
	}
	if _, err := f.net.Link("t1", "s1", ""); !errors.Is(err, ErrEndlessQR) {
		t.Fatalf("Link under endless_qr: %v, want ErrEndlessQR", err)
	}
	if _, err := p.RequestPairingCode(context.Background(), "15551234567"); err != nil {
		t.Fatalf("RequestPairingCode under endless_qr: %v", err)
	}
	if _, err := f.net.Link("t1", "s1", ""); !errors.Is(err, ErrEndlessQR) {
		t.Fatalf("Link with a pairing code under endless_qr: %v, want ErrEndlessQR", err)
	}
	rec.none()

	// Cleared: the rotation resumes its count, already past max_qr_codes, and gives up.
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	f.advance(20 * time.Second)
	rec.status(provider.StatusFailed, "qr_timeout")
}

func TestEndlessQRThenLink(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.session("t1", "s1")
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{EndlessQR: true}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if _, err := f.net.Link("t1", "s1", ""); !errors.Is(err, ErrEndlessQR) {
		t.Fatalf("Link: %v", err)
	}
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	if _, err := f.net.Link("t1", "s1", ""); err != nil {
		t.Fatalf("Link after clearing endless_qr: %v", err)
	}
	rec.status(provider.StatusWorking, "")
}

func TestSendFailureRate(t *testing.T) {
	const sends = 200
	for _, tc := range []struct {
		name     string
		rate     float64
		min, max int // failures
	}{
		{"never", 0, 0, 0},
		{"always", 1, sends, sends},
		{"half", 0.5, sends / 4, sends * 3 / 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			p, _ := f.linked("t1", "s1", "15550001111")
			if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{SendFailureRate: tc.rate}); err != nil {
				t.Fatalf("SetFaults: %v", err)
			}
			failed := 0
			for range sends {
				_, err := p.Send(context.Background(), text("15557654321", "x"))
				if err == nil {
					continue
				}
				var se *provider.SendError
				if !errors.As(err, &se) || se.Code != "sandbox_send_failure" || !se.Retryable || !errors.Is(err, ErrSendFailure) {
					t.Fatalf("Send: %v, want a retryable sandbox_send_failure", err)
				}
				failed++
			}
			if failed < tc.min || failed > tc.max {
				t.Fatalf("%d of %d sends failed, want %d to %d", failed, sends, tc.min, tc.max)
			}
		})
	}
}

func TestSendLatencyFault(t *testing.T) {
	f := newFixture(t, testConfig())
	p, _ := f.linked("t1", "s1", "15550001111")
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{SendLatency: config.Duration(5 * time.Second)}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	start := f.clock.Now()
	wait := async(t, func() sendResult {
		res, err := p.Send(context.Background(), text("15557654321", "slow"))
		return sendResult{res, err}
	})
	f.waiters(1)
	f.advance(5 * time.Second)
	if r := wait(); r.err != nil || r.res.Timestamp.Sub(start) != 5*time.Second {
		t.Fatalf("slow send = %v, want sent after 5s", r)
	}
}

func TestLoggedOutFault(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{LoggedOut: true}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	rec.status(provider.StatusLoggedOut, "logged_out_from_phone")
	if _, ok, _ := f.links.LoadLink(context.Background(), "t1", "s1"); ok {
		t.Fatal("link still stored")
	}
	_, err := p.Send(context.Background(), text("15557654321", "x"))
	if !errors.Is(err, provider.ErrLoggedOut) || provider.Retryable(err) {
		t.Fatalf("Send after logout from phone: %v, want non-retryable ErrLoggedOut", err)
	}
	if err := f.net.Inbound("t1", "s1", chatid.MustParse("4915112345678"), "x"); !errors.Is(err, ErrNotWorking) {
		t.Fatalf("Inbound: %v, want ErrNotWorking", err)
	}
	// The number is free for another session.
	f.linked("t1", "third", "15550001111")

	// While the switch is set, pairing cannot complete.
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if _, err := f.net.Link("t1", "s1", ""); !errors.Is(err, provider.ErrLoggedOut) {
		t.Fatalf("Link under logged_out: %v, want ErrLoggedOut", err)
	}
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	if _, err := f.net.Link("t1", "s1", ""); err != nil {
		t.Fatalf("Link after clearing: %v", err)
	}
	rec.status(provider.StatusWorking, "")
}

func TestLoggedOutFaultAtStart(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")
	// Set while stopped: the link goes at once, the session learns it on connecting.
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{LoggedOut: true}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	rec.none()
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")

	// A stored link with the switch already set (here by the session's config).
	if err := f.links.SaveLink(context.Background(), "t1", "s2", "15550003333"); err != nil {
		t.Fatal(err)
	}
	rec2 := newRecorder(t)
	p2, err := f.net.New(provider.Spec{Tenant: "t1", Session: "s2", Config: []byte(`{"faults":{"logged_out":true}}`)}, rec2.sink)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p2.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec2.status(provider.StatusConnecting, "")
	rec2.status(provider.StatusLoggedOut, "logged_out_from_phone")
	if _, ok, _ := f.links.LoadLink(context.Background(), "t1", "s2"); ok {
		t.Fatal("link still stored")
	}
	if _, err := p2.Send(context.Background(), text("15557654321", "x")); !errors.Is(err, provider.ErrLoggedOut) {
		t.Fatalf("Send: %v, want ErrLoggedOut", err)
	}
}

func TestTempBan(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	other, _ := f.linked("t1", "other", "15550002222")

	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{TempBan: true}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	rec.restriction(provider.RestrictionTemporaryBan, true)
	rec.status(provider.StatusFailed, "temporary_ban")
	_, err := p.Send(context.Background(), text("15557654321", "x"))
	var se *provider.SendError
	if !errors.As(err, &se) || se.Code != "banned" || se.Retryable || !errors.Is(err, provider.ErrBanned) || provider.Retryable(err) {
		t.Fatalf("Send while banned: %v, want non-retryable banned SendError", err)
	}
	if err := f.net.Inbound("t1", "s1", chatid.MustParse("4915112345678"), "x"); !errors.Is(err, ErrNotWorking) {
		t.Fatalf("Inbound while banned: %v, want ErrNotWorking", err)
	}
	if _, err := other.Send(context.Background(), text("15550001111", "x")); err != nil {
		t.Fatalf("Send to a banned number: %v", err)
	}
	// Setting it again changes nothing.
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{TempBan: true, SendFailureRate: 0}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	rec.none()

	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	rec.restriction(provider.RestrictionTemporaryBan, false)
	if st := rec.status(provider.StatusWorking, ""); st.Me == nil || st.Me.ID.Local != "15550001111" {
		t.Fatalf("WORKING after the ban: %+v", st)
	}
	if _, err := p.Send(context.Background(), text("15557654321", "x")); err != nil {
		t.Fatalf("Send after the ban: %v", err)
	}
}

func TestTempBanAcrossRestartAndLink(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.TempBan = true
	f := newFixture(t, cfg)
	p, rec := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if _, err := f.net.Link("t1", "s1", "15550001111"); err != nil {
		t.Fatalf("Link: %v", err)
	}
	rec.restriction(provider.RestrictionTemporaryBan, true)
	rec.status(provider.StatusFailed, "temporary_ban")
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusConnecting, "")
	rec.restriction(provider.RestrictionTemporaryBan, true)
	rec.status(provider.StatusFailed, "temporary_ban")
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	rec.restriction(provider.RestrictionTemporaryBan, false)
	rec.status(provider.StatusWorking, "")
}
