package main

import (
	"net/url"
	"strings"
	"testing"
)

// The admin key with X-Wagate-Tenant reads a tenant's sessions, messages and webhooks
// (docs/api.md, "Acting as a tenant"), and nothing else: every write as the tenant, the
// secrets behind the admin scope (webhook secret, QR), an unknown tenant and a tenant key
// with the header are refused with their stable codes.
func TestAdminActsAsTenantReadOnly(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
`)
	key := tg.createTenant("acme")
	other := tg.createTenant("globex")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main", "start": false}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15550001111", "text": "hi"})
	if r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	var sent struct{ ID string }
	r.json(t, &sent)
	r = tg.do("POST", "/api/webhooks", key, map[string]any{"url": "http://127.0.0.1:9/wa", "events": []string{"message"}})
	if r.status != 201 {
		t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	var hook struct{ ID string }
	r.json(t, &hook)

	as := func(method, path, k, tenant string, body any) resp {
		t.Helper()
		return tg.doHeaders(method, path, k, body, "X-Wagate-Tenant", tenant)
	}
	// Reads: what the tenant's own key would see.
	var sessions []struct{ Name string }
	if r := as("GET", "/api/sessions", adminKey, "acme", nil); r.status != 200 {
		t.Fatalf("admin lists acme's sessions: %d %s", r.status, r.body)
	} else if r.json(t, &sessions); len(sessions) != 1 || sessions[0].Name != "main" {
		t.Fatalf("admin lists acme's sessions: %s", r.body)
	}
	for _, path := range []string{"/api/sessions/main", "/api/messages/" + sent.ID, "/api/webhooks", "/api/webhooks/" + hook.ID,
		"/api/webhooks/" + hook.ID + "/deliveries", "/api/sessions/main/queue"} {
		if r := as("GET", path, adminKey, "acme", nil); r.status != 200 {
			t.Errorf("admin reads acme's %s: %d %s", path, r.status, r.body)
		}
	}
	if r := as("GET", "/api/webhooks", adminKey, "acme", nil); strings.Contains(string(r.body), "whsec_") {
		t.Errorf("the webhook list shows a secret: %s", r.body)
	}
	// Tenant isolation still holds: globex's view has none of acme's resources.
	if r := as("GET", "/api/sessions/main", adminKey, "globex", nil); r.status != 404 {
		t.Errorf("admin as globex reads acme's session: %d %s", r.status, r.body)
	}
	// Writes and admin-scope reads are refused, and nothing changed.
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/sessions", map[string]any{"name": "evil", "start": false}},
		{"POST", "/api/sendText", map[string]any{"session": "main", "chatId": "15550001111", "text": "x"}},
		{"DELETE", "/api/sessions/main", nil},
		{"POST", "/api/sessions/main/start", nil},
		{"DELETE", "/api/webhooks/" + hook.ID, nil},
		{"GET", "/api/webhooks/" + hook.ID + "/secret", nil},
		{"GET", "/api/main/auth/qr?format=raw", nil},
	} {
		if r := as(tc.method, tc.path, adminKey, "acme", tc.body); r.status != 403 || r.errCode() != "act_as_read_only" {
			t.Errorf("admin as acme %s %s: %d %s, want 403 act_as_read_only", tc.method, tc.path, r.status, r.body)
		}
	}
	if r := tg.do("GET", "/api/sessions", key, nil); !strings.Contains(string(r.body), `"main"`) || strings.Contains(string(r.body), "evil") {
		t.Errorf("acme's sessions after the refused writes: %s", r.body)
	}
	if r := tg.do("GET", "/api/webhooks/"+hook.ID, key, nil); r.status != 200 {
		t.Errorf("acme's webhook after the refused delete: %d %s", r.status, r.body)
	}
	// Bad input.
	if r := as("GET", "/api/sessions", adminKey, "nobody", nil); r.status != 404 || r.errCode() != "tenant_not_found" {
		t.Errorf("unknown tenant: %d %s", r.status, r.body)
	}
	if r := as("GET", "/api/sessions", other, "acme", nil); r.status != 403 || r.errCode() != "act_as_admin_only" {
		t.Errorf("globex's key with the header: %d %s", r.status, r.body)
	}
	if r := as("GET", "/api/sessions", key, "acme", nil); r.status != 403 || r.errCode() != "act_as_admin_only" {
		t.Errorf("acme's own key with the header: %d %s", r.status, r.body)
	}
	// Without the header the admin key is still no tenant key; admin routes ignore it.
	if r := tg.do("GET", "/api/sessions", adminKey, nil); r.status != 403 || r.errCode() != "tenant_key_required" {
		t.Errorf("admin without the header: %d %s", r.status, r.body)
	}
	if r := as("GET", "/api/admin/tenants", adminKey, "acme", nil); r.status != 200 {
		t.Errorf("admin route with the header: %d %s", r.status, r.body)
	}
	// Streams take it as a query parameter (EventSource cannot set headers).
	q := url.Values{"x-api-key": {adminKey}, "x-wagate-tenant": {"acme"}}
	events, stop := tg.sse("", "?"+q.Encode())
	defer stop()
	if r := tg.do("POST", "/api/sessions/main/start", key, nil); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if env := waitEvent(t, events, "session.status", nil); env.Tenant != "acme" || env.Session != "main" {
		t.Errorf("the admin's stream as acme: %+v", env)
	}
}
