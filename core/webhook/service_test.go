package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/store"
)

// receiver is a test webhook receiver: it verifies every request with the independent
// spec verifier and answers with what answer returns.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    []received
	answer func(n int, env event.Envelope) (int, http.Header)
}

type received struct {
	env     event.Envelope
	header  http.Header
	sigOK   bool
	attempt int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, answer: func(int, event.Envelope) (int, http.Header) { return 200, nil }}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var env event.Envelope
		json.Unmarshal(body, &env)
		r.mu.Lock()
		sigOK := r.secret != "" && specVerify(r.secret, req.Header, body, time.Now()) == nil
		r.got = append(r.got, received{env: env, header: req.Header.Clone(), sigOK: sigOK, attempt: len(r.got)})
		n := len(r.got)
		r.mu.Unlock()
		code, h := r.answer(n, env)
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) waitFor(n int) []received {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got := r.received(); len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.t.Fatalf("receiver got %d requests, want %d", len(r.received()), n)
	return nil
}

func testOptions() Options {
	return Options{
		URLPolicy:   &URLPolicy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond, Timeout: 2 * time.Second,
	}
}

func openService(t *testing.T, db *store.DB, o Options, publish func(event.Envelope)) *Service {
	t.Helper()
	s, err := New(Deps{DB: db, Publish: publish}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func openDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func msg(session, text string) event.Envelope {
	return event.New(event.Message, "acme", session, map[string]string{"text": text})
}

func waitDelivery(t *testing.T, s *Service, ep, status string, n int) []Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := s.Deliveries("acme", ep, ListOptions{Status: status, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Deliveries) >= n {
			return p.Deliveries
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries %s, want %d", len(p.Deliveries), status, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliverSignedAndLogged(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := openService(t, db, testOptions(), nil)
	rcv := newReceiver(t)
	ep, err := s.Create(context.Background(), "acme", Input{
		URL: rcv.srv.URL + "/hook", Events: []string{"message.*", "message"}, Enabled: true,
		Headers: map[string]string{"X-Custom": "yes"}, WAHAHmacKey: "waha",
	})
	if err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	rcv.secret = ep.Secret
	rcv.mu.Unlock()
	s.Tap(msg("main", "hello"))
	s.Tap(event.New(event.SessionStatus, "acme", "main", map[string]string{"status": "WORKING"})) // not subscribed
	s.Tap(event.New(event.Message, "other", "main", map[string]string{"text": "not yours"}))      // other tenant
	got := rcv.waitFor(1)
	if !got[0].sigOK {
		t.Fatal("the signature does not verify with the spec verifier")
	}
	if got[0].header.Get("X-Custom") != "yes" || got[0].header.Get(HeaderWAHAHmac) == "" {
		t.Fatalf("headers: %v", got[0].header)
	}
	if got[0].env.Event != event.Message || got[0].header.Get(HeaderID) != got[0].env.ID {
		t.Fatalf("delivered %+v with webhook-id %s", got[0].env, got[0].header.Get(HeaderID))
	}
	ds := waitDelivery(t, s, ep.ID, StatusDelivered, 1)
	if ds[0].Attempts != 1 || ds[0].LastStatusCode != 200 {
		t.Fatalf("log: %+v", ds[0])
	}
	// A sentinel tapped after the two that do not match: once it has arrived, they
	// would have too (same writer, same session, in order).
	s.Tap(msg("main", "sentinel"))
	if got := rcv.waitFor(2); got[1].env.Event != event.Message || string(got[1].env.Payload) != `{"text":"sentinel"}` {
		t.Fatalf("second request was %s %s, want the sentinel (a non-matching event was delivered)", got[1].env.Event, got[1].env.Payload)
	}
}

func TestRetryPolicy(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := openService(t, db, testOptions(), nil)
	rcv := newReceiver(t)
	rcv.answer = func(n int, env event.Envelope) (int, http.Header) {
		var p map[string]string
		json.Unmarshal(env.Payload, &p)
		switch p["text"] {
		case "flaky": // 503 twice (the second with Retry-After), then 200
			if n == 1 {
				return 503, nil
			}
			if n == 2 {
				return 429, http.Header{"Retry-After": {"1"}}
			}
			return 200, nil
		case "bad": // a 4xx other than 408/429: never retried
			return 410, nil
		}
		return 200, nil
	}
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true, Unordered: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Tap(msg("a", "flaky"))
	ds := waitDelivery(t, s, ep.ID, StatusDelivered, 1)
	if ds[0].Attempts != 3 {
		t.Fatalf("flaky delivered after %d attempts, want 3", ds[0].Attempts)
	}
	got := rcv.received()
	if gap := got2time(t, got[2]).Sub(got2time(t, got[1])); gap < time.Second {
		t.Fatalf("retried %v after a Retry-After: 1, want >= 1s", gap)
	}
	if got[0].header.Get(HeaderID) != got[2].header.Get(HeaderID) {
		t.Fatal("webhook-id changed between attempts")
	}

	s.Tap(msg("b", "bad"))
	ds = waitDelivery(t, s, ep.ID, StatusFailed, 1)
	if ds[0].Attempts != 1 || ds[0].LastStatusCode != 410 {
		t.Fatalf("410 delivery: %+v, want failed after 1 attempt", ds[0])
	}
}

// got2time reads the webhook-timestamp of a received request.
func got2time(t *testing.T, r received) time.Time {
	var ts int64
	if _, err := fmt.Sscan(r.header.Get(HeaderTimestamp), &ts); err != nil {
		t.Fatal(err)
	}
	return time.Unix(ts, 0)
}

func TestHorizonDeadLettersThenManualRetry(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	o := testOptions()
	s := openService(t, db, o, nil)
	rcv := newReceiver(t)
	down := true
	var mu sync.Mutex
	rcv.answer = func(int, event.Envelope) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 500, nil
		}
		return 200, nil
	}
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true, RetryHorizon: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Tap(msg("a", "x"))
	ds := waitDelivery(t, s, ep.ID, StatusFailed, 1)
	if ds[0].Attempts < 2 {
		t.Fatalf("dead-lettered after %d attempts; the horizon allows several", ds[0].Attempts)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if _, err := s.Retry("acme", ep.ID, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, s, ep.ID, StatusDelivered, 1)
	if _, err := s.Retry("acme", ep.ID, "dlv_01JD0000000000000000000000"); !errors.Is(err, ErrDeliveryNotFound) {
		t.Fatalf("retry of an unknown delivery: %v", err)
	}
}

// Ordered (the default): a session's deliveries arrive in order even when the first
// one needs retries; another session is not held back by it.
func TestOrderPerSession(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := openService(t, db, testOptions(), nil)
	rcv := newReceiver(t)
	failed := false
	var mu sync.Mutex
	rcv.answer = func(n int, env event.Envelope) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		var p map[string]string
		json.Unmarshal(env.Payload, &p)
		if p["text"] == "a0" && !failed {
			failed = true
			return 500, nil
		}
		return 200, nil
	}
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.Tap(msg("a", fmt.Sprint("a", i)))
		s.Tap(msg("b", fmt.Sprint("b", i)))
	}
	waitDelivery(t, s, ep.ID, StatusDelivered, 10)
	var a, b []string
	firstA := -1
	for i, r := range rcv.received() {
		var p map[string]string
		json.Unmarshal(r.env.Payload, &p)
		if r.env.Session == "a" {
			a = append(a, p["text"])
			if firstA < 0 {
				firstA = i
			}
		} else {
			b = append(b, p["text"])
		}
	}
	if fmt.Sprint(a) != "[a0 a0 a1 a2 a3 a4]" {
		t.Fatalf("session a arrived as %v, want a0 (failed) a0 a1 a2 a3 a4", a)
	}
	if fmt.Sprint(b) != "[b0 b1 b2 b3 b4]" {
		t.Fatalf("session b arrived as %v", b)
	}
}

