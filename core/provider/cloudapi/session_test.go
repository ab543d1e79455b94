package cloudapi

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wagate/wagate/core/provider"
)

func TestStartChecksCredentials(t *testing.T) {
	r := newRig(t, nil)
	if err := r.p.Start(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	ev := r.rec.waitStatus(t, provider.StatusWorking)
	if ev.Me == nil || ev.Me.ID.String() != "15550783881@c.us" || ev.Me.PushName != "Acme Support" {
		t.Errorf("account %+v", ev.Me)
	}
	if got := r.rec.statuses(); !slices.Equal(got, []provider.Status{provider.StatusConnecting, provider.StatusWorking}) {
		t.Errorf("statuses %v", got)
	}
	calls := r.graph.snapshot()
	if len(calls) != 1 || calls[0].Method != "GET" || calls[0].Path != "/v23.0/"+testPhoneNumberID ||
		calls[0].RawQuery != "fields=display_phone_number,verified_name" || calls[0].Auth != "Bearer "+testToken {
		t.Fatalf("check request %+v", calls)
	}
	// Starting a running session does nothing.
	if err := r.p.Start(context.Background()); err != nil || len(r.graph.snapshot()) != 1 {
		t.Errorf("second Start: %v, %d calls", err, len(r.graph.snapshot()))
	}
}

func TestStartRefusedCredentials(t *testing.T) {
	for _, c := range []struct {
		name, reason string
		status       int
		body         string
	}{
		{"expired token", CodeAuthFailed, 401, metaError(190, "Access token has expired", "")},
		{"wrong phone number id", CodeInvalidParameter, 400, metaError(100, "Unsupported get request", "Object with ID '1' does not exist")},
		{"banned", CodeBanned, 403, metaError(368, "Temporarily blocked for policies violations", "")},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.graph.setAnswer(func(graphCall) (int, string, bool) { return c.status, c.body, true })
			if err := r.p.Start(ctxTimeout(t, 5*time.Second)); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if ev := r.rec.waitStatus(t, provider.StatusFailed); ev.Reason != c.reason {
				t.Errorf("FAILED reason %q, want %q", ev.Reason, c.reason)
			}
			if got := r.rec.statuses(); !slices.Equal(got, []provider.Status{provider.StatusConnecting, provider.StatusFailed}) {
				t.Errorf("statuses %v", got)
			}
			if n := r.graph.count("GET", "/"+testPhoneNumberID); n != 1 {
				t.Errorf("%d checks; a refusal is not retried", n)
			}
			if _, err := r.p.Send(context.Background(), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "x"}); !errors.Is(err, provider.ErrNotConnected) {
				t.Errorf("Send after a refused start: %v", err)
			}
			// Fixed credentials: Start again works.
			r.graph.setAnswer(nil)
			if err := r.p.Start(ctxTimeout(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			r.rec.waitStatus(t, provider.StatusWorking)
		})
	}
}

// TestStartRetriesTransientFailures: an outage at start does not fail the session: it
// stays CONNECTING and the check is retried until it succeeds, or until the account is
// refused (FAILED auth_failed).
func TestStartRetriesTransientFailures(t *testing.T) {
	t.Run("then success", func(t *testing.T) {
		r := newRig(t, nil)
		failures := 3
		r.graph.setAnswer(func(graphCall) (int, string, bool) {
			if failures > 0 {
				failures--
				return 503, metaError(2, "Service temporarily unavailable", ""), true
			}
			return 0, "", false
		})
		if err := r.p.Start(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatalf("Start: %v", err)
		}
		r.rec.waitStatus(t, provider.StatusWorking)
		if n := r.graph.count("GET", "/"+testPhoneNumberID); n != 4 {
			t.Errorf("%d checks, want 4", n)
		}
	})
	t.Run("then refused", func(t *testing.T) {
		r := newRig(t, nil)
		calls := 0
		r.graph.setAnswer(func(graphCall) (int, string, bool) {
			calls++
			if calls == 1 {
				return 500, "oops", true
			}
			return 401, metaError(190, "Access token has expired", ""), true
		})
		if err := r.p.Start(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatalf("Start: %v", err)
		}
		if ev := r.rec.waitStatus(t, provider.StatusFailed); ev.Reason != CodeAuthFailed {
			t.Errorf("reason %q", ev.Reason)
		}
	})
	t.Run("stopped meanwhile", func(t *testing.T) {
		r := newRig(t, nil, WithStartRetry(time.Hour, time.Hour))
		r.graph.setAnswer(func(graphCall) (int, string, bool) { return 500, "down", true })
		if err := r.p.Start(ctxTimeout(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := r.p.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := r.rec.statuses(); !slices.Equal(got, []provider.Status{provider.StatusConnecting, provider.StatusStopped}) {
			t.Errorf("statuses %v", got)
		}
	})
}

func TestStopLogoutPairingClose(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	if err := r.p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.Send(context.Background(), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "x"}); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("Send after Stop: %v", err)
	}
	r.start()
	if err := r.p.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []provider.Status{provider.StatusConnecting, provider.StatusWorking, provider.StatusStopped,
		provider.StatusConnecting, provider.StatusWorking, provider.StatusLoggedOut}
	if got := r.rec.statuses(); !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for _, ev := range r.rec.all() {
		if se, ok := ev.(provider.StatusEvent); ok && se.Status == provider.StatusLoggedOut && se.Reason != "logout" {
			t.Errorf("logged out reason %q", se.Reason)
		}
	}
	if n := len(r.graph.snapshot()); n != 0 {
		t.Errorf("Stop and Logout made %d Graph API calls; they are local", n)
	}
	if _, err := r.p.Send(context.Background(), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "x"}); !errors.Is(err, provider.ErrLoggedOut) {
		t.Errorf("Send after Logout: %v", err)
	}
	// Logout forgets nothing: Start resumes with the same credentials.
	r.start()

	if _, err := r.p.RequestPairingCode(context.Background(), "15551234567"); !errors.Is(err, ErrNoPairing) || !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("RequestPairingCode: %v", err)
	}
	r.p.Close()
	if err := r.p.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if err := r.p.HandleWebhook(context.Background(), fixture(t, "message_text.json")); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("webhook after Close: %v", err)
	}
}

