package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
)

// sessionRoutes are every route that names a session of the caller's tenant.
var sessionRoutes = []struct{ method, path string }{
	{"GET", "/api/sessions/%s"},
	{"PUT", "/api/sessions/%s"},
	{"DELETE", "/api/sessions/%s"},
	{"POST", "/api/sessions/%s/start"},
	{"POST", "/api/sessions/%s/stop"},
	{"POST", "/api/sessions/%s/restart"},
	{"POST", "/api/sessions/%s/logout"},
	{"GET", "/api/%s/auth/qr"},
	{"POST", "/api/%s/auth/request-code"},
	{"POST", "/api/sandbox/%s/link"},
	{"GET", "/api/sandbox/%s/faults"},
	{"PUT", "/api/sandbox/%s/faults"},
	{"POST", "/api/sandbox/%s/inbound"},
}

// bodyFor is a valid body for routes that take one, so that a 404 is about the
// session, not the body.
func bodyFor(method, path string) any {
	switch {
	case strings.HasSuffix(path, "/request-code"):
		return map[string]any{"phoneNumber": "15551234567"}
	case strings.HasSuffix(path, "/link"):
		return map[string]any{}
	case strings.HasSuffix(path, "/inbound"):
		return map[string]any{"from": "15550000000", "text": "x"}
	case strings.HasSuffix(path, "/faults") && method == "PUT":
		return map[string]any{}
	case method == "PUT":
		return map[string]any{"config": map[string]any{}}
	}
	return nil
}

