package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/campaign"
)

// campaignGateway boots a gateway whose sandbox links sessions by itself, with extra
// YAML sections, and returns it with a tenant's key.
func campaignGateway(t *testing.T, extra string, sessions ...string) (*testGateway, string) {
	t.Helper()
	tg := bootConfig(t, `
server:
  listen: 127.0.0.1:0
  max_body_bytes: 4MiB
  shutdown_timeout: 5s
store:
  dir: `+t.TempDir()+`
  gc_interval: 0
  sync_writes: false
admin:
  api_key: `+adminKey+`
log:
  level: error
limits:
  default_plan:
    max_messages_per_day: 0
queue:
  rate_per_session: 0
  backoff_base: 10ms
`+extra)
	key := tg.createTenant("acme")
	for _, name := range sessions {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": name}); r.status != 201 {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
		waitWorking(t, tg, key, name)
	}
	return tg, key
}

// campaignList creates a list of n contacts 1555000000i and returns its id.
func campaignList(t *testing.T, tg *testGateway, key string, n int) string {
	t.Helper()
	var list struct {
		ID string `json:"id"`
	}
	tg.do("POST", "/api/lists", key, map[string]any{"name": "customers"}).json(t, &list)
	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range n {
		fmt.Fprintf(&csv, "1555%07d,Contact %d\n", i, i)
	}
	r := tg.doHeaders("POST", "/api/lists/"+list.ID+"/import", key, csv.String(), "Content-Type", "text/csv")
	if r.status != 200 || !strings.Contains(string(r.body), fmt.Sprintf(`"imported":%d`, n)) {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	return list.ID
}

// startCampaign creates and starts a campaign of spec (name, list and message added).
func startCampaign(t *testing.T, tg *testGateway, key, listID string, spec map[string]any) string {
	t.Helper()
	spec["name"], spec["listId"], spec["start"] = "promo", listID, true
	if spec["message"] == nil {
		spec["message"] = map[string]any{"type": "text", "text": "Hi {{name}}"}
	}
	var c campaign.Campaign
	r := tg.do("POST", "/api/campaigns", key, spec)
	if r.status != 201 {
		t.Fatalf("create campaign: %d %s", r.status, r.body)
	}
	r.json(t, &c)
	return c.ID
}

// waitCampaign polls the campaign until ok, for up to d.
func waitCampaign(t *testing.T, tg *testGateway, key, id string, d time.Duration, what string, ok func(campaign.Campaign) bool) campaign.Campaign {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var c campaign.Campaign
		tg.do("GET", "/api/campaigns/"+id, key, nil).json(t, &c)
		if ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: campaign %s (waiting %q) %+v", what, c.Status, c.Waiting, c.Counts)
		}
		time.Sleep(10 * time.Millisecond) // polling the API with a deadline
	}
}

// allRecipients pages through a campaign's recipients.
func allRecipients(t *testing.T, tg *testGateway, key, id string) []campaign.Recipient {
	t.Helper()
	var out []campaign.Recipient
	for cursor := ""; ; {
		var page struct {
			Recipients []campaign.Recipient `json:"recipients"`
			Next       string               `json:"next"`
		}
		tg.do("GET", "/api/campaigns/"+id+"/recipients?limit=1000&cursor="+cursor, key, nil).json(t, &page)
		out = append(out, page.Recipients...)
		if page.Next == "" {
			return out
		}
		cursor = page.Next
	}
}

// pacingClock is a simulated clock for the gateway's pacing (steer.SimClock) over one
// session: a delay moves the clock by itself, and each send is recorded at its time.
type pacingClock struct {
	mu    sync.Mutex
	now   time.Time
	sends []time.Time
	ids   map[string]int
}

func (c *pacingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *pacingClock) Delay(_, _ string, d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return time.Millisecond // the dispatcher asks again almost at once, in simulated time d later
}

func (c *pacingClock) Sent(_, _, id string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sends = append(c.sends, at)
	c.ids[id]++
}

