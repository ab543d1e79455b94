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
	h.waitFor(t, "message.ack", "ack", "read")

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
