package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// idAt makes a message id as ids.New (or ids.NewLow, low) would have at t.
func idAt(t time.Time, low bool) string {
	mark := ""
	if low {
		mark = "~"
	}
	return "msg_" + mark + ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String()
}

// The oldest waiting message's age is the oldest of every session's first normal and
// first low-priority (campaign) id, and 0 once nothing waits.
func TestOldestMessageAge(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond)
	db, q := openQ(t, t.TempDir(), Options{Now: func() time.Time { return now }})
	defer db.Close()
	defer q.Close()
	if got := q.oldestAge(now); got != 0 {
		t.Fatalf("empty queue: age %v, want 0", got)
	}
	put := func(session string, age time.Duration, low bool) {
		it := item(session, "")
		it.Message.ID = idAt(now.Add(-age), low)
		if _, err := q.Enqueue(context.Background(), "acme", []Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	put("s0", 10*time.Second, false)
	put("s1", 5*time.Second, false)
	put("s1", 60*time.Second, true) // a campaign message, behind s1's normal one in key order
	if got := q.oldestAge(now); got != 60*time.Second {
		t.Errorf("age %v, want 1m0s (s1's campaign message)", got)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(q.Collector())
	want := "# HELP wagate_queue_oldest_message_age_seconds " + ageHelp + "\n" +
		"# TYPE wagate_queue_oldest_message_age_seconds gauge\nwagate_queue_oldest_message_age_seconds 60\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wagate_queue_oldest_message_age_seconds"); err != nil {
		t.Error(err)
	}
}

// After a drain, the age is read from the worker's floor, not the session's first key;
// a message put behind the floor (an older id, as a retried or late-committed one has)
// lowers it, so the age still counts that message.
func TestOldestAgeAfterDrainCountsMessagesBehindTheFloor(t *testing.T) {
	now := time.Now()
	db, q := openQ(t, t.TempDir(), Options{Now: func() time.Time { return now }})
	defer db.Close()
	defer q.Close()
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s0", true)
	for range 200 {
		if _, err := q.Enqueue(context.Background(), "acme", []Item{item("s0", "")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		select {
		case <-f.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 200 sent", i)
		}
	}
	d.SessionStatus("acme", "s0", false) // nothing more is sent: what is put stays waiting
	deadline := time.Now().Add(5 * time.Second)
	for d.scanFloor(sessionKey{"acme", "s0"}) == "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the worker sets its floor after its last batch
	}
	if d.scanFloor(sessionKey{"acme", "s0"}) == "" {
		t.Fatal("the worker never set a floor after draining")
	}
	put := func(age time.Duration) {
		it := item("s0", "")
		it.Message.ID = idAt(now.Add(-age), false)
		if _, err := q.Enqueue(context.Background(), "acme", []Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	put(-time.Second) // a fresh one, after the floor
	put(30 * time.Second)
	if got := q.oldestAge(now).Round(time.Second); got != 30*time.Second {
		t.Errorf("age %v, want 30s: the message behind the floor was missed", got)
	}
	b, err := q.Backlog("acme", "s0", now)
	if err != nil || b.Waiting != 2 || b.Oldest == nil || now.Sub(*b.Oldest).Round(time.Second) != 30*time.Second {
		t.Errorf("backlog %+v %v, want 2 waiting, the oldest 30s old", b, err)
	}
}
