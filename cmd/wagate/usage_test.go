package main

import "testing"

// GET /api/usage (the tenant's own) and GET /api/admin/tenants/{id}/usage (the admin's
// view of any tenant): messages today and this month against the daily limit, sessions
// against maxSessions; each tenant sees only its own; bad input is 4xx.
func TestTenantUsage(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	r := tg.do("POST", "/api/admin/tenants", adminKey, map[string]any{"id": "acme", "plan": map[string]any{"maxSessions": 3, "maxMessagesPerDay": 10}})
	if r.status != 201 {
		t.Fatalf("create tenant: %d %s", r.status, r.body)
	}
	var created struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	r.json(t, &created)
	key := created.APIKey.Key
	other := tg.createTenant("globex")
	for _, name := range []string{"one", "two"} {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": name, "start": false}); r.status != 201 {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
	}
	for i := 0; i < 3; i++ {
		if r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "one", "chatId": "15550001111", "text": "hi"}); r.status != 202 {
			t.Fatalf("send: %d %s", r.status, r.body)
		}
	}
	type usage struct {
		Tenant   string
		Plan     struct{ MaxSessions, MaxMessagesPerDay int }
		Messages struct {
			Day, Month       string
			Today, ThisMonth int
		}
		RemainingToday *int
		Sessions       struct {
			Count, Limit int
			ByState      map[string]int
		}
	}
	check := func(what string, r resp) {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		var u usage
		r.json(t, &u)
		if u.Tenant != "acme" || u.Messages.Today != 3 || u.Messages.ThisMonth < 3 || u.Messages.Day == "" || u.Messages.Month == "" ||
			u.RemainingToday == nil || *u.RemainingToday != 7 || u.Sessions.Count != 2 || u.Sessions.Limit != 3 ||
			u.Sessions.ByState["STOPPED"] != 2 || u.Plan.MaxMessagesPerDay != 10 {
			t.Errorf("%s: %s", what, r.body)
		}
	}
	check("own usage", tg.do("GET", "/api/usage", key, nil))
	check("admin's view", tg.do("GET", "/api/admin/tenants/acme/usage", adminKey, nil))
	check("admin acting as acme", tg.doHeaders("GET", "/api/usage", adminKey, nil, "X-Wagate-Tenant", "acme"))

	var g usage
	r = tg.do("GET", "/api/usage", other, nil)
	r.json(t, &g)
	if r.status != 200 || g.Tenant != "globex" || g.Messages.Today != 0 || g.Sessions.Count != 0 {
		t.Errorf("globex's own usage: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/admin/tenants/acme/usage", other, nil); r.status != 403 || r.errCode() != "admin_required" {
		t.Errorf("a tenant key on the admin route: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/admin/tenants/nobody/usage", adminKey, nil); r.status != 404 || r.errCode() != "tenant_not_found" {
		t.Errorf("unknown tenant: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/usage", adminKey, nil); r.status != 403 || r.errCode() != "tenant_key_required" {
		t.Errorf("admin without a tenant: %d %s", r.status, r.body)
	}
}
