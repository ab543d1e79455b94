package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/tenant"
)

func TestRouteScopeDefaults(t *testing.T) {
	for _, tc := range []struct {
		rt   route
		want tenant.Scope
	}{
		{route{method: "GET", path: "/health", auth: authNone}, ""},
		{route{method: "POST", path: "/api/admin/tenants", auth: authAdmin, doc: routeDoc{tag: "admin"}}, ""},
		{route{method: "GET", path: "/api/sessions", auth: authTenant, doc: routeDoc{tag: "sessions"}}, tenant.ScopeRead},
		{route{method: "GET", path: "/api/server/status", auth: authAny}, tenant.ScopeRead},
		{route{method: "POST", path: "/api/sendText", auth: authTenant, doc: routeDoc{tag: "sending"}}, tenant.ScopeSend},
		{route{method: "POST", path: "/api/x/status/text", auth: authTenant, doc: routeDoc{tag: "status"}}, tenant.ScopeSend},
		{route{method: "POST", path: "/api/sessions", auth: authTenant, doc: routeDoc{tag: "sessions"}}, tenant.ScopeAdmin},
		{route{method: "DELETE", path: "/api/webhooks/{id}", auth: authTenant, doc: routeDoc{tag: "webhooks"}}, tenant.ScopeAdmin},
		{route{method: "POST", path: "/api/x", auth: authTenant, scope: tenant.ScopeRead, doc: routeDoc{tag: "sessions"}}, tenant.ScopeRead},
	} {
		if got := routeScope(tc.rt); got != tc.want {
			t.Errorf("%s %s: scope %q, want %q", tc.rt.method, tc.rt.path, got, tc.want)
		}
	}
}

// TestScopeEnforcedAndDocumented: the auth middleware refuses a read key on a POST
// with 403 insufficient_scope naming the scope needed, lets it GET, and the OpenAPI
// document shows each tenant route's scope.
func TestScopeEnforcedAndDocumented(t *testing.T) {
	e := newEnv(t)
	e.createTenant("acme")
	resp, b := e.do("POST", "/api/admin/tenants/acme/keys", testAdminKey, `{"name":"ro","scopes":["read"]}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create key: %d %s", resp.StatusCode, b)
	}
	var k tenant.NewKey
	json.Unmarshal(b, &k)
	resp, b = e.do("POST", "/api/sessions", k.Key, `{"name":"x"}`)
	if er := errorOf(t, b); resp.StatusCode != 403 || er.Code != "insufficient_scope" || er.Details["required_scope"] != "admin" {
		t.Errorf("read key POST /api/sessions: %d %s", resp.StatusCode, b)
	}
	for _, bad := range []string{`{"scopes":["write"]}`, `{"scopes":[""]}`, `{"scopes":["READ"]}`} {
		resp, b := e.do("POST", "/api/admin/tenants/acme/keys", testAdminKey, bad)
		if resp.StatusCode != 400 || errorOf(t, b).Code != "invalid_scope" {
			t.Errorf("%s: %d %s, want 400 invalid_scope", bad, resp.StatusCode, b)
		}
	}
	var doc struct {
		Paths map[string]map[string]map[string]any
	}
	_, b = e.do("GET", "/api/openapi.json", "", "")
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range e.srv.routes() {
		op := doc.Paths[openapiPath(rt.path)][strings.ToLower(rt.method)]
		got, _ := op["x-wagate-scope"].(string)
		if want := string(routeScope(rt)); got != want {
			t.Errorf("%s %s: x-wagate-scope %q, want %q", rt.method, rt.path, got, want)
		}
	}
}

// TestUpdateTenant: PUT replaces the plan (both limits required), PATCH changes what it
// is given; unknown tenants are 404, bad values 400, and the new plan applies at once.
func TestUpdateTenant(t *testing.T) {
	e := newEnv(t)
	e.createTenant("acme")
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"put", "PUT", "/api/admin/tenants/acme", `{"plan":{"maxSessions":7,"maxMessagesPerDay":0}}`, 200, ""},
		{"patch name", "PATCH", "/api/admin/tenants/acme", `{"name":"Acme Inc"}`, 200, ""},
		{"patch one limit", "PATCH", "/api/admin/tenants/acme", `{"plan":{"maxMessagesPerDay":500}}`, 200, ""},
		{"put without a limit", "PUT", "/api/admin/tenants/acme", `{"plan":{"maxSessions":7}}`, 400, "missing_field"},
		{"put without plan", "PUT", "/api/admin/tenants/acme", `{"name":"x"}`, 400, "missing_field"},
		{"patch nothing", "PATCH", "/api/admin/tenants/acme", `{}`, 400, "empty_update"},
		{"zero sessions", "PATCH", "/api/admin/tenants/acme", `{"plan":{"maxSessions":0}}`, 400, "invalid_plan"},
		{"negative messages", "PATCH", "/api/admin/tenants/acme", `{"plan":{"maxMessagesPerDay":-1}}`, 400, "invalid_plan"},
		{"empty name", "PATCH", "/api/admin/tenants/acme", `{"name":""}`, 400, "invalid_value"},
		{"unknown field", "PATCH", "/api/admin/tenants/acme", `{"plan":{"maxSessionz":3}}`, 400, ""},
		{"bad json", "PATCH", "/api/admin/tenants/acme", `{`, 400, ""},
		{"wrong type", "PUT", "/api/admin/tenants/acme", `{"plan":{"maxSessions":"7","maxMessagesPerDay":0}}`, 400, ""},
		{"unknown tenant", "PUT", "/api/admin/tenants/nope", `{"plan":{"maxSessions":1,"maxMessagesPerDay":1}}`, 404, "tenant_not_found"},
		{"unknown tenant patch", "PATCH", "/api/admin/tenants/nope", `{}`, 404, "tenant_not_found"},
	} {
		resp, b := e.do(tc.method, tc.path, testAdminKey, tc.body)
		if resp.StatusCode != tc.status || (tc.code != "" && errorOf(t, b).Code != tc.code) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, b, tc.status, tc.code)
		}
	}
	_, b := e.do("GET", "/api/admin/tenants/acme", testAdminKey, "")
	var got tenant.Tenant
	json.Unmarshal(b, &got)
	if got.Name != "Acme Inc" || got.Plan != (tenant.Plan{MaxSessions: 7, MaxMessagesPerDay: 500}) {
		t.Errorf("after updates: %+v", got)
	}
	// A tenant key cannot change its own plan.
	key := e.createTenant("other")
	if resp, b := e.do("PATCH", "/api/admin/tenants/other", key, `{"plan":{"maxSessions":99}}`); resp.StatusCode != 403 {
		t.Errorf("tenant key updating a tenant: %d %s", resp.StatusCode, b)
	}
}
