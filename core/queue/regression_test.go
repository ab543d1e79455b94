package queue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/provider"
)

// R1: the sweep (or SessionDeleted) fails a message while the worker holds it between
// Get and the "sending" change (e.g. waiting for a rate token); the worker then marks it
// sending and sends it anyway, and unreserves a second time.
func TestRegressionExpireRacesWorker(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	var mu sync.Mutex
	var transitions []string
	d := NewDispatcher(q, f, DispatchOptions{Rate: 1, Burst: 1, MaxWait: 200 * time.Millisecond,
		OnTransition: func(_ string, m Message) {
			mu.Lock()
			transitions = append(transitions, m.ID+":"+string(m.Status))
			mu.Unlock()
		}})
	defer d.Close()
	a, b := item("s", ""), item("s", "")
	if _, err := q.Enqueue(ctx, "acme", []Item{a, b}); err != nil {
		t.Fatal(err)
	}
	d.SessionStatus("acme", "s", true)
	time.Sleep(1500 * time.Millisecond)
	m, _ := q.Get(ctx, "acme", b.Message.ID)
	_, total := q.Depth("acme", "s")
	mu.Lock()
	t.Logf("transitions: %v", transitions)
	mu.Unlock()
	t.Logf("b status=%s reason=%s history=%v sends=%d total=%d", m.Status, m.Reason, m.History, f.n[b.Message.ID], total)
	if f.n[b.Message.ID] > 0 && m.History[1].Status == StatusFailed {
		t.Errorf("message failed (expired) then sent anyway")
	}
	if total != 0 {
		t.Errorf("depth total = %d, want 0", total)
	}
}

// R2: an error from the post-send change (here OnSent) ends the worker goroutine for
// good while it stays registered: the session never sends again.
func TestRegressionWorkerDiesOnCommitError(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	var calls atomic.Int32
	d := NewDispatcher(q, f, DispatchOptions{OnSent: func(*badger.Txn, string, Message) error {
		if calls.Add(1) == 1 {
			return errors.New("transient")
		}
		return nil
	}})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	a := item("s", "")
	q.Enqueue(ctx, "acme", []Item{a})
	<-f.got
	time.Sleep(100 * time.Millisecond)
	b := item("s", "")
	q.Enqueue(ctx, "acme", []Item{b})
	d.SessionStatus("acme", "s", true)
	select {
	case <-f.got:
	case <-time.After(2 * time.Second):
		ma, _ := q.Get(ctx, "acme", a.Message.ID)
		mb, _ := q.Get(ctx, "acme", b.Message.ID)
		t.Fatalf("worker dead: a=%s b=%s, nothing sent after one commit error", ma.Status, mb.Status)
	}
}

// R3: after Close, Enqueue (and change) can block forever: q.in is buffered, the
// select may pick the send, and no committer is left to finish it.
func TestRegressionEnqueueAfterCloseHangs(t *testing.T) {
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	q.Close()
	hung := 0
	for i := 0; i < 20; i++ {
		done := make(chan error, 1)
		go func() { _, err := q.Enqueue(context.Background(), "acme", []Item{item("s", "")}); done <- err }()
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
			hung++
		}
	}
	if hung > 0 {
		t.Errorf("%d of 20 Enqueue calls after Close never returned", hung)
	}
}

