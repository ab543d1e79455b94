package queue

import (
	"context"
	"testing"
)

// TestClaimKeys: the keys cluster mode claims before it publishes answer as Enqueue's
// do (a repeat replays the first id, another request with the key is a mismatch), and
// the keys of messages never published are forgotten.
func TestClaimKeys(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	a, b, none := item("s", "k1"), item("s", "k1"), item("s", "")
	a.Fingerprint, b.Fingerprint = "f", "f"
	res, err := q.ClaimKeys(ctx, "acme", []Item{a, none})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Replayed || res[0].ID != a.Message.ID || res[0].Status != StatusQueued || res[1].ID != none.Message.ID {
		t.Fatalf("first claim: %+v", res)
	}
	if res, _ = q.ClaimKeys(ctx, "acme", []Item{b}); !res[0].Replayed || res[0].ID != a.Message.ID {
		t.Fatalf("repeat: %+v, want a replay of %s", res[0], a.Message.ID)
	}
	c := item("s", "k1")
	c.Fingerprint = "other"
	if res, _ = q.ClaimKeys(ctx, "acme", []Item{c}); !res[0].Mismatch {
		t.Fatalf("another request with the key: %+v, want a mismatch", res[0])
	}
	// Enqueue sees the claimed key too: one key, one message, whichever door.
	if res, _ = q.Enqueue(ctx, "acme", []Item{b}); !res[0].Replayed || res[0].ID != a.Message.ID {
		t.Fatalf("enqueue after the claim: %+v", res[0])
	}
	if err := q.ForgetKeys("acme", []Item{b}); err != nil { // not a's id: kept
		t.Fatal(err)
	}
	if res, _ = q.ClaimKeys(ctx, "acme", []Item{b}); !res[0].Replayed {
		t.Fatal("a key forgotten for a message it does not name")
	}
	if err := q.ForgetKeys("acme", []Item{a}); err != nil {
		t.Fatal(err)
	}
	if res, _ = q.ClaimKeys(ctx, "acme", []Item{b}); res[0].Replayed || res[0].ID != b.Message.ID {
		t.Fatalf("after forgetting: %+v, want a fresh claim for %s", res[0], b.Message.ID)
	}
}

// TestHandover: the waiting entries of a session are removed, records and other
// sessions untouched, nothing is sent, and the session's room is given back.
func TestHandover(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	var items []Item
	for range 300 { // more than one read of the head
		items = append(items, item("moved", ""))
	}
	other := item("stays", "")
	if _, err := q.Enqueue(ctx, "acme", append(items, other)); err != nil {
		t.Fatal(err)
	}
	n, err := d.Handover("acme", "moved")
	if err != nil || n != 300 {
		t.Fatalf("Handover: %d, %v; want 300", n, err)
	}
	if depth, _ := q.Depth("acme", "moved"); depth != 0 {
		t.Fatalf("depth after handover: %d", depth)
	}
	if m, err := q.Get(ctx, "acme", items[0].Message.ID); err != nil || m.Status != StatusQueued {
		t.Fatalf("record after handover: %v %v", m.Status, err)
	}
	d.SessionStatus("acme", "moved", true)
	d.SessionStatus("acme", "stays", true)
	waitStatus(t, q, other.Message.ID, StatusSent)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent["moved"]) != 0 {
		t.Fatalf("%d handed-over messages sent", len(f.sent["moved"]))
	}
}
