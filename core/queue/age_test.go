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
