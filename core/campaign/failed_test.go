package campaign

import (
	"context"
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
