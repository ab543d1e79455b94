package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wagate/wagate/core/provider"
)

// A running campaign whose list is deleted fails (list_deleted); one whose sessions
// are all gone or lost fails once that has lasted FailAfter (no_sessions), not at once.
// Neither can be resumed.
func TestCampaignFails(t *testing.T) {
	ctx := context.Background()
	t.Run("list deleted", func(t *testing.T) {
		src := newSource(500)
		r := newRig(t, t.TempDir(), src, &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}}, Options{ChunkSize: 10, MaxInFlight: 10})
		defer r.close()
		src.mu.Lock()
		src.gone = true
		src.mu.Unlock()
		c, _ := r.s.Create(ctx, "acme", spec())
		if _, err := r.s.Start(ctx, "acme", c.ID); err != nil {
			t.Fatal(err)
		}
		got := r.waitStatus(c.ID, StatusFailed)
		if got.Reason != "list_deleted" || got.FinishedAt == nil {
			t.Errorf("failed campaign: reason %q finished %v", got.Reason, got.FinishedAt)
		}
		if _, err := r.s.Resume(ctx, "acme", c.ID); err == nil {
			t.Error("a failed campaign resumed")
		}
	})
	t.Run("no sessions", func(t *testing.T) {
		var mu sync.Mutex
		clock := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		now := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return clock
		}
		sleep := func(ctx context.Context, d time.Duration) error { // simulated: the clock moves by d
			mu.Lock()
			clock = clock.Add(d)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			return ctx.Err()
		}
		r := newRig(t, t.TempDir(), newSource(50), &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}},
			Options{FailAfter: 30 * time.Second, Now: now, Sleep: sleep})
		defer r.close()
		r.noSessions.Store(true)
		c, _ := r.s.Create(ctx, "acme", spec())
		if _, err := r.s.Start(ctx, "acme", c.ID); err != nil {
			t.Fatal(err)
		}
		got := r.waitStatus(c.ID, StatusFailed)
		if got.Reason != "no_sessions" || got.Counts.Pending != 50 {
			t.Errorf("failed campaign: reason %q counts %+v", got.Reason, got.Counts)
		}
		started, finished := *got.StartedAt, *got.FinishedAt
		if d := finished.Sub(started); d < 30*time.Second {
			t.Errorf("failed %s after the start, before FailAfter (30s)", d)
		}
	})
	t.Run("sessions back in time", func(t *testing.T) {
		r := newRig(t, t.TempDir(), newSource(50), &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}}, Options{FailAfter: time.Hour})
		defer r.close()
		r.noSessions.Store(true)
		c, _ := r.s.Create(ctx, "acme", spec())
		r.s.Start(ctx, "acme", c.ID)
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, _ := r.s.Get(ctx, "acme", c.ID)
			if got.Waiting == "sessions" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("campaign %s waiting %q, want sessions", got.Status, got.Waiting)
			}
			time.Sleep(5 * time.Millisecond) // polling the store with a deadline
		}
		r.noSessions.Store(false)
		r.s.poke("acme", c.ID)
		if got := r.waitStatus(c.ID, StatusCompleted); got.Counts.Failed != 0 {
			t.Errorf("counts %+v", got.Counts)
		}
	})
}

// A recipient who writes back within the reply window counts once as replied; one who
// writes after it, or one the campaign never sent to, does not.
func TestCampaignReplies(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), newSource(20), &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}}, Options{ReplyWindow: time.Hour})
	defer r.close()
	c, _ := r.s.Create(ctx, "acme", spec())
	r.s.Start(ctx, "acme", c.ID)
	r.waitStatus(c.ID, StatusCompleted)
	recs, _, err := r.s.Recipients(ctx, "acme", c.ID, "", "", 100)
	if err != nil || len(recs) != 20 {
		t.Fatalf("recipients: %d %v", len(recs), err)
	}
	a, b := recs[0], recs[1]
	if a.SentAt.IsZero() {
		t.Fatalf("recipient %+v has no sentAt", a)
	}
	for _, at := range []time.Time{a.SentAt.Add(time.Minute), a.SentAt.Add(2 * time.Minute)} { // twice: counted once
		if err := r.s.Replied("acme", a.ChatID, at); err != nil {
			t.Fatal(err)
		}
	}
	r.s.Replied("acme", b.ChatID, b.SentAt.Add(2*time.Hour)) // after the window
	r.s.Replied("acme", "15559999999@c.us", time.Now())      // not a recipient
	r.s.Replied("globex", a.ChatID, time.Now())              // another tenant
	got, _ := r.s.Get(ctx, "acme", c.ID)
	if got.Counts.Replied != 1 {
		t.Errorf("replied %d, want 1", got.Counts.Replied)
	}
	replied, _, _ := r.s.Recipients(ctx, "acme", c.ID, "", "", 100)
	for _, rc := range replied {
		if rc.Replied != (rc.ChatID == a.ChatID) {
			t.Errorf("recipient %s replied %v", rc.ChatID, rc.Replied)
		}
	}
}