// R4: an ack (delivered) that arrives while the send is in flight, followed by a send
// error, moves the message back to queued and it is sent again.
func TestRegressionDeliveredThenErrorResends(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	var d *Dispatcher
	f.fail = func(id string, attempt int) error {
		if attempt == 1 {
			d.Ack("acme", id, provider.AckDelivered, "")
			time.Sleep(50 * time.Millisecond) // the ack commits first
			return errors.New("timeout waiting for server ack")
		}
		return nil
	}
	d = NewDispatcher(q, f, DispatchOptions{BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	a := item("s", "")
	q.Enqueue(ctx, "acme", []Item{a})
	time.Sleep(500 * time.Millisecond)
	m, _ := q.Get(ctx, "acme", a.Message.ID)
	t.Logf("history=%v", m.History)
	if f.n[a.Message.ID] > 1 {
		t.Errorf("delivered message sent %d times; status moved back from delivered", f.n[a.Message.ID])
	}
}

// R5: a provider "failed" ack during the send is overwritten by the worker's "sent".
func TestRegressionFailedAckOverwritten(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	var d *Dispatcher
	f.fail = func(id string, attempt int) error {
		d.Ack("acme", id, provider.AckFailed, "rejected")
		time.Sleep(50 * time.Millisecond)
		return nil
	}
	d = NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	a := item("s", "")
	q.Enqueue(ctx, "acme", []Item{a})
	<-f.got
	time.Sleep(100 * time.Millisecond)
	m, _ := q.Get(ctx, "acme", a.Message.ID)
	t.Logf("history=%v", m.History)
	if m.Status != StatusFailed {
		t.Errorf("status %s after a failed ack, want failed", m.Status)
	}
}

// R6: a message a crash left delivered (ack landed, worker's record did not) keeps its
// queue entry; SessionDeleted then loops forever on it.
func TestRegressionSessionDeletedSpinsForever(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, q := openQ(t, dir, Options{})
	f := newFake()
	var d *Dispatcher
	release := make(chan struct{})
	f.fail = func(id string, attempt int) error {
		d.Ack("acme", id, provider.AckDelivered, "")
		<-release
		return nil
	}
	d = NewDispatcher(q, f, DispatchOptions{})
	d.SessionStatus("acme", "s", true)
	a := item("s", "")
	q.Enqueue(ctx, "acme", []Item{a})
	time.Sleep(200 * time.Millisecond)
	go func() { time.Sleep(100 * time.Millisecond); close(release) }()
	d.Close() // "crash": the send's outcome is never recorded
	q.Close()
	db.Close()

	db, q = openQ(t, dir, Options{})
	defer db.Close()
	defer q.Close()
	d = NewDispatcher(q, newFake(), DispatchOptions{})
	defer d.Close()
	m, _ := q.Get(ctx, "acme", a.Message.ID)
	ids, _ := q.headFrom(sessionKey{"acme", "s"}, "", 10)
	t.Logf("after restart: status=%s entries=%v", m.Status, ids)
	done := make(chan struct{})
	go func() { d.SessionDeleted("acme", "s"); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("SessionDeleted still looping after 2s")
	}
}

// R7: expire used to fail the message and drop its entry in two transactions, so a
// Requeue between them left a queued message without an entry. Now both happen in one
// transaction: a Requeue after expire finds the entry gone and puts it back.
func TestRegressionRequeueAfterExpireKeepsItsEntry(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	d := NewDispatcher(q, newFake(), DispatchOptions{})
	defer d.Close()
	a := item("s", "")
	q.Enqueue(ctx, "acme", []Item{a})
	k := sessionKey{"acme", "s"}
	if !d.expire(k, a.Message.ID, "expired", time.Now().UTC()) {
		t.Fatal("expire reported the queue closed")
	}
	if ids, _ := q.headFrom(k, "", 10); len(ids) != 0 {
		t.Fatalf("expired message still has its entry: %v", ids)
	}
	if _, err := q.Requeue(ctx, "acme", a.Message.ID); err != nil {
		t.Fatal(err)
	}
	m, _ := q.Get(ctx, "acme", a.Message.ID)
	ids, _ := q.headFrom(k, "", 10)
	n, _ := q.Depth("acme", "s")
	if m.Status != StatusQueued || len(ids) != 1 || n != 1 {
		t.Errorf("after requeue: status=%s entries=%v depth=%d, want queued, 1 entry, depth 1", m.Status, ids, n)
	}
}

// A worker reads its queue from a cursor past what it sent. A message whose id sorts
// before the cursor — a request that took its id first but committed after later ones,
// or a message retried by hand — must still be sent: the commit moves the cursor back.
func TestEntryBehindCursorIsSent(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s", true)

	early := item("s", "") // its id is taken now...
	for range 3 {
		late := item("s", "")
		if _, err := q.Enqueue(ctx, "acme", []Item{late}); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, q, late.Message.ID, StatusSent)
	}
	// ...and committed only now, behind the worker's cursor.
	if _, err := q.Enqueue(ctx, "acme", []Item{early}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, q, early.Message.ID, StatusSent)

	// A failed message retried by hand goes back at its old place, behind the cursor.
	bad := item("s", "")
	f.mu.Lock()
	f.fail = func(id string, attempt int) error {
		if id == bad.Message.ID && attempt == 1 {
			return provider.ErrInvalidRecipient
		}
		return nil
	}
	f.mu.Unlock()
	if _, err := q.Enqueue(ctx, "acme", []Item{bad}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, q, bad.Message.ID, StatusFailed)
	for range 3 {
		later := item("s", "")
		if _, err := q.Enqueue(ctx, "acme", []Item{later}); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, q, later.Message.ID, StatusSent)
	}
	if _, err := q.Requeue(ctx, "acme", bad.Message.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, q, bad.Message.ID, StatusSent)
}
