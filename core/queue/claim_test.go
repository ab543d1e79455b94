package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

func statuses(m Message) []Status {
	var out []Status
	for _, c := range m.History {
		out = append(out, c.Status)
	}
	return out
}

// rawState reads a message's record as stored and its queue entry (ok false: none).
func rawState(t *testing.T, db *store.DB, session, id string) (Message, entry, bool) {
	t.Helper()
	var m Message
	var e entry
	ok := true
	err := db.View(func(txn *badger.Txn) error {
		var err error
		if m, err = messages.Get(txn, "acme", id); err != nil {
			return err
		}
		e, err = entries.Get(txn, "acme", session, id)
		if err == store.ErrNotFound {
			ok, err = false, nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, e, ok
}

// TestClaimIsInTheEntryAlone: while a message is in flight its record is stored as it
// was queued and the claim (attempt, time) is in its queue entry; every read sees the
// message "sending". A crash then resets it as before (flagged, the attempt counted),
// and the next send records the whole history.
func TestClaimIsInTheEntryAlone(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, q := openQ(t, dir, Options{})
	f := newFake()
	inCall := make(chan string, 1)
	never := make(chan struct{})
	defer close(never)
	f.fail = func(id string, attempt int) error {
		inCall <- id
		<-never // no answer: the gateway dies during the call
		return nil
	}
	sender := hangUntilCtx{f}
	d := NewDispatcher(q, sender, DispatchOptions{})
	it := item("s", "")
	if _, err := q.Enqueue(ctx, "acme", []Item{it}); err != nil {
		t.Fatal(err)
	}
	d.SessionStatus("acme", "s", true)
	id := <-inCall

	rec, e, ok := rawState(t, db, "s", id)
	if rec.Status != StatusQueued || rec.Attempts != 0 || len(rec.History) != 1 {
		t.Errorf("stored record during the call: %s, %d attempts, history %v; want it as queued", rec.Status, rec.Attempts, statuses(rec))
	}
	if !ok || !e.claim() || e.Attempts != 1 {
		t.Errorf("queue entry during the call: %+v (present %v), want a claim of attempt 1", e, ok)
	}
	m, err := q.Get(ctx, "acme", id)
	if err != nil || m.Status != StatusSending || m.Attempts != 1 || !slices.Equal(statuses(m), []Status{StatusQueued, StatusSending}) {
		t.Errorf("Get during the call: %s, %d attempts, history %v, %v; want sending, 1, [queued sending]", m.Status, m.Attempts, statuses(m), err)
	}
	page, err := q.ChatMessages(ctx, "acme", "s", it.Message.ChatID, "", 10)
	if err != nil || len(page.Messages) != 1 || page.Messages[0].Status != StatusSending {
		t.Errorf("chat listing during the call: %+v, %v", page.Messages, err)
	}
	chats, _, err := q.Chats(ctx, "acme", "s")
	if err != nil || len(chats) != 1 || chats[0].Last.Status != StatusSending {
		t.Errorf("chats during the call: %+v, %v", chats, err)
	}
	d.Close() // the call is abandoned: the claim stays
	q.Close()
	db.Close()

	db, q = openQ(t, dir, Options{})
	defer db.Close()
	defer q.Close()
	m, err = q.Get(ctx, "acme", id)
	if err != nil || m.Status != StatusQueued || !m.PossibleDuplicate || m.Reason != "interrupted_in_flight" || m.Attempts != 1 ||
		!slices.Equal(statuses(m), []Status{StatusQueued, StatusSending, StatusQueued}) {
		t.Fatalf("after the restart: %s %q dup=%v, %d attempts, history %v, %v", m.Status, m.Reason, m.PossibleDuplicate, m.Attempts, statuses(m), err)
	}
	if _, e, ok := rawState(t, db, "s", id); !ok || e.Sending {
		t.Errorf("queue entry after the restart: %+v (present %v), want a plain entry", e, ok)
	}
	f2 := newFake()
	d = NewDispatcher(q, f2, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	m = waitStatus(t, q, id, StatusSent)
	if !m.PossibleDuplicate || m.Attempts != 2 || !slices.Equal(statuses(m), []Status{StatusQueued, StatusSending, StatusQueued, StatusSending, StatusSent}) {
		t.Errorf("sent after the restart: dup=%v, %d attempts, history %v", m.PossibleDuplicate, m.Attempts, statuses(m))
	}
	if _, _, ok := rawState(t, db, "s", id); ok {
		t.Error("the queue entry of the sent message is still there")
	}
}

// TestClaimLeftByAStoppedDispatcher: a dispatcher stopped during a call leaves the
// claim in the entry; a new dispatcher on the same open queue (no recovery ran) sends
// the message again, flagged, with the interrupted attempt in its history.
func TestClaimLeftByAStoppedDispatcher(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	inCall := make(chan string, 1)
	never := make(chan struct{})
	defer close(never)
	f.fail = func(id string, attempt int) error {
		inCall <- id
		<-never
		return nil
	}
	d := NewDispatcher(q, hangUntilCtx{f}, DispatchOptions{})
	d.SessionStatus("acme", "s", true)
	if _, err := q.Enqueue(ctx, "acme", []Item{item("s", "")}); err != nil {
		t.Fatal(err)
	}
	id := <-inCall
	d.Close()
	if _, e, _ := rawState(t, db, "s", id); !e.claim() {
		t.Fatalf("entry after the stop: %+v, want the claim", e)
	}
	d = NewDispatcher(q, newFake(), DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	m := waitStatus(t, q, id, StatusSent)
	if !m.PossibleDuplicate || m.Attempts != 2 || !slices.Equal(statuses(m), []Status{StatusQueued, StatusSending, StatusQueued, StatusSending, StatusSent}) {
		t.Errorf("sent by the second dispatcher: dup=%v, %d attempts, history %v", m.PossibleDuplicate, m.Attempts, statuses(m))
	}
}

// TestAckOvertakingTheSentRecord: a receipt the transport reports before the worker
// records the send (a fast transport) applies to the claimed message, and the send's
// record then keeps the newer status; the history has every step once.
func TestAckOvertakingTheSentRecord(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	var d *Dispatcher
	f.fail = func(id string, attempt int) error {
		d.Ack("acme", id, provider.AckDelivered, "")
		deadline := time.Now().Add(5 * time.Second)
		for { // until the receipt is durable, before the call returns
			if m, err := q.Get(ctx, "acme", id); err == nil && m.Status == StatusDelivered {
				return nil
			}
			if time.Now().After(deadline) {
				t.Error("the receipt of a message in flight was not recorded")
				return nil
			}
			time.Sleep(time.Millisecond)
		}
	}
	d = NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	it := item("s", "")
	if _, err := q.Enqueue(ctx, "acme", []Item{it}); err != nil {
		t.Fatal(err)
	}
	<-f.got
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, ok := rawState(t, db, "s", it.Message.ID); !ok {
			m, _ := q.Get(ctx, "acme", it.Message.ID)
			if m.Status != StatusDelivered || m.Attempts != 1 || m.ProviderID == "" ||
				!slices.Equal(statuses(m), []Status{StatusQueued, StatusSending, StatusDelivered, StatusSent}) {
				t.Errorf("after the send: %s, %d attempts, provider id %q, history %v", m.Status, m.Attempts, m.ProviderID, statuses(m))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the message was never dequeued")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEntryClaimCodec: a claim round-trips; the earlier entry values still read.
func TestEntryClaimCodec(t *testing.T) {
	at := time.Date(2026, 12, 7, 15, 4, 5, 6, time.UTC)
	c := flagCodec[entry]{}
	for _, e := range []entry{{}, {Sending: true}, {Sending: true, Attempts: 3, At: at}} {
		b, err := c.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decode(b)
		if err != nil || back.Sending != e.Sending || back.Attempts != e.Attempts || !back.At.Equal(e.At) {
			t.Errorf("%+v read back as %+v, %v", e, back, err)
		}
	}
	for _, bad := range [][]byte{{codecEntryClaim}, {codecEntryClaim, 1}, {codecEntryClaim, 1, 0}, {codecEntryClaim, 1, 15, 1}} {
		if e, err := c.Decode(bad); err == nil {
			t.Errorf("%q read as %+v, want an error", bad, e)
		}
	}
}

// hangUntilCtx is a Sender whose calls, after the fake's hook, wait for their context.
type hangUntilCtx struct{ f *fakeSender }

func (h hangUntilCtx) Send(ctx context.Context, tenant, session string, msg provider.Outbound) (provider.SendResult, error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.f.fail(msg.ID, 1)
	}()
	select {
	case <-done:
		return h.f.Send(ctx, tenant, session, msg)
	case <-ctx.Done():
		return provider.SendResult{}, ctx.Err()
	}
}