// UsesList is true while a campaign that is not over uses the list; the metrics count
// the stored campaigns and what the runners fed.
func TestUsesListAndMetrics(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), newSource(30), &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}}, Options{ChunkSize: 7})
	defer r.close()
	r.src.optedOut["15550000003@c.us"] = true
	c, _ := r.s.Create(ctx, "acme", spec())
	if !r.s.UsesList("acme", "lst_1") || r.s.UsesList("acme", "lst_2") || r.s.UsesList("globex", "lst_1") {
		t.Error("a draft's list: UsesList wrong")
	}
	r.s.Start(ctx, "acme", c.ID)
	r.waitStatus(c.ID, StatusCompleted)
	if r.s.UsesList("acme", "lst_1") {
		t.Error("a completed campaign's list still in use")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.s.Collectors()...)
	want := `
# HELP wagate_campaign_fed_total Recipients the campaign runners handled, once committed, by outcome: queued (its message is in the queue), opted_out (skipped). rate() of it is the feed rate.
# TYPE wagate_campaign_fed_total counter
wagate_campaign_fed_total{outcome="opted_out"} 1
wagate_campaign_fed_total{outcome="queued"} 29
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wagate_campaign_fed_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(r.s.Collectors()[2], "wagate_campaigns"); n != 7 {
		t.Errorf("%d wagate_campaigns series, want one per status", n)
	}
	mfs, _ := reg.Gather()
	vals := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				label = l.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				vals[mf.GetName()+"/"+label] = g.GetValue()
			}
		}
	}
	if vals["wagate_campaigns/completed"] != 1 || vals["wagate_campaign_recipients/opted_out"] != 1 || vals["wagate_campaign_recipients/pending"] != 0 ||
		vals["wagate_campaign_recipients/sent"]+vals["wagate_campaign_recipients/delivered"]+vals["wagate_campaign_recipients/read"] != 29 {
		t.Errorf("gauges %v", vals)
	}
}

// TestCampaignOverDays: a campaign of 250 recipients for a tenant allowed 100 messages
// a day runs over three (simulated) UTC days, 100, 100 and 50, instead of failing: each
// day's quota is used to the last message (chunks sized by what is left), never more,
// and every recipient is sent exactly once.
func TestCampaignOverDays(t *testing.T) {
	const n, quota = 250, 100
	src := newSource(n)
	sender := &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}}
	var clockMu sync.Mutex
	now := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	sleep := func(ctx context.Context, d time.Duration) error {
		clockMu.Lock()
		now = now.Add(d)
		clockMu.Unlock()
		return ctx.Err()
	}
	r := newRig(t, t.TempDir(), src, sender, Options{ChunkSize: 30, MaxInFlight: 1000, Now: clock, Sleep: sleep})
	defer r.close()
	var mu sync.Mutex
	used := map[string]int{} // simulated UTC day -> messages counted
	day := func() string { return clock().Format("2006-01-02") }
	r.s.deps.Remaining = func(ctx context.Context, tenant string) (int, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return max(quota-used[day()], 0), true, nil
	}
	r.s.deps.Count = func(ctx context.Context, tenant string, k int) error {
		mu.Lock()
		defer mu.Unlock()
		if used[day()]+k > quota {
			return errors.New("over the daily limit")
		}
		used[day()] += k
		return nil
	}
	r.s.deps.Uncount = func(tenant string, k int) {
		mu.Lock()
		used[day()] -= k
		mu.Unlock()
	}
	ctx := context.Background()
	c, err := r.s.Create(ctx, "acme", spec())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Start(ctx, "acme", c.ID); err != nil {
		t.Fatal(err)
	}
	sawQuota := false
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := r.s.Get(ctx, "acme", c.ID)
		if err != nil {
			t.Fatal(err)
		}
		sawQuota = sawQuota || got.Waiting == "quota"
		if got.Status == StatusCompleted {
			checkCounts(t, got)
			if got.Counts.Failed != 0 || got.Counts.Sent+got.Counts.Delivered+got.Counts.Read != n {
				t.Errorf("counts %+v, want %d sent and none failed", got.Counts, n)
			}
			break
		}
		if got.Status != StatusRunning || time.Now().After(deadline) {
			t.Fatalf("campaign %s (waiting %q) %+v", got.Status, got.Waiting, got.Counts)
		}
		time.Sleep(5 * time.Millisecond) // polling the store with a deadline
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"2026-12-07": 100, "2026-12-08": 100, "2026-12-09": 50}
	if fmt.Sprint(used) != fmt.Sprint(want) {
		t.Errorf("messages per simulated day %v, want %v", used, want)
	}
	sender.mu.Lock()
	defer sender.mu.Unlock()
	for _, ct := range src.contacts {
		if k := len(sender.byChat[ct.ChatID.String()]); k != 1 {
			t.Errorf("%s got %d messages, want 1", ct.ChatID, k)
		}
	}
	if !sawQuota {
		t.Log("the campaign was never seen waiting for the quota (it may have been between polls)")
	}
}
