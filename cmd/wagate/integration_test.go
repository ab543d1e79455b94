package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/event"
)

const adminKey = "test-admin-key-0123456789"

// testGateway is the real gateway booted from a YAML string on a random loopback port.
type testGateway struct {
	t    testing.TB
	g    *gateway
	base string
	done chan error
}

func bootYAML(t *testing.T, dir, extra string) *testGateway {
	t.Helper()
	return bootYAMLWith(t, dir, "", extra)
}

// bootYAMLWith also takes lines to add under store:.
func bootYAMLWith(t *testing.T, dir, storeExtra string, extra ...string) *testGateway {
	t.Helper()
	yaml := `
server:
  listen: 127.0.0.1:0
  max_body_bytes: 64KiB
  shutdown_timeout: 5s
store:
  dir: ` + dir + `
  gc_interval: 0
` + storeExtra + `admin:
  api_key: ` + adminKey + `
log:
  level: error
queue:
  rate_per_session: 0
  backoff_base: 10ms
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 5ms
    read_delay: 5ms
` + strings.Join(extra, "")
	return bootConfig(t, yaml)
}

// bootConfig boots the real gateway from a whole YAML document on a random loopback
// port; it stops at the end of the test.
func bootConfig(t testing.TB, yaml string) *testGateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("WAGATE_TEST_LOG") != "" { // a failing test's gateway logs, to stderr
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	g, err := openGateway(context.Background(), cfg, logger, io.Discard)
	if err != nil {
		t.Fatalf("openGateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{t: t, g: g, base: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	go func() { tg.done <- g.serve(ln) }()
	t.Cleanup(tg.stop)
	return tg
}

func (tg *testGateway) stop() {
	if tg.g == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tg.g.shutdown(ctx)
	tg.g = nil
	select {
	case <-tg.done:
	case <-time.After(10 * time.Second):
		tg.t.Error("server did not return after shutdown")
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r resp) errCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (tg *testGateway) do(method, path, key string, body any) resp {
	tg.t.Helper()
	return tg.doHeaders(method, path, key, body)
}

// doHeaders is do with extra request headers as name, value pairs.
func (tg *testGateway) doHeaders(method, path, key string, body any, headers ...string) resp {
	tg.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, tg.base+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tg.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (tg *testGateway) createTenant(id string) string {
	tg.t.Helper()
	r := tg.do("POST", "/api/admin/tenants", adminKey, map[string]any{"id": id})
	if r.status != 201 {
		tg.t.Fatalf("create tenant %s: %d %s", id, r.status, r.body)
	}
	var out struct {
		APIKey struct {
			Key string `json:"key"`
		} `json:"apiKey"`
	}
	r.json(tg.t, &out)
	return out.APIKey.Key
}

// sse subscribes to /api/events and returns a channel of envelopes.
func (tg *testGateway) sse(key, query string) (<-chan event.Envelope, func()) {
	tg.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", tg.base+"/api/events"+query, nil)
	req.Header.Set("X-Api-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tg.t.Fatal(err)
	}
	if res.StatusCode != 200 {
		tg.t.Fatalf("SSE status %d", res.StatusCode)
	}
	// Room for every event of a test's bursts (1,000 sends make about 4,000): a reader
	// that blocked would let the gateway's buffer for this subscriber fill, and the
	// gateway drops a subscriber that falls behind (TestLateReceiptFoundAfterMemoryForgot
	// saw its stream end that way).
	ch := make(chan event.Envelope, 1<<16)
	go func() {
		defer close(ch)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var env event.Envelope
				if json.Unmarshal([]byte(data), &env) == nil {
					ch <- env
				}
			}
		}
	}()
	return ch, cancel
}

func waitEvent(t *testing.T, ch <-chan event.Envelope, name string, match func(payload map[string]any) bool) event.Envelope {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case env, ok := <-ch:
			if !ok {
				t.Fatalf("event stream ended while waiting for %s", name)
			}
			if env.Event != name {
				continue
			}
			var p map[string]any
			json.Unmarshal(env.Payload, &p)
			if match == nil || match(p) {
				return env
			}
		case <-deadline:
			t.Fatalf("no %s event within 10s", name)
		}
	}
}

func status(s string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["status"] == s }
}