func TestConfig(t *testing.T) {
	f := New(defaultsCfg(), nil)
	good := map[string]string{
		"minimal":      `{"phoneNumberId":"106540352242922","accessToken":"EAAG","appSecret":"s","verifyToken":"v"}`,
		"every field":  `{"phoneNumberId":"1","accessToken":"EAAG","appSecret":"s","verifyToken":"v","apiVersion":"v21.0","baseUrl":"http://127.0.0.1:9/","throughput":1000}`,
		"throughput 1": `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v","throughput":1}`,
	}
	for name, raw := range good {
		if err := f.ValidateConfig([]byte(raw)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := []struct{ name, raw, mention string }{
		{"empty", ``, "phoneNumberId"},
		{"null", `null`, "phoneNumberId"},
		{"not an object", `[]`, "cannot unmarshal"},
		{"unknown field", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v","token":"x"}`, "token"},
		{"trailing data", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v"} {}`, "trailing"},
		{"no phone number id", `{"accessToken":"t","appSecret":"s","verifyToken":"v"}`, "phoneNumberId is required"},
		{"phone number instead of id", `{"phoneNumberId":"+1 555 0100","accessToken":"t","appSecret":"s","verifyToken":"v"}`, "digits"},
		{"no token", `{"phoneNumberId":"1","appSecret":"s","verifyToken":"v"}`, "accessToken is required"},
		{"bearer pasted", `{"phoneNumberId":"1","accessToken":"Bearer t","appSecret":"s","verifyToken":"v"}`, "Bearer"},
		{"no app secret", `{"phoneNumberId":"1","accessToken":"t","verifyToken":"v"}`, "appSecret is required"},
		{"no verify token", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s"}`, "verifyToken is required"},
		{"long verify token", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"` + string(make([]byte, 0)) + longString(257) + `"}`, "256"},
		{"bad version", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v","apiVersion":"21"}`, "apiVersion"},
		{"base url with path", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v","baseUrl":"https://graph.facebook.com/v21.0"}`, "baseUrl"},
		{"base url not http", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v","baseUrl":"file:///etc"}`, "baseUrl"},
		{"throughput too high", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v","throughput":1001}`, "throughput"},
		{"throughput negative", `{"phoneNumberId":"1","accessToken":"t","appSecret":"s","verifyToken":"v","throughput":-1}`, "throughput"},
	}
	for _, c := range bad {
		err := f.ValidateConfig([]byte(c.raw))
		if !errors.Is(err, ErrInvalidConfig) || !contains(err.Error(), c.mention) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig mentioning %q", c.name, err, c.mention)
		}
	}
	if _, err := f.New(provider.Spec{Tenant: "acme", Session: "s", Config: []byte(`{}`)}, func(provider.Event) {}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New with a bad config: %v", err)
	}
	if _, err := f.New(provider.Spec{Tenant: "acme", Session: "s", Config: []byte(good["minimal"])}, nil); err == nil {
		t.Error("New without a sink succeeded")
	}
	// Defaults: the gateway's version and origin, 80 messages per second.
	p, err := f.New(provider.Spec{Tenant: "acme", Session: "s", Config: []byte(good["minimal"])}, func(provider.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	cp := p.(*Provider)
	if cp.base != "https://graph.facebook.com/v23.0/106540352242922" || cp.cfg.Throughput != 80 {
		t.Errorf("resolved %s, %d/s", cp.base, cp.cfg.Throughput)
	}
	p, _ = f.New(provider.Spec{Tenant: "acme", Session: "s", Config: []byte(good["every field"])}, func(provider.Event) {})
	if cp := p.(*Provider); cp.base != "http://127.0.0.1:9/v21.0/1" || cp.cfg.Throughput != 1000 {
		t.Errorf("resolved %s, %d/s", cp.base, cp.cfg.Throughput)
	}
}