// A campaign on a paced provider keeps to anti-ban pacing, in simulated time as
// plugins/antiban's TestSchedule1000 does for the rule alone, but here through the
// whole gateway: the runner queues 300 recipients at once (no campaign rate), and the
// dispatcher asks the real pacing rule (a 2s gap plus up to 2s of jitter, 30 a minute
// at most) before each send. Every gap is within [2s, 4s], no minute has more than 30,
// and the campaign goes at the 20 a minute the rule allows, not at queue speed.
func TestCampaignPacedSimulated(t *testing.T) {
	tg, key := campaignGateway(t, `pacing:
  providers: sandbox
  min_gap: 2s
  jitter: 2s
  per_minute: 30
  per_hour: 0
  per_day: 0
  warmup:
    days: 0
  contact_per_hour: 0
  first_contacts_per_day: 0
  typing:
    enabled: false
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`, "main")
	clock := &pacingClock{now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), ids: map[string]int{}}
	tg.g.steer.Simulate(clock)
	const total = 300
	id := startCampaign(t, tg, key, campaignList(t, tg, key, total), map[string]any{"sessions": []string{"main"}})
	done := waitCampaign(t, tg, key, id, 60*time.Second, "completed", func(c campaign.Campaign) bool {
		return c.Status == campaign.StatusCompleted
	})
	if n := done.Counts; n.Sent+n.Delivered+n.Read != total || n.Failed != 0 {
		t.Fatalf("final counts %+v", n)
	}
	clock.mu.Lock()
	sends, ids := clock.sends, clock.ids
	clock.mu.Unlock()
	if len(sends) != total || len(ids) != total {
		t.Fatalf("pacing let %d sends of %d messages go, want %d", len(sends), len(ids), total)
	}
	var sum time.Duration
	for i := 1; i < total; i++ {
		gap := sends[i].Sub(sends[i-1])
		sum += gap
		if gap < 2*time.Second || gap > 4*time.Second {
			t.Errorf("gap %d is %s, outside [2s, 4s]", i, gap)
		}
		if n := sendsWithin(sends[:i+1], sends[i], time.Minute); n > 30 {
			t.Errorf("%d sends in the minute ending at send %d", n, i)
		}
	}
	took := sends[total-1].Sub(sends[0])
	rate := float64(total-1) / took.Minutes()
	t.Logf("%d campaign messages in %s of simulated time (%.1f a minute), mean gap %s", total, took.Round(time.Second), rate, sum/(total-1))
	if rate < 18.5 || rate > 21.5 {
		t.Errorf("%.2f messages a minute, want 20 ± 1.5", rate)
	}
}

