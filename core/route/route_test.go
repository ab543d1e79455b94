package route

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Chat reads the sticky record and every session's inbound time of one chat, and
// nothing of another chat whose id extends it.
func TestChatReadsStickyAndInbound(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := New(db)
	if c := r.Chat("acme", "1@c.us"); c.Last.Session != "" || len(c.Inbound) != 0 {
		t.Fatalf("empty chat: %+v", c)
	}
	for _, s := range []string{"a", "b"} {
		if err := r.RecordInbound("acme", "1@c.us", s); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.RecordInbound("acme", "1@c.us2", "z"); err != nil {
		t.Fatal(err)
	}
	c := r.Chat("acme", "1@c.us")
	if c.Last.Session != "b" || len(c.Inbound) != 2 || c.Inbound["a"].IsZero() || c.Inbound["b"].IsZero() {
		t.Fatalf("chat: %+v, want sticky b and inbound from a and b only", c)
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