// TestEndToEnd is the tour of the README as a test: tenant, sandbox session, QR over
// SSE, link, WORKING, send, acks, restart on the same data dir, WORKING again.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tg := bootYAML(t, dir, "")
	if r := tg.do("GET", "/health", "", nil); r.status != 200 {
		t.Fatalf("/health %d", r.status)
	}
	if r := tg.do("GET", "/ready", "", nil); r.status != 200 {
		t.Fatalf("/ready %d %s", r.status, r.body)
	}
	key := tg.createTenant("acme")
	events, stopSSE := tg.sse(key, "")
	defer stopSSE()

	r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main"})
	if r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	qrEnv := waitEvent(t, events, "session.qr", nil)
	if qrEnv.Tenant != "acme" || qrEnv.Session != "main" || !strings.HasPrefix(qrEnv.ID, "evt_") {
		t.Errorf("qr envelope %+v", qrEnv)
	}
	r = tg.do("GET", "/api/main/auth/qr?format=raw", key, nil)
	var raw struct {
		Value string `json:"value"`
	}
	r.json(t, &raw)
	if r.status != 200 || !strings.HasPrefix(raw.Value, "2@") {
		t.Fatalf("raw QR: %d %s", r.status, r.body)
	}
	r = tg.do("GET", "/api/main/auth/qr?format=image", key, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(r.body, []byte("\x89PNG")) {
		t.Fatalf("QR image: %d %s %.20q", r.status, r.header.Get("Content-Type"), r.body)
	}

	r = tg.do("POST", "/api/sandbox/main/link", key, map[string]any{"phone": "15551234567"})
	if r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	waitEvent(t, events, "session.status", status("WORKING"))

	r = tg.do("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15557654321@c.us", "text": "hello"})
	if r.status != 202 {
		t.Fatalf("sendText: %d %s", r.status, r.body)
	}
	var sent struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	r.json(t, &sent)
	if !strings.HasPrefix(sent.ID, "msg_") || sent.Status == "" {
		t.Fatalf("sendText answer %s", r.body)
	}
	for _, ack := range []string{"sent", "delivered", "read"} {
		waitEvent(t, events, "message.ack", func(p map[string]any) bool { return p["id"] == sent.ID && p["status"] == ack })
	}
	// The events may reach the stream before the dispatcher counts the send: the
	// figures are polled, with a deadline.
	wantMetrics := []string{
		`wagate_dispatch_messages_total{outcome="sent"} 1`,
		`wagate_queue_messages_waiting 0`,
		`wagate_sessions{state="WORKING"} 1`,
		`wagate_http_requests_total{method="POST",route="/api/sendText",status="202"} 1`,
	}
	var missing []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		metrics := string(tg.do("GET", "/metrics", "", nil).body)
		missing = missing[:0]
		for _, want := range wantMetrics {
			if !strings.Contains(metrics, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	for _, want := range missing {
		t.Errorf("/metrics lacks %s", want)
	}
	stopSSE()

	// Restart on the same data dir: the session is WORKING again without pairing.
	tg.stop()
	tg = bootYAML(t, dir, "")
	waitWorking(t, tg, key, "main")
	r = tg.do("GET", "/api/sessions/main", key, nil)
	if !strings.Contains(string(r.body), `"id":"15551234567@c.us"`) {
		t.Errorf("account after restart: %s", r.body)
	}
	r = tg.do("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15557654321", "text": "after restart"})
	if r.status != 202 {
		t.Fatalf("sendText after restart: %d %s", r.status, r.body)
	}
}

// waitWorking polls the API (with a deadline) until the session is WORKING, and checks
// its account survived.
func waitWorking(t *testing.T, tg *testGateway, key, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := tg.do("GET", "/api/sessions/"+name, key, nil)
		var info struct {
			Status string `json:"status"`
			Me     struct {
				ID string `json:"id"`
			} `json:"me"`
		}
		r.json(t, &info)
		if info.Status == "WORKING" {
			if info.Me.ID == "" {
				t.Errorf("WORKING session %s has no account", name)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s not WORKING within 10s: %s", name, r.body)
		}
		time.Sleep(20 * time.Millisecond) // polling the API with a deadline
	}
}

func TestDashboardIsServed(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	r := tg.do("GET", "/", "", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.Contains(r.body, []byte("<title>wagate")) {
		t.Fatalf("GET /: %d %s %.80q", r.status, r.header.Get("Content-Type"), r.body)
	}
	for _, c := range []struct {
		path, ct string
		status   int
	}{
		{"/", "text/html", 200},
		{"/static/app.js", "text/javascript", 200},
		{"/static/style.css", "text/css", 200},
		{"/static/pages/chats.js", "text/javascript", 200},
		{"/favicon.ico", "image/svg+xml", 200},
		{"/static/nope.js", "application/json", 404},
		{"/static/pages/..%2f..%2fdashboard.go", "application/json", 404},
	} {
		r := tg.do("GET", c.path, "", nil)
		if r.status != c.status || !strings.HasPrefix(r.header.Get("Content-Type"), c.ct) {
			t.Errorf("GET %s: %d %s; want %d %s", c.path, r.status, r.header.Get("Content-Type"), c.status, c.ct)
		}
		if csp := r.header.Get("Content-Security-Policy"); c.status == 200 && !strings.HasPrefix(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c.path, csp)
		}
	}
}