// A sending window is honoured, in simulated time: a campaign of 120 recipients at 2
// a minute with a window of 16:00-16:30 Asia/Jakarta (09:00-09:30 UTC) on Mondays and
// Wednesdays, started on Monday at 08:00 UTC, queues nothing before 09:00, about 60
// recipients on Monday and the rest on Wednesday: every recipient was queued inside
// the window.
func TestCampaignWindowSimulated(t *testing.T) {
	tg, key := campaignGateway(t, `pacing:
  enabled: false
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`, "main")
	var mu sync.Mutex
	sim := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC) // a Monday
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return sim
	}
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		sim = sim.Add(d)
		mu.Unlock()
		select { // a little real time, so that the sends keep up with the simulated clock
		case <-time.After(200 * time.Microsecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tg.g.campaignClock.now.Store(&now)
	tg.g.campaignClock.sleep.Store(&sleep)

	const total = 120
	id := startCampaign(t, tg, key, campaignList(t, tg, key, total), map[string]any{
		"rate":   map[string]any{"perMinute": 2},
		"window": map[string]any{"from": "16:00", "to": "16:30", "timezone": "Asia/Jakarta", "days": []string{"mon", "wed"}},
	})
	waitCampaign(t, tg, key, id, 60*time.Second, "completed", func(c campaign.Campaign) bool {
		return c.Status == campaign.StatusCompleted
	})
	byDay := map[time.Weekday]int{}
	var times []time.Time
	for _, r := range allRecipients(t, tg, key, id) {
		at := r.QueuedAt.UTC()
		times = append(times, at)
		byDay[at.Weekday()]++
		if m := at.Hour()*60 + at.Minute(); m < 9*60 || m >= 9*60+30 || (at.Weekday() != time.Monday && at.Weekday() != time.Wednesday) {
			t.Errorf("recipient %s queued at %s, outside the window", r.ChatID, at.Format(time.RFC3339))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	if len(times) != total {
		t.Fatalf("%d recipients, want %d", len(times), total)
	}
	t.Logf("queued from %s to %s, by day %v", times[0].Format(time.RFC3339), times[total-1].Format(time.RFC3339), byDay)
	// 2 a minute for 30 minutes, plus the limiter's burst of 2.
	if byDay[time.Monday] < 50 || byDay[time.Monday] > 62 || byDay[time.Wednesday] != total-byDay[time.Monday] {
		t.Errorf("by day %v, want about 60 on Monday and the rest on Wednesday", byDay)
	}
}

// Interactive sends overtake campaign traffic: with a campaign's messages waiting in a
// session's queue (a slow sandbox), a sendText accepted afterwards goes out before
// them: at most the sends already in flight come between its acceptance and its send.
func TestInteractiveOvertakesCampaign(t *testing.T) {
	sendLog := filepath.Join(t.TempDir(), "sent.log")
	tg, key := campaignGateway(t, `pacing:
  enabled: false
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 10ms
    delivery_delay: 0
    read_delay: 0
    send_log: `+sendLog+`
`, "main")
	id := startCampaign(t, tg, key, campaignList(t, tg, key, 300), map[string]any{"sessions": []string{"main"}})
	c := waitCampaign(t, tg, key, id, 20*time.Second, "a backlog", func(c campaign.Campaign) bool { return c.Counts.Queued >= 150 })
	before := lines(t, sendLog)
	r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15559999999", "text": "a reply to a customer"})
	if r.status != 202 {
		t.Fatalf("sendText: %d %s", r.status, r.body)
	}
	var a struct{ ID string }
	r.json(t, &a)
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := lines(t, sendLog)
		if pos := indexOf(l, a.ID); pos >= 0 {
			between := pos - len(before)
			t.Logf("campaign backlog %d queued; %d sends between the interactive message's acceptance and its send", c.Counts.Queued, between)
			if between > 2 {
				t.Errorf("%d campaign messages went before the interactive one accepted after them", between)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the interactive message was not sent in 20s")
		}
		time.Sleep(5 * time.Millisecond) // polling the send log with a deadline
	}
	waitCampaign(t, tg, key, id, 30*time.Second, "completed", func(c campaign.Campaign) bool { return c.Status == campaign.StatusCompleted })
}

// lines returns the message ids of a sandbox send log, in order.
func lines(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(readFile(t, path), "\n") {
		if id, _, ok := strings.Cut(l, " "); ok {
			out = append(out, id)
		}
	}
	return out
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}

// readFile returns a file's text, "" when it does not exist yet.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// sendsWithin counts the sends in (at-d, at].
func sendsWithin(sends []time.Time, at time.Time, d time.Duration) int {
	n := 0
	for i := len(sends) - 1; i >= 0 && sends[i].After(at.Add(-d)); i-- {
		if !sends[i].After(at) {
			n++
		}
	}
	return n
}

// Through the gateway: a list a campaign that is not over uses cannot be deleted
// (409 list_in_use); a recipient who writes back counts as replied; the campaign
// metrics are on the registry.
func TestCampaignRepliesAndListInUse(t *testing.T) {
	tg, key := campaignGateway(t, `pacing:
  enabled: false
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`, "main")
	list := campaignList(t, tg, key, 5)
	r := tg.do("POST", "/api/campaigns", key, map[string]any{"name": "promo", "listId": list,
		"message": map[string]any{"type": "text", "text": "Hi {{name}}"}})
	var c campaign.Campaign
	r.json(t, &c)
	if r := tg.do("DELETE", "/api/lists/"+list, key, nil); r.status != 409 || !strings.Contains(string(r.body), "list_in_use") {
		t.Fatalf("delete a draft's list: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/campaigns/"+c.ID+"/start", key, nil); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	waitCampaign(t, tg, key, c.ID, 20*time.Second, "completed", func(c campaign.Campaign) bool { return c.Status == campaign.StatusCompleted })
	if r := tg.do("POST", "/api/sandbox/main/inbound", key, map[string]any{"from": "15550000002", "text": "thanks!"}); r.status != 200 {
		t.Fatalf("inbound: %d %s", r.status, r.body)
	}
	waitCampaign(t, tg, key, c.ID, 10*time.Second, "replied", func(c campaign.Campaign) bool { return c.Counts.Replied == 1 })
	var page struct {
		Recipients []campaign.Recipient `json:"recipients"`
	}
	tg.do("GET", "/api/campaigns/"+c.ID+"/recipients?limit=1&cursor=15550000001@c.us", key, nil).json(t, &page)
	if len(page.Recipients) != 1 || page.Recipients[0].ChatID != "15550000002@c.us" || !page.Recipients[0].Replied {
		t.Errorf("the recipient who replied: %+v", page.Recipients)
	}
	if v := metricValue(tg.g, "wagate_campaign_fed_total", "outcome", "queued"); v != 5 {
		t.Errorf("wagate_campaign_fed_total{queued} = %v, want 5", v)
	}
	if v := metricValue(tg.g, "wagate_campaigns", "status", "completed"); v != 1 {
		t.Errorf("wagate_campaigns{completed} = %v, want 1", v)
	}
	if v := metricValue(tg.g, "wagate_campaign_recipients", "outcome", "replied"); v != 1 {
		t.Errorf("wagate_campaign_recipients{replied} = %v, want 1", v)
	}
	if r := tg.do("DELETE", "/api/lists/"+list, key, nil); r.status != 200 {
		t.Fatalf("delete a completed campaign's list: %d %s", r.status, r.body)
	}
}
