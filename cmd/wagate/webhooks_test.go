package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
)

// hookReceiver collects what the gateway POSTs and checks each signature the way the
// Standard Webhooks spec says a receiver must.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	events []event.Envelope
	bad    []string
	hmacs  []string // X-Webhook-Hmac of each request
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.secret, "whsec_"))
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%s.%s", r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" ") {
			h.bad = append(h.bad, r.Header.Get("webhook-id"))
		}
		var env event.Envelope
		json.Unmarshal(body, &env)
		h.events = append(h.events, env)
		h.hmacs = append(h.hmacs, r.Header.Get("X-Webhook-Hmac"))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// waitFor waits for an event matching name and, when given, the payload's status/ack.
func (h *hookReceiver) waitFor(t *testing.T, name, field, value string) event.Envelope {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, e := range h.events {
			var p map[string]any
			json.Unmarshal(e.Payload, &p)
			if e.Event == name && (field == "" || fmt.Sprint(p[field]) == value) {
				h.mu.Unlock()
				return e
			}
		}
		h.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s event with %s=%s reached the webhook", name, field, value)
	return event.Envelope{}
}

// The whole path through the real gateway: a tenant registers an endpoint over the
// API; session status changes and message acks reach it signed; the delivery log shows
// them; another tenant sees none of it.
func TestWebhooksEndToEnd(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 10ms
`)
	key := tg.createTenant("hooks")
	other := tg.createTenant("other")
	h := newHookReceiver(t)

	r := tg.do("POST", "/api/webhooks", key, map[string]any{
		"url": h.srv.URL + "/wa", "events": []string{"session.status", "message.*"}, "description": "crm",
	})
	if r.status != 201 {
		t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	var created struct {
		ID      string `json:"id"`
		Secret  string `json:"secret"`
		Enabled bool   `json:"enabled"`
	}
	r.json(t, &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled {
		t.Fatalf("created: %s", r.body)
	}
	h.mu.Lock()
	h.secret = created.Secret
	h.mu.Unlock()

	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main"}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sandbox/main/link", key, map[string]any{}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	h.waitFor(t, "session.status", "status", "WORKING")
	r = tg.do("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15551234567", "text": "hi"})
	if r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	h.waitFor(t, "message.ack", "status", "read")

	h.mu.Lock()
	if len(h.bad) > 0 {
		t.Errorf("%d deliveries failed signature verification: %v", len(h.bad), h.bad)
	}
	h.mu.Unlock()

	r = tg.do("GET", "/api/webhooks/"+created.ID+"/deliveries?status=delivered&limit=500", key, nil)
	var page struct {
		Deliveries []struct {
			Status, Event  string
			LastStatusCode int
		}
	}
	r.json(t, &page)
	if r.status != 200 || len(page.Deliveries) < 3 || page.Deliveries[0].LastStatusCode != 200 {
		t.Fatalf("delivery log: %d %s", r.status, r.body)
	}

	// Another tenant cannot see, change or use the endpoint.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/webhooks/" + created.ID},
		{"PUT", "/api/webhooks/" + created.ID},
		{"DELETE", "/api/webhooks/" + created.ID},
		{"GET", "/api/webhooks/" + created.ID + "/secret"},
		{"GET", "/api/webhooks/" + created.ID + "/deliveries"},
		{"POST", "/api/webhooks/" + created.ID + "/rotate-secret"},
		{"POST", "/api/webhooks/" + created.ID + "/replay"},
	} {
		var body any
		switch {
		case c.method == "PUT":
			body = map[string]any{"url": h.srv.URL, "events": []string{"*"}}
		case strings.HasSuffix(c.path, "/replay"):
			body = map[string]any{"since": time.Now().Add(-time.Hour), "until": time.Now()}
		}
		if r := tg.do(c.method, c.path, other, body); r.status != 404 || r.errCode() != "webhook_not_found" {
			t.Errorf("other tenant %s %s: %d %s, want 404 webhook_not_found", c.method, c.path, r.status, r.body)
		}
	}
	if r := tg.do("GET", "/api/webhooks", other, nil); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("other tenant's list: %d %s", r.status, r.body)
	}
}

func TestWebhookBadInput(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "") // default URL policy: public addresses only
	key := tg.createTenant("hooks")
	for _, c := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"loopback", "POST", "/api/webhooks", map[string]any{"url": "http://127.0.0.1:9/x", "events": []string{"*"}}, 400, "webhook_url_forbidden"},
		{"localhost", "POST", "/api/webhooks", map[string]any{"url": "http://localhost:9/x", "events": []string{"*"}}, 400, "webhook_url_forbidden"},
		{"metadata", "POST", "/api/webhooks", map[string]any{"url": "http://169.254.169.254/latest", "events": []string{"*"}}, 400, "webhook_url_forbidden"},
		{"private", "POST", "/api/webhooks", map[string]any{"url": "http://192.168.0.10/x", "events": []string{"*"}}, 400, "webhook_url_forbidden"},
		{"scheme", "POST", "/api/webhooks", map[string]any{"url": "file:///etc/passwd", "events": []string{"*"}}, 400, "invalid_webhook_url"},
		{"no events", "POST", "/api/webhooks", map[string]any{"url": "https://93.184.215.14/x"}, 400, "invalid_webhook"},
		{"unknown field", "POST", "/api/webhooks", map[string]any{"url": "https://93.184.215.14/x", "events": []string{"*"}, "nope": 1}, 400, "unknown_field"},
		{"bad horizon", "POST", "/api/webhooks", map[string]any{"url": "https://93.184.215.14/x", "events": []string{"*"}, "retryHorizon": "1000h"}, 400, "invalid_webhook"},
		{"unknown webhook", "GET", "/api/webhooks/whk_01JD0000000000000000000000", nil, 404, "webhook_not_found"},
		{"garbage id", "GET", "/api/webhooks/%2e%2e", nil, 404, "webhook_not_found"},
		{"bad limit", "GET", "/api/webhooks/whk_x/deliveries?limit=x", nil, 400, "invalid_limit"},
	} {
		r := tg.do(c.method, c.path, key, c.body)
		if r.status != c.status || r.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
}

// WAHA-style webhooks in a session's config become endpoints of that session: created
// with it, replaced by a config update, deleted with it; the provider never sees them.
func TestSessionConfigWebhooks(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
`)
	key := tg.createTenant("waha")
	h := newHookReceiver(t)
	cfg := map[string]any{"webhooks": []map[string]any{{
		"url": h.srv.URL + "/waha", "events": []string{"session.status"},
		"hmac": map[string]any{"key": "waha-secret"}, "customHeaders": []map[string]any{{"name": "X-Tenant", "value": "waha"}},
		"retries": map[string]any{"policy": "constant", "delaySeconds": 2, "attempts": 15},
	}}}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main", "config": cfg}); r.status != 201 {
		t.Fatalf("create session with webhooks: %d %s", r.status, r.body)
	}
	var list []struct {
		ID, URL, Session string
		Headers          map[string]string
		WAHAHmac         bool `json:"wahaHmac"`
	}
	tg.do("GET", "/api/webhooks", key, nil).json(t, &list)
	if len(list) != 1 || list[0].Session != "main" || !list[0].WAHAHmac || list[0].Headers["X-Tenant"] != "waha" {
		t.Fatalf("webhooks after create: %+v", list)
	}
	var sec struct{ Secret string }
	tg.do("GET", "/api/webhooks/"+list[0].ID+"/secret", key, nil).json(t, &sec)
	h.mu.Lock()
	h.secret = sec.Secret
	h.mu.Unlock()
	if r := tg.do("POST", "/api/sandbox/main/link", key, map[string]any{}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	h.waitFor(t, "session.status", "status", "WORKING")
	h.mu.Lock()
	if len(h.hmacs) == 0 || len(h.hmacs[0]) != 128 {
		t.Errorf("X-Webhook-Hmac headers: %q, want 128 hex digits", h.hmacs)
	}
	h.mu.Unlock()

	// PUT via /api/webhooks is refused: the session's config owns it.
	if r := tg.do("PUT", "/api/webhooks/"+list[0].ID, key, map[string]any{"url": h.srv.URL, "events": []string{"*"}}); r.status != 409 || r.errCode() != "webhook_owned_by_session" {
		t.Errorf("PUT on a session's webhook: %d %s", r.status, r.body)
	}
	// A config update without "webhooks" leaves them; an empty list removes them.
	if r := tg.do("PUT", "/api/sessions/main", key, map[string]any{"config": map[string]any{}}); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	tg.do("GET", "/api/webhooks", key, nil).json(t, &list)
	if len(list) != 1 {
		t.Fatalf("after an update without webhooks: %d endpoints, want 1", len(list))
	}
	if r := tg.do("PUT", "/api/sessions/main", key, map[string]any{"config": map[string]any{"webhooks": []any{}}}); r.status != 200 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	tg.do("GET", "/api/webhooks", key, nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("after webhooks: []: %+v", list)
	}
	// Bad webhooks in a config: 400 before the session is created.
	r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "bad", "config": map[string]any{"webhooks": []map[string]any{{"url": "http://10.0.0.1/", "events": []string{"*"}}}}})
	if r.status != 400 || r.errCode() != "webhook_url_forbidden" {
		t.Fatalf("forbidden URL in a session config: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/sessions/bad", key, nil); r.status != 404 {
		t.Fatalf("session with bad webhooks was created: %d", r.status)
	}
	// Deleting the session deletes its webhooks.
	tg.do("PUT", "/api/sessions/main", key, map[string]any{"config": cfg})
	if r := tg.do("DELETE", "/api/sessions/main", key, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	tg.do("GET", "/api/webhooks", key, nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("after deleting the session: %+v", list)
	}
}
