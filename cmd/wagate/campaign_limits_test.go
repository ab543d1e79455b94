package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestCampaignPlanLimits: a tenant's plan bounds its lists' size (rows past it are
// list_full, naming the plan) and its campaigns (409 too_many_campaigns); a list larger
// than a plan lowered since is 409 list_too_large at create; the plan's limits are
// checked and changed through the admin API like the others.
func TestCampaignPlanLimits(t *testing.T) {
	tg, _ := campaignGateway(t, `pacing:
  enabled: false
`)
	r := tg.do("POST", "/api/admin/tenants", adminKey, map[string]any{"id": "small",
		"plan": map[string]any{"maxSessions": 2, "maxMessagesPerDay": 0, "maxCampaigns": 1, "maxListSize": 10}})
	if r.status != 201 {
		t.Fatalf("create tenant: %d %s", r.status, r.body)
	}
	var out struct {
		Tenant struct {
			Plan map[string]int `json:"plan"`
		} `json:"tenant"`
		APIKey struct{ Key string } `json:"apiKey"`
	}
	r.json(t, &out)
	key := out.APIKey.Key
	if out.Tenant.Plan["maxCampaigns"] != 1 || out.Tenant.Plan["maxListSize"] != 10 {
		t.Errorf("plan as created: %v", out.Tenant.Plan)
	}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main"}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}

	var list struct {
		ID string `json:"id"`
	}
	tg.do("POST", "/api/lists", key, map[string]any{"name": "customers"}).json(t, &list)
	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range 15 {
		fmt.Fprintf(&csv, "1555%07d,Contact %d\n", i, i)
	}
	r = tg.doHeaders("POST", "/api/lists/"+list.ID+"/import", key, csv.String(), "Content-Type", "text/csv")
	if r.status != 200 || !strings.Contains(string(r.body), `"imported":10`) || !strings.Contains(string(r.body), `"invalid":5`) ||
		!strings.Contains(string(r.body), `"code":"list_full"`) || !strings.Contains(string(r.body), "maxListSize") {
		t.Fatalf("import of 15 rows into a list of at most 10: %d %s", r.status, r.body)
	}

	campaignBody := map[string]any{"name": "promo", "listId": list.ID, "message": map[string]any{"type": "text", "text": "Hi"}}
	if r := tg.do("POST", "/api/campaigns", key, campaignBody); r.status != 201 {
		t.Fatalf("first campaign: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/campaigns", key, campaignBody); r.status != 409 || !strings.Contains(string(r.body), `"code":"too_many_campaigns"`) {
		t.Errorf("second campaign over maxCampaigns 1: %d %s", r.status, r.body)
	}

	// PATCH changes one campaign limit and keeps the others.
	r = tg.do("PATCH", "/api/admin/tenants/small", adminKey, map[string]any{"plan": map[string]any{"maxCampaigns": 5, "maxListSize": 5}})
	if r.status != 200 || !strings.Contains(string(r.body), `"maxCampaigns":5`) || !strings.Contains(string(r.body), `"maxListSize":5`) ||
		!strings.Contains(string(r.body), `"maxSessions":2`) {
		t.Fatalf("patch the plan: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/campaigns", key, campaignBody); r.status != 409 || !strings.Contains(string(r.body), `"code":"list_too_large"`) {
		t.Errorf("a campaign on a 10-contact list under maxListSize 5: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name string
		plan map[string]any
	}{
		{"negative maxCampaigns", map[string]any{"maxCampaigns": -1}},
		{"maxListSize too large", map[string]any{"maxListSize": 1 << 40}},
		{"maxCampaigns not a number", map[string]any{"maxCampaigns": "many"}},
	} {
		if r := tg.do("PATCH", "/api/admin/tenants/small", adminKey, map[string]any{"plan": tc.plan}); r.status != 400 {
			t.Errorf("%s: %d %s, want 400", tc.name, r.status, r.body)
		}
	}
	// PUT is the whole plan: campaign limits left out go back to the gateway's.
	r = tg.do("PUT", "/api/admin/tenants/small", adminKey, map[string]any{"plan": map[string]any{"maxSessions": 2, "maxMessagesPerDay": 0}})
	if r.status != 200 || strings.Contains(string(r.body), "maxCampaigns") || strings.Contains(string(r.body), "maxListSize") {
		t.Fatalf("put the plan: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/campaigns", key, campaignBody); r.status != 201 {
		t.Errorf("a campaign under the gateway's defaults again: %d %s", r.status, r.body)
	}
}
