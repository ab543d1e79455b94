package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestProviderIDIndex: a message sent through the dispatcher is found by the id the
// transport gave it, in its session only (and not in another tenant's); a provider id
// with '/' (the Cloud API's wamid is base64) is indexed too; retention deletes the
// entry with the message, so an old receipt then finds nothing.
func TestProviderIDIndex(t *testing.T) {
	t0 := time.Now().UTC()
	clock := &fakeClock{now: t0}
	db, q := openQ(t, t.TempDir(), Options{Now: clock.Now})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s1", true)

	items := []Item{item("s1", ""), item("s1", "")}
	if _, err := q.Enqueue(ctx, "acme", items); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		waitStatus(t, q, it.Message.ID, StatusSent)
	}
	for _, it := range items {
		pid := "P" + it.Message.ID // what the fake sender answers
		if got, err := q.ByProviderID("acme", "s1", pid); err != nil || got != it.Message.ID {
			t.Errorf("ByProviderID(%s) = %q, %v; want %s", pid, got, err, it.Message.ID)
		}
		if _, err := q.ByProviderID("acme", "s2", pid); !errors.Is(err, ErrNotFound) {
			t.Errorf("another session found %s: %v", pid, err)
		}
		if _, err := q.ByProviderID("acme2", "s1", pid); !errors.Is(err, ErrNotFound) {
			t.Errorf("another tenant found %s: %v", pid, err)
		}
	}
	for _, bad := range []string{"", "nope", string(make([]byte, maxProviderID+1))} {
		if _, err := q.ByProviderID("acme", "s1", bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("ByProviderID(%.10q): %v, want ErrNotFound", bad, err)
		}
	}

	// A provider id with '/' and '+' goes into a key unharmed.
	m := Message{ID: "msg_slash", Session: "s1", ProviderID: "wamid.HBgL/MTU1+NTU=", Status: StatusSent}
	if err := db.Update(func(txn *badger.Txn) error { return putProviderID(txn, "acme", m) }); err != nil {
		t.Fatal(err)
	}
	if got, err := q.ByProviderID("acme", "s1", m.ProviderID); err != nil || got != m.ID {
		t.Errorf("wamid with '/': %q, %v", got, err)
	}

	now := t0.Add(31 * 24 * time.Hour)
	clock.Set(now)
	if n, err := q.SweepFinal(ctx, now.Add(-30*24*time.Hour), 10); err != nil || n != 2 {
		t.Fatalf("SweepFinal: %d, %v; want 2", n, err)
	}
	for _, it := range items {
		if got, err := q.ByProviderID("acme", "s1", "P"+it.Message.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("after retention deleted %s: %q, %v; want ErrNotFound", it.Message.ID, got, err)
		}
	}
}
