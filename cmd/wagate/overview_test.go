package main

import (
	"testing"
	"time"
)

// GET /api/overview: a tenant's own figures (sessions by state, messages sent in the
// last minute, what waits in its queues, its webhook backlog); another tenant's figures
// stay apart; the admin reads them read-only with X-Wagate-Tenant.
func TestTenantOverview(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 1h
`)
	key := tg.createTenant("acme")
	other := tg.createTenant("globex")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "live"}); r.status != 201 {
		t.Fatalf("create live: %d %s", r.status, r.body)
	}
	tg.do("POST", "/api/sandbox/live/link", key, map[string]any{})
	waitWorking(t, tg, key, "live")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "parked", "start": false}); r.status != 201 {
		t.Fatalf("create parked: %d %s", r.status, r.body)
	}
	// Nothing listens on port 9: every delivery fails and waits for its retry, an hour on.
	if r := tg.do("POST", "/api/webhooks", key, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"message.ack"}}); r.status != 201 {
		t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	for _, s := range []string{"live", "live", "parked", "parked"} {
		if r := tg.do("POST", "/api/sendText", key, map[string]any{"session": s, "chatId": "15550001111", "text": "hi"}); r.status != 202 {
			t.Fatalf("send: %d %s", r.status, r.body)
		}
	}
	type overview struct {
		Tenant   string
		Sessions struct {
			Count, Limit int
			ByState      map[string]int
		}
		Messages struct{ SentLastMinute, SentLastHour, AcceptedToday, AcceptedThisMonth int }
		Queue    struct {
			Waiting          int
			Oldest           *time.Time
			OldestSession    string
			OldestAgeSeconds float64
		}
		Webhooks struct{ Endpoints, Disabled, Pending int }
	}
	get := func(key string, headers ...string) overview {
		t.Helper()
		r := tg.doHeaders("GET", "/api/overview", key, nil, headers...)
		if r.status != 200 {
			t.Fatalf("overview: %d %s", r.status, r.body)
		}
		var o overview
		r.json(t, &o)
		return o
	}
	var o overview
	deadline := time.Now().Add(10 * time.Second)
	for o = get(key); o.Messages.SentLastMinute < 2 || o.Queue.Waiting > 2 || o.Webhooks.Pending == 0; o = get(key) {
		if time.Now().After(deadline) {
			t.Fatalf("the sends and deliveries do not show: %+v", o)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if o.Tenant != "acme" || o.Sessions.Count != 2 || o.Sessions.ByState["WORKING"] != 1 || o.Sessions.ByState["STOPPED"] != 1 ||
		o.Messages.SentLastMinute != 2 || o.Messages.SentLastHour != 2 || o.Messages.AcceptedToday != 4 ||
		o.Queue.Waiting != 2 || o.Queue.OldestSession != "parked" || o.Queue.Oldest == nil || o.Webhooks.Endpoints != 1 {
		t.Errorf("acme's overview: %+v", o)
	}
	if a := get(adminKey, "X-Wagate-Tenant", "acme"); a.Tenant != "acme" || a.Queue.Waiting != 2 {
		t.Errorf("the admin's read-only view: %+v", a)
	}
	if g := get(other); g.Tenant != "globex" || g.Sessions.Count != 0 || g.Messages.SentLastMinute != 0 || g.Queue.Waiting != 0 ||
		g.Webhooks.Endpoints != 0 || g.Webhooks.Pending != 0 {
		t.Errorf("globex's overview shows acme's figures: %+v", g)
	}
	if r := tg.do("GET", "/api/overview", adminKey, nil); r.status != 403 || r.errCode() != "tenant_key_required" {
		t.Errorf("the admin key without a tenant: %d %s", r.status, r.body)
	}
}
