package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/campaign"
)

// TestCampaignSessionLabels: a campaign with sessionLabels sends only from the sessions
// whose metadata has the labels, spread over them; a session labelled while it runs
// joins it; bad selectors are 400s with stable codes.
func TestCampaignSessionLabels(t *testing.T) {
	tg, key := campaignGateway(t, `pacing:
  enabled: false
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`)
	for name, team := range map[string]string{"sales-1": "sales", "sales-2": "sales", "support": "support", "bare": ""} {
		body := map[string]any{"name": name}
		if team != "" {
			body["config"] = map[string]any{"metadata": map[string]string{"team": team, "region": "id"}}
		}
		if r := tg.do("POST", "/api/sessions", key, body); r.status != 201 {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
		waitWorking(t, tg, key, name)
	}
	list := campaignList(t, tg, key, 200)

	bad := []struct {
		name string
		spec map[string]any
		code string
	}{
		{"labels and sessions", map[string]any{"sessionLabels": map[string]string{"team": "sales"}, "sessions": []string{"sales-1"}}, "invalid_campaign"},
		{"empty labels", map[string]any{"sessionLabels": map[string]string{}}, "invalid_campaign"},
		{"empty key", map[string]any{"sessionLabels": map[string]string{"": "sales"}}, "invalid_campaign"},
		{"no session matches", map[string]any{"sessionLabels": map[string]string{"team": "marketing"}}, "invalid_sessions"},
		{"one label of two matches", map[string]any{"sessionLabels": map[string]string{"team": "sales", "region": "my"}}, "invalid_sessions"},
		{"labels not a map", map[string]any{"sessionLabels": []string{"team=sales"}}, ""},
	}
	for _, tc := range bad {
		tc.spec["name"], tc.spec["listId"] = "promo", list
		tc.spec["message"] = map[string]any{"type": "text", "text": "Hi"}
		r := tg.do("POST", "/api/campaigns", key, tc.spec)
		if r.status != 400 || !strings.Contains(string(r.body), `"code":"`+tc.code) {
			t.Errorf("%s: %d %s, want 400 %s", tc.name, r.status, r.body, tc.code)
		}
	}

	id := startCampaign(t, tg, key, list, map[string]any{"sessionLabels": map[string]string{"team": "sales", "region": "id"}})
	var got campaign.Campaign
	tg.do("GET", "/api/campaigns/"+id, key, nil).json(t, &got)
	if got.SessionLabels["team"] != "sales" || got.Sessions != nil {
		t.Errorf("the campaign as stored: sessions %v, labels %v", got.Sessions, got.SessionLabels)
	}
	waitCampaign(t, tg, key, id, 30*time.Second, "completed", func(c campaign.Campaign) bool { return c.Status == campaign.StatusCompleted })
	by := map[string]int{}
	for _, r := range allRecipients(t, tg, key, id) {
		by[r.Session]++
	}
	if len(by) != 2 || by["sales-1"] == 0 || by["sales-2"] == 0 || by["sales-1"]+by["sales-2"] != 200 {
		t.Errorf("recipients by session: %v, want all 200 on sales-1 and sales-2", by)
	}

	// Labelling a session makes it one of the campaign's for the next campaign (and for
	// the next chunk of a running one: the selection is made per chunk).
	if r := tg.do("PUT", "/api/sessions/bare", key, map[string]any{"config": map[string]any{"metadata": map[string]string{"team": "sales", "region": "id"}}}); r.status != 200 {
		t.Fatalf("label bare: %d %s", r.status, r.body)
	}
	list2 := campaignList(t, tg, key, 300)
	id2 := startCampaign(t, tg, key, list2, map[string]any{"sessionLabels": map[string]string{"team": "sales"}})
	waitCampaign(t, tg, key, id2, 30*time.Second, "completed", func(c campaign.Campaign) bool { return c.Status == campaign.StatusCompleted })
	by = map[string]int{}
	for _, r := range allRecipients(t, tg, key, id2) {
		by[r.Session]++
	}
	if by["bare"] == 0 || by["support"] != 0 || by["sales-1"]+by["sales-2"]+by["bare"] != 300 {
		t.Errorf("second campaign by session: %v, want 300 over sales-1, sales-2 and bare", by)
	}
}
