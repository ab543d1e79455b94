package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/campaign"
)

// The must-show of campaigns through the real gateway: a list of 10,000 contacts
// imported by CSV (20 bad rows reported), a campaign over 5 sandbox sessions with
// variables, paused mid-way and resumed, completed: every valid contact but the
// opted-out has one message with its own values, spread over the numbers, and the
// counts add up at every step.
func TestCampaignThroughGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 recipients")
	}
	tg, key := campaignGateway(t, `
pacing:
  enabled: false
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`)
	events, stop := tg.sse(key, "")
	t.Cleanup(stop)
	sessions := []string{"s1", "s2", "s3", "s4", "s5"}
	for i, name := range sessions {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": name}); r.status != 201 {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
		waitEvent(t, events, "session.qr", func(map[string]any) bool { return true })
		if r := tg.do("POST", "/api/sandbox/"+name+"/link", key, map[string]any{"phone": fmt.Sprintf("1444000000%d", i)}); r.status != 200 {
			t.Fatalf("link %s: %d %s", name, r.status, r.body)
		}
		waitWorking(t, tg, key, name)
	}

	var list struct {
		ID string `json:"id"`
	}
	tg.do("POST", "/api/lists", key, map[string]any{"name": "customers"}).json(t, &list)
	var csv strings.Builder
	csv.WriteString("phone,name,city\n")
	for i := range 10_000 {
		if i%500 == 17 {
			fmt.Fprintf(&csv, "nope,Bad %d,x\n", i)
			continue
		}
		fmt.Fprintf(&csv, "1555%07d,Contact %d,City %d\n", i, i, i)
	}
	var rep struct {
		Imported int `json:"imported"`
		Invalid  int `json:"invalid"`
	}
	r := tg.doHeaders("POST", "/api/lists/"+list.ID+"/import", key, csv.String(), "Content-Type", "text/csv")
	r.json(t, &rep)
	if r.status != 200 || rep.Imported != 9980 || rep.Invalid != 20 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	for _, i := range []int{0, 1, 2} {
		if r := tg.do("POST", "/api/optouts", key, map[string]any{"chatId": fmt.Sprintf("1555%07d", i)}); r.status != 200 {
			t.Fatalf("opt-out: %d %s", r.status, r.body)
		}
	}

	body := map[string]any{"name": "promo", "listId": list.ID, "sessions": sessions,
		"message": map[string]any{"type": "text", "text": "Hi {{name}} in {{attrs.city}}{{attrs.zip|!}}"}}
	if r := tg.do("POST", "/api/campaigns", key, map[string]any{"name": "x", "listId": list.ID,
		"message": map[string]any{"type": "text", "text": "{{attrs.zip}}"}}); r.status != 400 || !strings.Contains(string(r.body), "unknown_variable") {
		t.Fatalf("unknown variable: %d %s", r.status, r.body)
	}
	var c campaign.Campaign
	if r := tg.do("POST", "/api/campaigns", key, body); r.status != 201 {
		t.Fatalf("create campaign: %d %s", r.status, r.body)
	} else {
		r.json(t, &c)
	}
	get := func() campaign.Campaign {
		var got campaign.Campaign
		tg.do("GET", "/api/campaigns/"+c.ID, key, nil).json(t, &got)
		n := got.Counts
		if n.Pending+n.Queued+n.Sent+n.Delivered+n.Read+n.Failed+n.OptedOut != n.Total {
			t.Fatalf("counts do not add up: %+v", n)
		}
		return got
	}
	if r := tg.do("POST", "/api/campaigns/"+c.ID+"/start", key, nil); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	until := func(what string, ok func(campaign.Campaign) bool) campaign.Campaign {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := get()
			if ok(got) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: campaign %s %+v", what, got.Status, got.Counts)
			}
			time.Sleep(20 * time.Millisecond) // polling the API with a deadline
		}
	}
	until("some sent", func(c campaign.Campaign) bool { return c.Counts.Sent+c.Counts.Delivered+c.Counts.Read > 500 })
	if r := tg.do("POST", "/api/campaigns/"+c.ID+"/pause", key, nil); r.status != 200 {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	paused := until("paused and drained", func(c campaign.Campaign) bool { return c.Status == campaign.StatusPaused && c.Counts.Queued == 0 })
	if paused.Counts.Pending == 0 {
		t.Fatalf("nothing left after the pause: %+v", paused.Counts)
	}
	if r := tg.do("POST", "/api/campaigns/"+c.ID+"/resume", key, nil); r.status != 200 {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	done := until("completed", func(c campaign.Campaign) bool { return c.Status == campaign.StatusCompleted })
	if done.Counts.Total != 9980 || done.Counts.OptedOut != 3 || done.Counts.Failed != 0 || done.Counts.Pending != 0 {
		t.Fatalf("final counts %+v", done.Counts)
	}

	perSession := map[string]int{}
	seen := map[string]bool{}
	for cursor := ""; ; {
		var page struct {
			Recipients []campaign.Recipient `json:"recipients"`
			Next       string               `json:"next"`
		}
		tg.do("GET", "/api/campaigns/"+c.ID+"/recipients?limit=1000&cursor="+cursor, key, nil).json(t, &page)
		for _, rc := range page.Recipients {
			if seen[rc.ChatID] {
				t.Fatalf("recipient %s listed twice", rc.ChatID)
			}
			seen[rc.ChatID] = true
			if rc.Status != campaign.RecipientOptedOut {
				perSession[rc.Session]++
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(seen) != 9980 {
		t.Fatalf("%d recipients listed, want 9980", len(seen))
	}
	for _, name := range sessions {
		if perSession[name] < 1000 {
			t.Errorf("session %s sent %d of 9977: %v", name, perSession[name], perSession)
		}
	}
	var rc struct {
		Recipients []campaign.Recipient `json:"recipients"`
	}
	tg.do("GET", "/api/campaigns/"+c.ID+"/recipients?limit=1&cursor=15550000041@c.us", key, nil).json(t, &rc)
	var msg struct {
		Text     string `json:"text"`
		Campaign string `json:"campaign"`
	}
	tg.do("GET", "/api/messages/"+rc.Recipients[0].MessageID, key, nil).json(t, &msg)
	if rc.Recipients[0].ChatID != "15550000042@c.us" || msg.Text != "Hi Contact 42 in City 42!" || msg.Campaign != c.ID {
		t.Fatalf("recipient %+v got %+v", rc.Recipients[0], msg)
	}
	if r := tg.do("GET", "/api/campaigns/"+c.ID, tg.createTenant("globex"), nil); r.status != 404 || !strings.Contains(string(r.body), "campaign_not_found") {
		t.Fatalf("another tenant's campaign: %d %s", r.status, r.body)
	}
}