func TestTenantIsolationAndAuth(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	keyA := tg.createTenant("tenant-a")
	keyB := tg.createTenant("tenant-b")
	if r := tg.do("POST", "/api/sessions", keyB, map[string]any{"name": "b-main"}); r.status != 201 {
		t.Fatalf("create B session: %d %s", r.status, r.body)
	}

	for _, rt := range sessionRoutes {
		path := fmt.Sprintf(rt.path, "b-main")
		body := bodyFor(rt.method, rt.path)
		// Tenant A sees nothing of tenant B: 404, never 403.
		if r := tg.do(rt.method, path, keyA, body); r.status != 404 || r.errCode() != "session_not_found" {
			t.Errorf("A on B's %s %s: %d %s, want 404 session_not_found", rt.method, path, r.status, r.body)
		}
		if r := tg.do(rt.method, path, "", body); r.status != 401 || r.errCode() != "unauthorized" {
			t.Errorf("no key on %s %s: %d %s, want 401", rt.method, path, r.status, r.body)
		}
		if r := tg.do(rt.method, path, keyA+"x", body); r.status != 401 {
			t.Errorf("wrong key on %s %s: %d, want 401", rt.method, path, r.status)
		}
	}
	// B's session is untouched and A's list is empty.
	if r := tg.do("GET", "/api/sessions/b-main", keyB, nil); r.status != 200 {
		t.Errorf("B's own session after A's attempts: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/sessions", keyA, nil); r.status != 200 || strings.Contains(string(r.body), "b-main") {
		t.Errorf("A's list: %d %s", r.status, r.body)
	}
	// Sending through another tenant's session is a 404 too.
	if r := tg.do("POST", "/api/sendText", keyA, map[string]any{"session": "b-main", "chatId": "15551234567", "text": "x"}); r.status != 404 {
		t.Errorf("A sends through B's session: %d %s", r.status, r.body)
	}

	// Admin routes refuse tenant keys and missing keys.
	admin := []struct{ method, path string }{
		{"GET", "/api/admin/tenants"},
		{"POST", "/api/admin/tenants"},
		{"GET", "/api/admin/tenants/tenant-b"},
		{"DELETE", "/api/admin/tenants/tenant-b"},
		{"POST", "/api/admin/tenants/tenant-b/keys"},
		{"GET", "/api/admin/tenants/tenant-b/keys"},
	}
	for _, rt := range admin {
		if r := tg.do(rt.method, rt.path, keyA, map[string]any{}); r.status != 403 {
			t.Errorf("tenant key on admin %s %s: %d %s, want 403", rt.method, rt.path, r.status, r.body)
		}
		if r := tg.do(rt.method, rt.path, "", map[string]any{}); r.status != 401 {
			t.Errorf("no key on admin %s %s: %d, want 401", rt.method, rt.path, r.status)
		}
	}
	if r := tg.do("GET", "/api/admin/tenants/tenant-b", adminKey, nil); r.status != 200 {
		t.Errorf("admin reads tenant: %d %s", r.status, r.body)
	}
}

func TestBadInputGetsStable4xx(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main", "start": false}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	big := `{"session":"main","chatId":"15551234567","text":"` + strings.Repeat("a", 70*1024) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"malformed json", "POST", "/api/sendText", `{"session":`, 400, "malformed_json"},
		{"not an object", "POST", "/api/sendText", `[1,2]`, 400, "wrong_type"},
		{"unknown field", "POST", "/api/sendText", `{"session":"main","chatId":"15551234567","text":"x","bogus":1}`, 400, "unknown_field"},
		{"wrong type", "POST", "/api/sendText", `{"session":"main","chatId":15551234567,"text":"x"}`, 400, "wrong_type"},
		{"empty body", "POST", "/api/sendText", "", 400, "empty_body"},
		{"empty text", "POST", "/api/sendText", `{"session":"main","chatId":"15551234567","text":""}`, 400, "invalid_text"},
		{"missing chat id", "POST", "/api/sendText", `{"session":"main","text":"x"}`, 400, "invalid_chat_id"},
		{"bad chat id letters", "POST", "/api/sendText", `{"session":"main","chatId":"abc","text":"x"}`, 400, "invalid_chat_id"},
		{"bad chat id server", "POST", "/api/sendText", `{"session":"main","chatId":"1555123@x.us","text":"x"}`, 400, "invalid_chat_id"},
		{"bad chat id short", "POST", "/api/sendText", `{"session":"main","chatId":"123","text":"x"}`, 400, "invalid_chat_id"},
		{"oversized body", "POST", "/api/sendText", big, 413, "payload_too_large"},
		{"unknown session", "POST", "/api/sendText", `{"session":"nope","chatId":"15551234567","text":"x"}`, 404, "session_not_found"},
		{"unknown message", "GET", "/api/messages/msg_nope", nil, 404, "message_not_found"},
		{"wrong method", "DELETE", "/api/sendText", nil, 405, "method_not_allowed"},
		{"unknown route", "GET", "/api/nothing-here", nil, 404, "not_found"},
		{"unknown session get", "GET", "/api/sessions/nope", nil, 404, "session_not_found"},
		{"bad session name", "POST", "/api/sessions", `{"name":"a b"}`, 400, "invalid_session_name"},
		{"duplicate session", "POST", "/api/sessions", `{"name":"main"}`, 409, "session_exists"},
		{"unknown provider", "POST", "/api/sessions", `{"name":"x","provider":"telegram"}`, 400, "unknown_provider"},
		{"bad provider config", "POST", "/api/sessions", `{"name":"x","config":{"faults":{"send_failure_rate":2}}}`, 400, "invalid_session_config"},
		{"qr when not pairing", "GET", "/api/main/auth/qr", nil, 409, "session_not_pairing"},
		{"bad qr format", "GET", "/api/main/auth/qr?format=gif", nil, 400, "invalid_format"},
		{"bad faults", "PUT", "/api/sandbox/main/faults", `{"send_failure_rate":-1}`, 400, "invalid_faults"},
		{"bad events filter", "GET", "/api/events?events=" + strings.Repeat("x", 300), nil, 400, "invalid_event_filter"},
	}
	for _, c := range cases {
		var r resp
		if c.status == 413 {
			r = tg.doRefusedBody(c.method, c.path, key, c.body)
		} else {
			r = tg.do(c.method, c.path, key, c.body)
		}
		if r.status != c.status || r.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", c.name)
		}
	}
}

func TestPlanSessionLimit(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	r := tg.do("POST", "/api/admin/tenants", adminKey, map[string]any{"id": "small", "plan": map[string]any{"maxSessions": 1, "maxMessagesPerDay": 100}})
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var out struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	r.json(t, &out)
	if r := tg.do("POST", "/api/sessions", out.APIKey.Key, map[string]any{"name": "one", "start": false}); r.status != 201 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r = tg.do("POST", "/api/sessions", out.APIKey.Key, map[string]any{"name": "two", "start": false})
	if r.status != 403 || r.errCode() != "session_limit_reached" {
		t.Fatalf("over plan: %d %s, want 403 session_limit_reached", r.status, r.body)
	}
}

// TestQueuedUntilWorkingIdempotentAndLimited: a send to a session that is still pairing
// is accepted and waits; a repeated Idempotency-Key answers the first message and counts
// nothing; the plan's daily limit counts accepted messages; once linked, the queue drains
// and each message's history shows queued -> sending -> sent -> delivered -> read.
func TestQueuedUntilWorkingIdempotentAndLimited(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	r := tg.do("POST", "/api/admin/tenants", adminKey, map[string]any{"id": "tiny", "plan": map[string]any{"maxSessions": 2, "maxMessagesPerDay": 2}})
	var out struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	r.json(t, &out)
	key := out.APIKey.Key
	tg.do("POST", "/api/sessions", key, map[string]any{"name": "main"})
	send := func(idem string) resp {
		return tg.doHeaders("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15551234567", "text": "x"},
			"Idempotency-Key", idem)
	}
	first := send("order-1")
	if first.status != 202 {
		t.Fatalf("send while pairing: %d %s", first.status, first.body)
	}
	var a1, a2 struct{ ID, Status string }
	first.json(t, &a1)
	again := send("order-1")
	again.json(t, &a2)
	if again.status != 202 || a2.ID != a1.ID || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s %v", again.status, again.body, again.header)
	}
	if r := send("order-2"); r.status != 202 {
		t.Fatalf("second message: %d %s", r.status, r.body)
	}
	if r := send("order-3"); r.status != 429 || r.errCode() != "daily_limit_reached" || r.header.Get("Retry-After") == "" {
		t.Fatalf("third message over a limit of 2: %d %s", r.status, r.body)
	}
	if r := tg.doHeaders("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15551234567", "text": "x"}, "Idempotency-Key", "has space"); r.status != 400 || r.errCode() != "invalid_idempotency_key" {
		t.Fatalf("bad key: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/messages/"+a1.ID, key, nil); r.status != 200 || !strings.Contains(string(r.body), `"status":"queued"`) {
		t.Fatalf("queued message: %d %s", r.status, r.body)
	}

	tg.do("POST", "/api/sandbox/main/link", key, map[string]any{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := tg.do("GET", "/api/messages/"+a1.ID, key, nil)
		var m struct {
			Status  string
			History []struct{ Status string }
		}
		r.json(t, &m)
		if m.Status == "read" {
			var seq []string
			for _, h := range m.History {
				seq = append(seq, h.Status)
			}
			if got := strings.Join(seq, ","); got != "queued,sending,sent,delivered,read" {
				t.Errorf("history %s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not read 10s after link: %s", r.body)
		}
		time.Sleep(20 * time.Millisecond) // polling the API with a deadline
	}
	// Another tenant cannot read it.
	other := tg.createTenant("other")
	if r := tg.do("GET", "/api/messages/"+a1.ID, other, nil); r.status != 404 {
		t.Errorf("other tenant reads the message: %d", r.status)
	}
}

func TestStreamsEndWhenKeyRevokedOrTenantDeleted(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("gone")
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	r := tg.do("POST", "/api/admin/tenants/gone/keys", adminKey, map[string]any{"name": "second"})
	r.json(t, &created)

	revoked, stop1 := tg.sse(created.Key, "")
	defer stop1()
	kept, stop2 := tg.sse(key, "")
	defer stop2()
	if r := tg.do("DELETE", "/api/admin/tenants/gone/keys/"+created.ID, adminKey, nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	waitClosed(t, revoked, "stream of a revoked key")

	if r := tg.do("DELETE", "/api/admin/tenants/gone", adminKey, nil); r.status != 204 {
		t.Fatalf("delete tenant: %d %s", r.status, r.body)
	}
	waitClosed(t, kept, "stream of a deleted tenant")
	// A new tenant with the same id is a new tenant: the old key is dead.
	tg.createTenant("gone")
	if r := tg.do("GET", "/api/sessions", key, nil); r.status != 401 {
		t.Errorf("old key on the re-created tenant: %d", r.status)
	}
}

func waitClosed(t *testing.T, ch <-chan event.Envelope, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s still open 10s later", what)
		}
	}
}

func TestDailyCountSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tg := bootYAML(t, dir, "")
	r := tg.do("POST", "/api/admin/tenants", adminKey, map[string]any{"id": "one", "plan": map[string]any{"maxSessions": 1, "maxMessagesPerDay": 1}})
	var out struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	r.json(t, &out)
	tg.do("POST", "/api/sessions", out.APIKey.Key, map[string]any{"name": "main", "start": false})
	send := map[string]any{"session": "main", "chatId": "15551234567", "text": "x"}
	if r := tg.do("POST", "/api/sendText", out.APIKey.Key, send); r.status != 202 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	tg.stop()
	tg = bootYAML(t, dir, "")
	if r := tg.do("POST", "/api/sendText", out.APIKey.Key, send); r.status != 429 {
		t.Fatalf("after restart, over the limit: %d %s", r.status, r.body)
	}
}

// doRefusedBody is do for a body the server refuses for its size: fasthttp answers 413
// and closes the connection without reading the rest, so a client still writing may see
// the reset before the answer (a busy machine makes it likelier). The request is tried
// again, up to three times, until the answer is read.
func (tg *testGateway) doRefusedBody(method, path, key string, body any) resp {
	tg.t.Helper()
	b, _ := json.Marshal(body)
	if s, ok := body.(string); ok {
		b = []byte(s)
	}
	var last error
	for range 3 {
		req, _ := http.NewRequest(method, tg.base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err
			continue
		}
		out, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return resp{status: res.StatusCode, header: res.Header, body: out}
	}
	tg.t.Fatalf("%s %s: %v", method, path, last)
	return resp{}
}
