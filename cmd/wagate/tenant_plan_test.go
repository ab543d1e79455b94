package main

import "testing"

// PUT /api/admin/tenants/{id}/plan changes the limits at once: a tenant lowered to one
// session cannot create a second; raised again, it can.
func TestTenantPlanEdit(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	plan := func(sessions, perDay int) map[string]any {
		return map[string]any{"maxSessions": sessions, "maxMessagesPerDay": perDay}
	}
	r := tg.do("PUT", "/api/admin/tenants/acme/plan", adminKey, plan(1, 50))
	if r.status != 200 {
		t.Fatalf("set plan: %d %s", r.status, r.body)
	}
	var got struct {
		Plan struct{ MaxSessions, MaxMessagesPerDay int } `json:"plan"`
	}
	r.json(t, &got)
	if got.Plan.MaxSessions != 1 || got.Plan.MaxMessagesPerDay != 50 {
		t.Errorf("plan answered %+v", got.Plan)
	}
	if r := tg.do("GET", "/api/admin/tenants/acme", adminKey, nil); r.status != 200 {
		t.Fatalf("get: %d", r.status)
	} else if r.json(t, &got); got.Plan.MaxSessions != 1 {
		t.Errorf("stored plan %+v", got.Plan)
	}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "one", "start": false}); r.status != 201 {
		t.Fatalf("first session: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "two", "start": false}); r.status != 403 || r.errCode() != "session_limit_reached" {
		t.Fatalf("second session under a plan of 1: %d %s", r.status, r.body)
	}
	if r := tg.do("PUT", "/api/admin/tenants/acme/plan", adminKey, plan(2, 0)); r.status != 200 {
		t.Fatalf("raise plan: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "two", "start": false}); r.status != 201 {
		t.Fatalf("second session under a plan of 2: %d %s", r.status, r.body)
	}

	for _, c := range []struct {
		name, path, key string
		body            any
		status          int
		code            string
	}{
		{"unknown tenant", "/api/admin/tenants/nope/plan", adminKey, plan(1, 0), 404, "tenant_not_found"},
		{"tenant key", "/api/admin/tenants/acme/plan", key, plan(1, 0), 403, "admin_required"},
		{"missing limit", "/api/admin/tenants/acme/plan", adminKey, map[string]any{"maxSessions": 3}, 400, "missing_field"},
		{"zero sessions", "/api/admin/tenants/acme/plan", adminKey, plan(0, 0), 400, "invalid_plan"},
		{"unknown field", "/api/admin/tenants/acme/plan", adminKey, map[string]any{"maxSessions": 1, "maxMessagesPerDay": 0, "x": 1}, 400, "unknown_field"},
		{"not json", "/api/admin/tenants/acme/plan", adminKey, "{", 400, "malformed_json"},
	} {
		r := tg.do("PUT", c.path, c.key, c.body)
		if r.status != c.status || r.errCode() != c.code {
			t.Errorf("%s: %d %s; want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
}