// Events written to the outbox survive a restart and are delivered by the next
// service on the same store.
func TestOutboxSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	s, err := New(Deps{DB: db}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	var mu sync.Mutex
	up := false
	rcv.answer = func(int, event.Envelope) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if up {
			return 200, nil
		}
		return 503, nil
	}
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		s.Tap(msg(fmt.Sprint("s", i%3), fmt.Sprint(i)))
	}
	s.Close()
	db.Close()

	mu.Lock()
	up = true
	mu.Unlock()
	db = openDB(t, dir)
	defer db.Close()
	s = openService(t, db, testOptions(), nil)
	waitDelivery(t, s, ep.ID, StatusDelivered, 20)
	seen := map[string]bool{}
	for _, r := range rcv.received() {
		var p map[string]string
		json.Unmarshal(r.env.Payload, &p)
		seen[p["text"]] = true
	}
	if len(seen) != 20 {
		t.Fatalf("%d distinct events delivered, want 20", len(seen))
	}
}

func TestAutoDisableAfterLongFailure(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	o := testOptions()
	o.DisableAfter = 100 * time.Millisecond
	var events []event.Envelope
	var mu sync.Mutex
	s := openService(t, db, o, func(e event.Envelope) { mu.Lock(); events = append(events, e); mu.Unlock() })
	rcv := newReceiver(t)
	rcv.answer = func(int, event.Envelope) (int, http.Header) { return 500, nil }
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Tap(msg("a", "x"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := s.Get("acme", ep.ID)
		if !got.Enabled {
			if got.DisabledReason == "" {
				t.Fatal("disabled without a reason")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("endpoint never disabled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1 || events[0].Event != EventDisabled {
		t.Fatalf("events: %+v, want one %s", events, EventDisabled)
	}
	// Re-enabling clears the reason.
	got, _ := s.Get("acme", ep.ID)
	in := Input{URL: got.URL, Events: got.Events, Enabled: true}
	if got, err = s.Update(context.Background(), "acme", ep.ID, in); err != nil || got.DisabledReason != "" || got.FailingSince != nil {
		t.Fatalf("re-enabled: %+v %v", got, err)
	}
}

func TestReplayAndSweep(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	o := testOptions()
	now := time.Now()
	var clock sync.Mutex
	o.Now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	s := openService(t, db, o, nil)
	rcv := newReceiver(t)
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.Tap(msg("a", fmt.Sprint(i)))
	}
	waitDelivery(t, s, ep.ID, StatusDelivered, 3)
	n, truncated, err := s.Replay("acme", ep.ID, now.Add(-time.Minute), now.Add(time.Minute))
	if err != nil || n != 3 || truncated {
		t.Fatalf("replay: %d %v %v", n, truncated, err)
	}
	waitDelivery(t, s, ep.ID, StatusDelivered, 6)
	rcv.waitFor(6)

	clock.Lock()
	now = now.Add(o.Retention + 200*time.Hour)
	clock.Unlock()
	if removed := s.Sweep(); removed != 6 {
		t.Fatalf("sweep removed %d, want 6", removed)
	}
	if p, _ := s.Deliveries("acme", ep.ID, ListOptions{}); len(p.Deliveries) != 0 {
		t.Fatalf("%d deliveries left after the sweep", len(p.Deliveries))
	}
}

func TestValidation(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := openService(t, db, Options{}, nil) // default policy: public addresses only
	ctx := context.Background()
	for _, c := range []struct {
		name string
		in   Input
		want error
	}{
		{"loopback", Input{URL: "http://127.0.0.1/x", Events: []string{"*"}}, ErrForbiddenURL},
		{"metadata", Input{URL: "http://169.254.169.254/", Events: []string{"*"}}, ErrForbiddenURL},
		{"no events", Input{URL: "https://93.184.215.14/"}, ErrInvalid},
		{"bad pattern", Input{URL: "https://93.184.215.14/", Events: []string{"Message"}}, ErrInvalid},
		{"reserved header", Input{URL: "https://93.184.215.14/", Events: []string{"*"}, Headers: map[string]string{"Webhook-Signature": "x"}}, ErrInvalid},
		{"header injection", Input{URL: "https://93.184.215.14/", Events: []string{"*"}, Headers: map[string]string{"X-A": "b\r\nX-B: c"}}, ErrInvalid},
		{"bad secret", Input{URL: "https://93.184.215.14/", Events: []string{"*"}, Secret: "nope"}, ErrInvalid},
		{"ok", Input{URL: "https://93.184.215.14/", Events: []string{"message.*"}}, nil},
	} {
		_, err := s.Create(ctx, "acme", c.in)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for range 9 {
		if _, err := s.Create(ctx, "acme", Input{URL: "https://93.184.215.14/", Events: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, "acme", Input{URL: "https://93.184.215.14/", Events: []string{"*"}}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("11th endpoint: %v, want ErrTooMany", err)
	}
}

func TestRotateSecretSignsWithBoth(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := openService(t, db, testOptions(), nil)
	rcv := newReceiver(t)
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	old := ep.Secret
	ep, err = s.RotateSecret("acme", ep.ID, "", time.Hour)
	if err != nil || ep.Secret == old || ep.PreviousSecret != old {
		t.Fatalf("rotate: %+v %v", ep, err)
	}
	s.Tap(msg("a", "x"))
	got := rcv.waitFor(1)
	body, _ := json.Marshal(got[0].env)
	for _, secret := range []string{old, ep.Secret} {
		if err := specVerify(secret, got[0].header, body, time.Now()); err != nil {
			t.Fatalf("secret %s…: %v", secret[:10], err)
		}
	}
}

// Under memory pressure (Hold) no delivery starts; the events wait in the outbox and go
// out once the pressure is gone.
func TestHoldDefersDeliveries(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	var pressure atomic.Bool
	pressure.Store(true)
	o := testOptions()
	o.Hold = func() time.Duration {
		if pressure.Load() {
			return 20 * time.Millisecond
		}
		return 0
	}
	s := openService(t, db, o, nil)
	rcv := newReceiver(t)
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Tap(msg("a", "x"))
	waitDelivery(t, s, ep.ID, StatusPending, 1) // written to the outbox...
	deadline := time.Now().Add(10 * time.Second)
	for s.metrics.held != nil && testutil.ToFloat64(s.metrics.held) < 3 { // ...and held several times
		if time.Now().After(deadline) {
			t.Fatal("the worker never consulted Hold")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(rcv.received()); n != 0 {
		t.Fatalf("%d deliveries made under pressure", n)
	}
	pressure.Store(false)
	rcv.waitFor(1)
	waitDelivery(t, s, ep.ID, StatusDelivered, 1)
}

// A service created Paused (a restored store) writes events to the outbox and delivers
// none until Resume; then it delivers them all.
func TestPausedDeliversNothingUntilResume(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	o := testOptions()
	o.Paused = true
	s := openService(t, db, o, nil)
	rcv := newReceiver(t)
	ep, err := s.Create(context.Background(), "acme", Input{URL: rcv.srv.URL, Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Paused() {
		t.Fatal("Paused() = false for a service created paused")
	}
	s.Tap(msg("a", "x"))
	s.Tap(msg("a", "y"))
	waitDelivery(t, s, ep.ID, StatusPending, 2)
	// Unpaused, a delivery to a local receiver takes milliseconds: nothing in 300ms
	// means the pause holds.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if n := len(rcv.received()); n != 0 {
			t.Fatalf("%d deliveries made while paused", n)
		}
	}
	if !s.Resume() || s.Paused() {
		t.Fatal("Resume did not unpause")
	}
	if s.Resume() {
		t.Fatal("a second Resume reported a pause")
	}
	rcv.waitFor(2)
	waitDelivery(t, s, ep.ID, StatusDelivered, 2)
}
