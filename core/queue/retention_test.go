package queue

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// setStatus moves a message to st at the clock's time, dropping its queue entry unless
// keepEntry (a final message whose entry the dispatcher has not removed yet).
func setStatus(t *testing.T, q *Queue, tenant, id string, st Status, at time.Time, keepEntry bool) {
	t.Helper()
	if err := q.change(tenant, id, func(m *Message) (bool, error) {
		m.Status = st
		m.History = append(m.History, Change{Status: st, At: at})
		return !keepEntry && st != StatusQueued, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func chatIndexed(t *testing.T, db *store.DB, tenant string, m Message) bool {
	t.Helper()
	found := false
	db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(store.Key(store.PrefixChatMessage, tenant, m.Session, m.ChatID, m.ID))
		found = err == nil
		return nil
	})
	return found
}

// TestSweepFinalDeletesOldFinalMessagesOnly: with the clock moved 31 days on and a
// 30-day retention, final messages that last changed before the cutoff go with their
// chat index entries, in batches; queued messages, final messages still holding a
// queue entry and messages that changed recently stay; a second sweep finds nothing.
func TestSweepFinalDeletesOldFinalMessagesOnly(t *testing.T) {
	t0 := time.Now().UTC()
	clock := &fakeClock{now: t0}
	db, q := openQ(t, t.TempDir(), Options{Now: clock.Now})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()

	items := []Item{item("s1", ""), item("s1", ""), item("s1", ""), item("s1", ""), item("s1", ""), item("s1", "")}
	if _, err := q.Enqueue(ctx, "acme", items); err != nil {
		t.Fatal(err)
	}
	other := []Item{item("s9", ""), item("s9", "")}
	if _, err := q.Enqueue(ctx, "acme2", other); err != nil {
		t.Fatal(err)
	}
	id := func(i int) string { return items[i].Message.ID }
	setStatus(t, q, "acme", id(0), StatusSent, t0, false)
	setStatus(t, q, "acme", id(1), StatusDelivered, t0, false)
	setStatus(t, q, "acme", id(2), StatusFailed, t0, false)
	// id(3) stays queued.
	setStatus(t, q, "acme", id(4), StatusFailed, t0, true)                  // entry not yet dropped
	setStatus(t, q, "acme", id(5), StatusRead, t0.Add(48*time.Hour), false) // read recently
	setStatus(t, q, "acme2", other[0].Message.ID, StatusRead, t0, false)
	// other[1] stays queued.

	now := t0.Add(31 * 24 * time.Hour)
	clock.Set(now)
	n, err := q.SweepFinal(ctx, now.Add(-30*24*time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("SweepFinal deleted %d, want 4 (sent, delivered, failed of acme; read of acme2)", n)
	}
	for i, want := range []bool{false, false, false, true, true, true} {
		m, err := q.Get(ctx, "acme", id(i))
		if got := err == nil; got != want {
			t.Errorf("message %d (%s): kept = %v (%v), want %v", i, m.Status, got, err, want)
		}
		if !want && !errors.Is(err, ErrNotFound) {
			t.Errorf("message %d: err = %v, want ErrNotFound", i, err)
		}
		if got := chatIndexed(t, db, "acme", items[i].Message); got != want {
			t.Errorf("message %d: chat index entry kept = %v, want %v", i, got, want)
		}
	}
	if _, err := q.Get(ctx, "acme2", other[0].Message.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("acme2's old read message: %v, want deleted", err)
	}
	if _, err := q.Get(ctx, "acme2", other[1].Message.ID); err != nil {
		t.Errorf("acme2's queued message: %v, want kept", err)
	}
	page, err := q.ChatMessages(ctx, "acme", "s1", items[0].Message.ChatID, "", 100)
	if err != nil || len(page.Messages) != 3 {
		t.Errorf("chat listing after the sweep: %d messages, %v; want the 3 kept", len(page.Messages), err)
	}
	if n, err := q.SweepFinal(ctx, now.Add(-30*24*time.Hour), 2); n != 0 || err != nil {
		t.Errorf("second sweep deleted %d, %v; want 0", n, err)
	}

	// A cancelled context stops the sweep before it deletes anything.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.SweepFinal(cctx, now, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sweep err = %v", err)
	}
}

// TestSweepIdempotencyDeletesExpiredKeys: records live until their expiry, are swept
// after it (in batches), and a key swept is free for a new message.
func TestSweepIdempotencyDeletesExpiredKeys(t *testing.T) {
	t0 := time.Now().UTC()
	clock := &fakeClock{now: t0}
	db, q := openQ(t, t.TempDir(), Options{Now: clock.Now, IdempotencyTTL: 24 * time.Hour})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, "acme", []Item{item("s1", "k1"), item("s1", "k2"), item("s1", "k3")}); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(12 * time.Hour))
	if _, err := q.Enqueue(ctx, "acme", []Item{item("s1", "k4")}); err != nil { // expires at t0+36h
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		db.View(func(txn *badger.Txn) error {
			return idems.Scan(txn, func([]string, idemRecord) error { n++; return nil })
		})
		return n
	}
	if n, err := q.SweepIdempotency(ctx, t0.Add(time.Hour), 2); n != 0 || err != nil || count() != 4 {
		t.Fatalf("sweep before expiry deleted %d (%v), %d left; want 0, 4", n, err, count())
	}
	if n, err := q.SweepIdempotency(ctx, t0.Add(25*time.Hour), 2); n != 3 || err != nil || count() != 1 {
		t.Fatalf("sweep after expiry deleted %d (%v), %d left; want 3, 1", n, err, count())
	}
	clock.Set(t0.Add(25 * time.Hour))
	res, err := q.Enqueue(ctx, "acme", []Item{item("s1", "k1"), item("s1", "k4")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Replayed || !res[1].Replayed {
		t.Errorf("after the sweep: k1 replayed=%v (want false: swept), k4 replayed=%v (want true: live)", res[0].Replayed, res[1].Replayed)
	}
}
