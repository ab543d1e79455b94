package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/tenant"
)

func TestErrorModel(t *testing.T) {
	e := newEnv(t)
	big := `{"name":"` + strings.Repeat("x", 5000) + `"}`
	cases := []struct {
		name         string
		method, path string
		body         string
		headers      []string
		status       int
		code         string
		details      map[string]any
	}{
		{name: "unknown route", method: "GET", path: "/nope", status: 404, code: "not_found"},
		{name: "trailing slash is not redirected", method: "GET", path: "/health/", status: 404, code: "not_found"},
		{name: "wrong method", method: "DELETE", path: "/health", status: 405, code: "method_not_allowed"},
		{name: "body over max_body_bytes", method: "POST", path: "/api/admin/tenants", body: big, status: 413, code: "payload_too_large",
			details: map[string]any{"limit": float64(4096)}},
		{name: "not json content type", method: "POST", path: "/api/admin/tenants", body: `{}`,
			headers: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type"},
		{name: "json with charset", method: "POST", path: "/api/admin/tenants", body: `{"id":"charset"}`,
			headers: []string{"Content-Type", "application/json; charset=utf-8"}, status: 201},
		{name: "malformed", method: "POST", path: "/api/admin/tenants", body: `{"id":`, status: 400, code: "malformed_json"},
		{name: "syntax error", method: "POST", path: "/api/admin/tenants", body: `{"id" "x"}`, status: 400, code: "malformed_json",
			details: map[string]any{"offset": float64(7)}},
		{name: "trailing data", method: "POST", path: "/api/admin/tenants", body: `{"id":"a"} {}`, status: 400, code: "malformed_json"},
		{name: "unknown field", method: "POST", path: "/api/admin/tenants", body: `{"id":"a","colour":"red"}`, status: 400, code: "unknown_field",
			details: map[string]any{"field": "colour"}},
		{name: "wrong type", method: "POST", path: "/api/admin/tenants", body: `{"name":42}`, status: 400, code: "wrong_type",
			details: map[string]any{"field": "name", "expected": "string"}},
		{name: "nested wrong type", method: "POST", path: "/api/admin/tenants", body: `{"plan":{"maxSessions":"many"}}`, status: 400, code: "wrong_type",
			details: map[string]any{"field": "plan.maxSessions", "expected": "integer"}},
		{name: "half a plan", method: "POST", path: "/api/admin/tenants", body: `{"plan":{"maxSessions":3}}`, status: 400, code: "missing_field",
			details: map[string]any{"field": "plan.maxMessagesPerDay"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.do(tc.method, tc.path, testAdminKey, tc.body, tc.headers...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.status, b)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if tc.code == "" {
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			got := errorOf(t, b)
			if got.Code != tc.code {
				t.Errorf("code = %q, want %q (message %q)", got.Code, tc.code, got.Message)
			}
			if got.Message == "" {
				t.Error("empty message")
			}
			for k, v := range tc.details {
				if got.Details[k] != v {
					t.Errorf("details[%s] = %v, want %v (all: %v)", k, got.Details[k], v, got.Details)
				}
			}
			if tc.status == 405 && !strings.Contains(resp.Header.Get("Allow"), "GET") {
				t.Errorf("Allow = %q, want GET in it", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, sent string
		echoed     bool
	}{
		{"valid is echoed", "abc-123_X.y", true},
		{"64 chars is echoed", strings.Repeat("a", 64), true},
		{"65 chars is replaced", strings.Repeat("a", 65), false},
		{"bad characters are replaced", "abc def", false},
		{"none is generated", "", false},
	}
	for _, path := range []string{"/health", "/nope"} {
		for _, tc := range cases {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				var hdr []string
				if tc.sent != "" {
					hdr = []string{"X-Request-Id", tc.sent}
				}
				resp, _ := e.do("GET", path, "", "", hdr...)
				got := resp.Header.Get("X-Request-Id")
				if tc.echoed && got != tc.sent {
					t.Errorf("X-Request-Id = %q, want %q echoed", got, tc.sent)
				}
				if !tc.echoed && (!strings.HasPrefix(got, "req_") || len(got) != 30) {
					t.Errorf("X-Request-Id = %q, want a generated req_ id", got)
				}
			})
		}
	}
	// Two requests without an id get different ones.
	r1, _ := e.do("GET", "/health", "", "")
	r2, _ := e.do("GET", "/health", "", "")
	if r1.Header.Get("X-Request-Id") == r2.Header.Get("X-Request-Id") {
		t.Error("generated request ids repeat")
	}
}

func TestAuthMatrix(t *testing.T) {
	e := newEnv(t)
	key := e.createTenant("acme")
	cases := []struct {
		name, method, path, key string
		status                  int
		code                    string
	}{
		{"admin route, no key", "GET", "/api/admin/tenants", "", 401, "unauthorized"},
		{"admin route, wrong key", "GET", "/api/admin/tenants", "wag_admin.nope", 401, "unauthorized"},
		{"admin route, malformed key", "GET", "/api/admin/tenants", "x", 401, "unauthorized"},
		{"admin route, tenant key", "GET", "/api/admin/tenants", key, 403, "admin_required"},
		{"admin route, admin key", "GET", "/api/admin/tenants", testAdminKey, 200, ""},
		{"tenant route, no key", "GET", "/api/events", "", 401, "unauthorized"},
		{"tenant route, wrong key", "GET", "/api/events", key + "x", 401, "unauthorized"},
		{"tenant route, admin key", "GET", "/api/events", testAdminKey, 403, "tenant_key_required"},
		{"tenant ws route, admin key", "GET", "/ws", testAdminKey, 403, "tenant_key_required"},
		{"open route, no key", "GET", "/health", "", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.do(tc.method, tc.path, tc.key, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.status, b)
			}
			if tc.code == "" {
				return
			}
			if got := errorOf(t, b).Code; got != tc.code {
				t.Errorf("code = %q, want %q", got, tc.code)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") != "ApiKey" {
				t.Errorf("WWW-Authenticate = %q, want ApiKey", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// tenantKeyWorks reports whether key authenticates on a tenant route (it opens and
// closes an event stream).
func tenantKeyWorks(t *testing.T, e *testEnv, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.base+"/api/events", nil)
	req.Header.Set("X-Api-Key", key)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAdminTenantsAndKeys(t *testing.T) {
	var deletedSessions atomic.Value
	e := newEnv(t, func(o *envOptions) {
		o.deps = func(d *Deps) {
			d.DeleteTenantSessions = func(ctx context.Context, id string) error {
				deletedSessions.Store(id)
				return nil
			}
		}
	})
	adm := testAdminKey

	// Create with an id, a name and a full plan.
	resp, b := e.do("POST", "/api/admin/tenants", adm, `{"id":"acme","name":"Acme Inc","plan":{"maxSessions":3,"maxMessagesPerDay":0}}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var created createTenantResponse
	if err := json.Unmarshal(b, &created); err != nil {
		t.Fatal(err)
	}
	if created.Tenant.ID != "acme" || created.Tenant.Name != "Acme Inc" || created.Tenant.Plan.MaxSessions != 3 ||
		created.APIKey.Key == "" || created.APIKey.ID == "" || created.APIKey.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", created)
	}
	// Create with no body at all: generated id, default plan.
	resp, b = e.do("POST", "/api/admin/tenants", adm, "")
	if resp.StatusCode != 201 {
		t.Fatalf("create without body: %d %s", resp.StatusCode, b)
	}
	var gen createTenantResponse
	json.Unmarshal(b, &gen)
	if !strings.HasPrefix(gen.Tenant.ID, "t-") || gen.Tenant.Plan.MaxSessions != 5 {
		t.Errorf("generated tenant = %+v", gen.Tenant)
	}

	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"id":"acme"}`, 409, "tenant_exists"},
		{`{"id":"Not Valid"}`, 400, "invalid_tenant_id"},
		{`{"id":"p","plan":{"maxSessions":0,"maxMessagesPerDay":1}}`, 400, "invalid_plan"},
	} {
		resp, b := e.do("POST", "/api/admin/tenants", adm, tc.body)
		if resp.StatusCode != tc.status || errorOf(t, b).Code != tc.code {
			t.Errorf("create %s: %d %s, want %d %s", tc.body, resp.StatusCode, b, tc.status, tc.code)
		}
	}

	// List and get.
	resp, b = e.do("GET", "/api/admin/tenants", adm, "")
	var list []tenant.Tenant
	if err := json.Unmarshal(b, &list); err != nil || resp.StatusCode != 200 || len(list) != 2 {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/api/admin/tenants/acme", adm, "")
	var got tenant.Tenant
	if json.Unmarshal(b, &got); resp.StatusCode != 200 || got.ID != "acme" {
		t.Fatalf("get: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/api/admin/tenants/ghost", adm, "")
	if resp.StatusCode != 404 || errorOf(t, b).Code != "tenant_not_found" {
		t.Errorf("get missing: %d %s", resp.StatusCode, b)
	}

	// Keys: create, list (no secrets), use, revoke.
	resp, b = e.do("POST", "/api/admin/tenants/acme/keys", adm, `{"name":"crm"}`)
	var nk tenant.NewKey
	if json.Unmarshal(b, &nk); resp.StatusCode != 201 || nk.Name != "crm" || !strings.HasPrefix(nk.Key, "wag_acme.") {
		t.Fatalf("create key: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("POST", "/api/admin/tenants/ghost/keys", adm, "")
	if resp.StatusCode != 404 || errorOf(t, b).Code != "tenant_not_found" {
		t.Errorf("key for missing tenant: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/api/admin/tenants/acme/keys", adm, "")
	if resp.StatusCode != 200 || strings.Contains(string(b), nk.Key) || strings.Contains(string(b), "hash") {
		t.Fatalf("list keys leaks secrets or failed: %d %s", resp.StatusCode, b)
	}
	var keys []apiKeyInfo
	json.Unmarshal(b, &keys)
	if len(keys) != 2 || keys[1].ID != nk.ID || keys[1].Revoked {
		t.Fatalf("keys = %+v", keys)
	}
	if st := tenantKeyWorks(t, e, nk.Key); st != 200 {
		t.Fatalf("new key: status %d", st)
	}
	resp, _ = e.do("DELETE", "/api/admin/tenants/acme/keys/"+nk.ID, adm, "")
	if resp.StatusCode != 204 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if st := tenantKeyWorks(t, e, nk.Key); st != 401 {
		t.Errorf("revoked key: status %d, want 401", st)
	}
	if st := tenantKeyWorks(t, e, created.APIKey.Key); st != 200 {
		t.Errorf("other key after revoke: status %d, want 200", st)
	}
	resp, _ = e.do("DELETE", "/api/admin/tenants/acme/keys/"+nk.ID, adm, "")
	if resp.StatusCode != 204 {
		t.Errorf("revoke twice: %d, want 204", resp.StatusCode)
	}
	resp, b = e.do("DELETE", "/api/admin/tenants/acme/keys/aaaaaaaaaaaa", adm, "")
	if resp.StatusCode != 404 || errorOf(t, b).Code != "key_not_found" {
		t.Errorf("revoke missing key: %d %s", resp.StatusCode, b)
	}
	_, b = e.do("GET", "/api/admin/tenants/acme/keys", adm, "")
	json.Unmarshal(b, &keys)
	if !keys[1].Revoked || keys[1].RevokedAt == nil {
		t.Errorf("revoked key listed as %+v", keys[1])
	}

	// Delete: sessions first, then the tenant; its keys stop working.
	resp, _ = e.do("DELETE", "/api/admin/tenants/acme", adm, "")
	if resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if deletedSessions.Load() != "acme" {
		t.Errorf("DeleteTenantSessions got %v, want acme", deletedSessions.Load())
	}
	if st := tenantKeyWorks(t, e, created.APIKey.Key); st != 401 {
		t.Errorf("key of deleted tenant: status %d, want 401", st)
	}
	resp, b = e.do("DELETE", "/api/admin/tenants/acme", adm, "")
	if resp.StatusCode != 404 || errorOf(t, b).Code != "tenant_not_found" {
		t.Errorf("delete twice: %d %s", resp.StatusCode, b)
	}
}

func TestHealthAndReady(t *testing.T) {
	var notReady atomic.Pointer[error]
	e := newEnv(t, func(o *envOptions) {
		o.deps = func(d *Deps) {
			d.Ready = func(ctx context.Context) error {
				if p := notReady.Load(); p != nil {
					return *p
				}
				return nil
			}
		}
	})
	resp, b := e.do("GET", "/health", "", "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"status":"ok"}` {
		t.Errorf("health: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/ready", "", "")
	if resp.StatusCode != 200 {
		t.Errorf("ready: %d %s", resp.StatusCode, b)
	}
	err := errors.New("store: not open")
	notReady.Store(&err)
	resp, b = e.do("GET", "/ready", "", "")
	if resp.StatusCode != 503 {
		t.Fatalf("not ready: %d %s", resp.StatusCode, b)
	}
	ed := errorOf(t, b)
	if ed.Code != "not_ready" || ed.Details["reason"] != "store: not open" {
		t.Errorf("not ready body = %+v", ed)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/health", "", "")
	e.do("GET", "/nope/1", "", "")
	e.do("GET", "/nope/2", "", "")
	e.do("GET", "/api/admin/tenants/x", testAdminKey, "")
	resp, b := e.do("GET", "/metrics", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	text := string(b)
	for _, want := range []string{
		`wagate_http_requests_total{method="GET",route="/health",status="200"} 1`,
		`wagate_http_requests_total{method="GET",route="unmatched",status="404"} 2`,
		`wagate_http_requests_total{method="GET",route="/api/admin/tenants/{id}",status="404"} 1`,
		`wagate_http_request_duration_seconds_bucket{method="GET",route="/health",status="200",le="+Inf"} 1`,
		`go_goroutines`,
		`wagate_events_subscribers`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "/nope") {
		t.Error("raw paths leak into metric labels")
	}
}

func TestOpsWithoutKey(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/health", "/ready", "/metrics", "/api/openapi.json"} {
		if resp, b := e.do("GET", p, "", ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}

// TestHandlerErrors checks what writeError makes of what handlers return or throw,
// with routes made for the test and run in memory.
func TestHandlerErrors(t *testing.T) {
	e := newEnv(t)
	s := e.srv
	secret := errors.New("badger: /var/lib/secret-path corrupted")
	table := []route{
		{method: "GET", path: "/t/panic", handle: func(*fasthttp.RequestCtx, *request) error { panic("boom " + secret.Error()) }},
		{method: "GET", path: "/t/unknown", handle: func(*fasthttp.RequestCtx, *request) error { return fmt.Errorf("loading: %w", secret) }},
		{method: "GET", path: "/t/daily", handle: func(*fasthttp.RequestCtx, *request) error {
			return fmt.Errorf("%w: 100 of 100 used today", tenant.ErrDailyLimit)
		}},
		{method: "GET", path: "/t/429", handle: func(*fasthttp.RequestCtx, *request) error {
			return tooManyRequests("rate_limited", "slow down", 0)
		}},
		{method: "GET", path: "/t/deadline", timeout: time.Nanosecond, handle: func(_ *fasthttp.RequestCtx, r *request) error {
			<-r.ctx.Done()
			return r.ctx.Err()
		}},
		{method: "GET", path: "/t/ok-then-fail", handle: func(c *fasthttp.RequestCtx, r *request) error {
			c.SetBodyString("partial")
			return notFound("thing_not_found", "no such thing")
		}},
	}
	h := s.chain(s.buildRouter(table).Handler)
	cases := []struct {
		path       string
		status     int
		code       string
		retryAfter string
	}{
		{"/t/panic", 500, "internal_error", ""},
		{"/t/unknown", 500, "internal_error", ""},
		{"/t/daily", 429, "daily_limit_reached", "*"},
		{"/t/429", 429, "rate_limited", "1"},
		{"/t/deadline", 504, "timeout", ""},
		{"/t/ok-then-fail", 404, "thing_not_found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp := inMemory(h, "GET", tc.path, "", "X-Request-Id", "rid-1")
			if resp.StatusCode() != tc.status {
				t.Fatalf("status = %d, want %d; %s", resp.StatusCode(), tc.status, resp.Body())
			}
			ed := errorOf(t, resp.Body())
			if ed.Code != tc.code {
				t.Errorf("code = %q, want %q", ed.Code, tc.code)
			}
			if string(resp.Header.Peek("X-Request-Id")) != "rid-1" {
				t.Errorf("X-Request-Id = %q", resp.Header.Peek("X-Request-Id"))
			}
			if strings.Contains(string(resp.Body()), "secret") {
				t.Errorf("internal error text leaked: %s", resp.Body())
			}
			if tc.status == 500 && ed.Message != "internal error (request id rid-1)" {
				t.Errorf("message = %q", ed.Message)
			}
			ra := string(resp.Header.Peek("Retry-After"))
			switch tc.retryAfter {
			case "":
				if ra != "" {
					t.Errorf("unexpected Retry-After %q", ra)
				}
			case "*":
				n, err := strconv.Atoi(ra)
				if err != nil || n < 1 || n > 86400 {
					t.Errorf("Retry-After = %q, want seconds to UTC midnight", ra)
				}
			default:
				if ra != tc.retryAfter {
					t.Errorf("Retry-After = %q, want %q", ra, tc.retryAfter)
				}
			}
		})
	}
}

func TestUntilUTCMidnight(t *testing.T) {
	at := time.Date(2025, 3, 1, 23, 59, 30, 0, time.UTC)
	if got := untilUTCMidnight(at); got != 30*time.Second {
		t.Errorf("23:59:30 → %v, want 30s", got)
	}
	est := time.FixedZone("EST", -5*3600)
	if got := untilUTCMidnight(time.Date(2025, 3, 1, 18, 0, 0, 0, est)); got != time.Hour {
		t.Errorf("18:00 EST (23:00 UTC) → %v, want 1h", got)
	}
}
