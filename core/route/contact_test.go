package route

import (
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Contact reads, per session, the last inbound (RecordInbound) and last outbound
// (Record, as a send's transaction does) of one chat, and nothing of another chat or
// tenant; the sticky record beside it is the last of either.
func TestContactTalkPerSession(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := New(db)
	if last, talk, err := r.Contact("acme", "1@c.us"); err != nil || last.Session != "" || len(talk) != 0 {
		t.Fatalf("empty chat: %+v %+v %v", last, talk, err)
	}
	send := func(tenant, chat, session string) {
		t.Helper()
		if err := db.Update(func(txn *badger.Txn) error { return r.Record(txn, tenant, chat, session) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.RecordInbound("acme", "1@c.us", "a"); err != nil {
		t.Fatal(err)
	}
	send("acme", "1@c.us", "a")
	send("acme", "1@c.us", "b")
	send("acme", "1@c.us2", "z")
	send("other", "1@c.us", "y")

	last, talk, err := r.Contact("acme", "1@c.us")
	if err != nil {
		t.Fatal(err)
	}
	if last.Session != "b" {
		t.Errorf("sticky %+v, want b", last)
	}
	if len(talk) != 2 {
		t.Fatalf("talk %+v, want a and b only", talk)
	}
	if a := talk["a"]; a.LastInbound.IsZero() || a.LastOutbound.IsZero() || a.LastOutbound.Before(a.LastInbound) {
		t.Errorf("a: %+v, want inbound then outbound", a)
	}
	if b := talk["b"]; !b.LastInbound.IsZero() || b.LastOutbound.IsZero() {
		t.Errorf("b: %+v, want outbound only", b)
	}
	// The pacing view still reads inbound times only.
	if c := r.Chat("acme", "1@c.us"); len(c.Inbound) != 1 || c.Inbound["a"].IsZero() {
		t.Errorf("Chat: %+v, want inbound from a only", c)
	}
}

// A send through the chat's sticky session within Grain of the recorded times writes
// nothing; a send through another session, or a first send after an inbound message,
// writes what changed.
func TestRecordWritesOnlyChanges(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := New(db)
	// writes is how many of the chat's two records a send through session rewrote
	// (each write stamps a new time).
	writes := func(session string) int {
		t.Helper()
		before, talkBefore, _ := r.Contact("acme", "1@c.us")
		if err := db.Update(func(txn *badger.Txn) error { return r.Record(txn, "acme", "1@c.us", session) }); err != nil {
			t.Fatal(err)
		}
		after, talkAfter, _ := r.Contact("acme", "1@c.us")
		n := 0
		if !after.At.Equal(before.At) || after.Session != before.Session {
			n++
		}
		if !talkAfter[session].LastOutbound.Equal(talkBefore[session].LastOutbound) {
			n++
		}
		return n
	}
	if err := r.RecordInbound("acme", "1@c.us", "a"); err != nil {
		t.Fatal(err)
	}
	if n := writes("a"); n != 1 {
		t.Errorf("first send through a after its inbound: %d writes, want 1 (the outbound time)", n)
	}
	if n := writes("a"); n != 0 {
		t.Errorf("a second send through a within Grain: %d writes, want 0", n)
	}
	if n := writes("b"); n != 2 {
		t.Errorf("a send through b: %d writes, want 2 (sticky record, outbound time)", n)
	}
	if last := r.Last("acme", "1@c.us"); last.Session != "b" {
		t.Errorf("sticky %+v, want b", last)
	}
	if n := writes("a"); n != 1 {
		t.Errorf("back through a: %d writes, want 1 (the sticky record; a's outbound time is fresh)", n)
	}
}
