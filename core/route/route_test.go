package route

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

func TestStickyThenRoundRobin(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := New(db)
	ctx := context.Background()
	working := []string{"b", "a", "c"}
	var turns []string
	for i := 0; i < 4; i++ {
		s, _ := r.Pick(ctx, "acme", "1@c.us", working)
		turns = append(turns, s)
	}
	if got := turns[0] + turns[1] + turns[2] + turns[3]; got != "abca" {
		t.Errorf("round-robin turns %v, want a b c a", turns)
	}
	if err := r.RecordInbound("acme", "1@c.us", "c"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if s, _ := r.Pick(ctx, "acme", "1@c.us", working); s != "c" {
			t.Fatalf("sticky pick %q, want c", s)
		}
	}
	// Sticky session not working: round-robin over the others.
	if s, _ := r.Pick(ctx, "acme", "1@c.us", []string{"a", "b"}); s == "c" {
		t.Error("picked a session that is not working")
	}
	// Another tenant's record is not seen.
	db.Update(func(txn *badger.Txn) error { return r.Record(txn, "other", "2@c.us", "a") })
	if s, _ := r.Pick(ctx, "acme", "2@c.us", []string{"z"}); s != "z" {
		t.Errorf("pick %q", s)
	}
	if _, ok := r.Pick(ctx, "acme", "1@c.us", nil); ok {
		t.Error("pick with no working session")
	}
}

// Records written before the sticky record had a time (a bare session name) still read.
func TestContactReadsFirstFormat(t *testing.T) {
	var c Contact
	if err := json.Unmarshal([]byte(`"main"`), &c); err != nil || c.Session != "main" || !c.At.IsZero() {
		t.Fatalf("bare name: %+v %v", c, err)
	}
	if err := json.Unmarshal([]byte(`{"session":"b","at":"2026-11-25T10:00:00Z"}`), &c); err != nil || c.Session != "b" || c.At.IsZero() {
		t.Fatalf("record: %+v %v", c, err)
	}
}

// RecordInbound keeps, per session, when the contact last wrote; the sticky record
// beside it reads as before.
func TestInboundPerSession(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := New(db)
	if at := r.Inbound("acme", "1@c.us", "a"); !at.IsZero() {
		t.Fatalf("inbound before any message: %v", at)
	}
	before := time.Now().Add(-time.Second)
	if err := r.RecordInbound("acme", "1@c.us", "a"); err != nil {
		t.Fatal(err)
	}
	if at := r.Inbound("acme", "1@c.us", "a"); at.Before(before) {
		t.Errorf("inbound to a: %v, want after %v", at, before)
	}
	if at := r.Inbound("acme", "1@c.us", "b"); !at.IsZero() {
		t.Errorf("inbound to b: %v, want none", at)
	}
	if at := r.Inbound("other", "1@c.us", "a"); !at.IsZero() {
		t.Errorf("another tenant sees acme's inbound: %v", at)
	}
	// A send through b moves the sticky record; a's inbound time stays.
	if err := db.Update(func(txn *badger.Txn) error { return r.Record(txn, "acme", "1@c.us", "b") }); err != nil {
		t.Fatal(err)
	}
	if c := r.Last("acme", "1@c.us"); c.Session != "b" {
		t.Errorf("sticky record %+v, want b", c)
	}
	if at := r.Inbound("acme", "1@c.us", "a"); at.IsZero() {
		t.Error("a send forgot the inbound time")
	}
}
