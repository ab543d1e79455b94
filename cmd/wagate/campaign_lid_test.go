package main

import (
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/campaign"
)

// TestCampaignReplyFromLID: a contact the campaign sent to by phone number replies from
// its LID chat; the session maps the LID to the number, so the reply counts for the
// recipient, and a stop word from a LID opts the number out.
func TestCampaignReplyFromLID(t *testing.T) {
	tg, key := campaignGateway(t, `pacing:
  enabled: false
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`, "main", "alice", "bob")
	// alice and bob are sandbox numbers too: main learns their LIDs by messaging them,
	// as a WhatsApp account learns its contacts' LIDs.
	phone := func(name string) string {
		t.Helper()
		var info struct {
			Me struct {
				ID string `json:"id"`
			} `json:"me"`
		}
		tg.do("GET", "/api/sessions/"+name, key, nil).json(t, &info)
		p, _, ok := strings.Cut(info.Me.ID, "@")
		if !ok {
			t.Fatalf("%s has no number: %q", name, info.Me.ID)
		}
		return p
	}
	alice, bob := phone("alice"), phone("bob")
	var lst struct {
		ID string `json:"id"`
	}
	tg.do("POST", "/api/lists", key, map[string]any{"name": "customers"}).json(t, &lst)
	csv := "phone,name\n" + alice + ",Alice\n" + bob + ",Bob\n15550000001,C1\n15550000002,C2\n"
	if r := tg.doHeaders("POST", "/api/lists/"+lst.ID+"/import", key, csv, "Content-Type", "text/csv"); r.status != 200 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	id := startCampaign(t, tg, key, lst.ID, map[string]any{"sessions": []string{"main"}})
	waitCampaign(t, tg, key, id, 20*time.Second, "completed", func(c campaign.Campaign) bool { return c.Status == campaign.StatusCompleted })

	lidOf := func(phone string) string {
		t.Helper()
		var pair struct {
			LID *string `json:"lid"`
		}
		r := tg.do("GET", "/api/main/lids/pn/"+phone, key, nil)
		r.json(t, &pair)
		if r.status != 200 || pair.LID == nil || !strings.HasSuffix(*pair.LID, "@lid") {
			t.Fatalf("the LID of %s: %d %s", phone, r.status, r.body)
		}
		return *pair.LID
	}
	if r := tg.do("POST", "/api/sandbox/main/inbound", key, map[string]any{"from": lidOf(alice), "text": "thanks!"}); r.status != 200 {
		t.Fatalf("inbound: %d %s", r.status, r.body)
	}
	waitCampaign(t, tg, key, id, 10*time.Second, "replied", func(c campaign.Campaign) bool { return c.Counts.Replied == 1 })
	for _, r := range allRecipients(t, tg, key, id) {
		if r.Replied != (r.ChatID == alice+"@c.us") {
			t.Errorf("recipient %s replied = %v", r.ChatID, r.Replied)
		}
	}

	// A LID the session does not know maps to nothing: no recipient replied.
	if r := tg.do("POST", "/api/sandbox/main/inbound", key, map[string]any{"from": "123456789012345@lid", "text": "who?"}); r.status != 200 {
		t.Fatalf("inbound from an unknown LID: %d %s", r.status, r.body)
	}

	if r := tg.do("POST", "/api/sandbox/main/inbound", key, map[string]any{"from": lidOf(bob), "text": "STOP"}); r.status != 200 {
		t.Fatalf("stop word: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := tg.do("GET", "/api/optouts/"+bob, key, nil)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the number of a LID that replied STOP is not opted out: %d %s", r.status, r.body)
		}
		time.Sleep(10 * time.Millisecond) // polling the API with a deadline
	}
	var c campaign.Campaign
	tg.do("GET", "/api/campaigns/"+id, key, nil).json(t, &c)
	if c.Counts.Replied != 2 { // the STOP is a reply too
		t.Errorf("replied = %d, want 2 (thanks!, STOP)", c.Counts.Replied)
	}
}
