package queue

import (
	"context"
	"errors"
	"fmt"
	"github.com/dgraph-io/badger/v4"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// fakeSender records what it sent; fail decides an error per call.
type fakeSender struct {
	mu   sync.Mutex
	sent map[string][]string // session -> message ids in send order
	fail func(id string, attempt int) error
	n    map[string]int
	got  chan string
}

func newFake() *fakeSender {
	return &fakeSender{sent: map[string][]string{}, n: map[string]int{}, got: make(chan string, 100000)}
}

func (f *fakeSender) Send(ctx context.Context, tenant, session string, msg provider.Outbound) (provider.SendResult, error) {
	f.mu.Lock()
	f.n[msg.ID]++
	attempt := f.n[msg.ID]
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(msg.ID, attempt); err != nil {
			return provider.SendResult{}, err
		}
	}
	f.mu.Lock()
	f.sent[session] = append(f.sent[session], msg.ID)
	f.mu.Unlock()
	f.got <- msg.ID
	return provider.SendResult{ProviderID: "P" + msg.ID}, nil
}

func openQ(t testing.TB, dir string, o Options) (*store.DB, *Queue) {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	q, err := Open(db, o)
	if err != nil {
		t.Fatal(err)
	}
	return db, q
}

func item(session, key string) Item {
	return Item{Message: Message{ID: ids.New(ids.Message), Session: session, ChatID: "15551234567@c.us", Type: provider.KindText, Text: "x"}, IdempotencyKey: key}
}

func waitStatus(t *testing.T, q *Queue, id string, want Status) Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := q.Get(context.Background(), "acme", id)
		if err == nil && m.Status == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s: %s (%s), want %s", id, m.Status, m.Reason, want)
		}
		time.Sleep(5 * time.Millisecond) // polling the store with a deadline
	}
}

func TestConcurrentEnqueueDispatchesEverythingOnceInOrder(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s0", true)
	d.SessionStatus("acme", "s1", true)

	const writers, each = 8, 100
	var mu sync.Mutex
	order := map[string][]string{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				mu.Lock()                            // the lock makes acceptance order observable per session
				it := item(fmt.Sprint("s", w%2), "") // ids are ULIDs: queue order is id order
				res, err := q.Enqueue(ctx, "acme", []Item{it})
				if err == nil {
					order[it.Message.Session] = append(order[it.Message.Session], res[0].ID)
				}
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for i := 0; i < writers*each; i++ {
		select {
		case <-f.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d sent", i, writers*each)
		}
	}
	for s, want := range order {
		got := f.sent[s]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("session %s: sent order differs from acceptance order (%d vs %d)", s, len(got), len(want))
		}
	}
	for id, n := range f.n {
		if n != 1 {
			t.Fatalf("%s sent %d times", id, n)
		}
	}
	if _, total := q.Depth("acme", "s0"); total != 0 {
		// the last dequeue may trail the last send by one commit
		deadline := time.Now().Add(5 * time.Second)
		for total != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			_, total = q.Depth("acme", "s0")
		}
		if total != 0 {
			t.Errorf("depth after all sent = %d", total)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	first, err := q.Enqueue(ctx, "acme", []Item{item("s", "k1")})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := q.Enqueue(ctx, "acme", []Item{item("s", "k1")})
	if !again[0].Replayed || again[0].ID != first[0].ID {
		t.Fatalf("sequential repeat: %+v, want replay of %s", again[0], first[0].ID)
	}
	// The same key in another tenant is another key.
	other, _ := q.Enqueue(ctx, "other", []Item{item("s", "k1")})
	if other[0].Replayed {
		t.Fatal("idempotency key shared across tenants")
	}
	// Concurrent: 20 requests with one key enqueue one message.
	var wg sync.WaitGroup
	results := make(chan Result, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := q.Enqueue(ctx, "acme", []Item{item("s", "k2")})
			if err != nil {
				t.Error(err)
				return
			}
			results <- r[0]
		}()
	}
	wg.Wait()
	close(results)
	fresh, id := 0, ""
	for r := range results {
		if !r.Replayed {
			fresh++
		}
		if id == "" {
			id = r.ID
		} else if r.ID != id {
			t.Fatalf("concurrent repeats answered different ids %s, %s", id, r.ID)
		}
	}
	if fresh != 1 {
		t.Fatalf("%d of 20 concurrent requests enqueued, want 1", fresh)
	}
	// Within one batch too.
	batch, _ := q.Enqueue(ctx, "acme", []Item{item("s", "k3"), item("s", "k3")})
	if batch[0].Replayed || !batch[1].Replayed || batch[1].ID != batch[0].ID {
		t.Fatalf("same key twice in one batch: %+v", batch)
	}
	if n, _ := q.Depth("acme", "s"); n != 3 {
		t.Errorf("depth = %d, want 3 (k1, k2, k3)", n)
	}
}

func TestRetryBackoffThenDeadLetter(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	retryable := &provider.SendError{Code: "flaky", Retryable: true, Err: errors.New("flaky")}
	f.fail = func(id string, attempt int) error {
		if attempt < 3 {
			return retryable
		}
		return nil
	}
	d := NewDispatcher(q, f, DispatchOptions{MaxAttempts: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	ok, _ := q.Enqueue(ctx, "acme", []Item{item("s", "")})
	m := waitStatus(t, q, ok[0].ID, StatusSent)
	if m.Attempts != 3 || m.ProviderID == "" {
		t.Errorf("after 2 failures: attempts %d, provider id %q", m.Attempts, m.ProviderID)
	}

	f.mu.Lock()
	f.fail = func(string, int) error { return retryable }
	f.mu.Unlock()
	dead, _ := q.Enqueue(ctx, "acme", []Item{item("s", "")})
	m = waitStatus(t, q, dead[0].ID, StatusFailed)
	if m.Attempts != 3 || m.Reason != "retries_exhausted: flaky" {
		t.Errorf("dead letter: attempts %d reason %q", m.Attempts, m.Reason)
	}

	f.mu.Lock()
	f.fail = func(string, int) error { return &provider.SendError{Code: "banned", Err: provider.ErrBanned} }
	f.mu.Unlock()
	perm, _ := q.Enqueue(ctx, "acme", []Item{item("s", "")})
	m = waitStatus(t, q, perm[0].ID, StatusFailed)
	if m.Attempts != 1 || m.Reason != "banned" {
		t.Errorf("permanent failure: attempts %d reason %q", m.Attempts, m.Reason)
	}
}

func TestFullQueueRefusesWithRetryAfter(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{MaxPerSession: 3, MaxTotal: 5})
	defer db.Close()
	defer q.Close()
	if _, err := q.Enqueue(ctx, "acme", []Item{item("a", ""), item("a", ""), item("a", "")}); err != nil {
		t.Fatal(err)
	}
	var fe *FullError
	if _, err := q.Enqueue(ctx, "acme", []Item{item("a", "")}); !errors.As(err, &fe) || fe.Scope != "session" || fe.RetryAfter <= 0 {
		t.Fatalf("4th for session a: %v", err)
	}
	q.Enqueue(ctx, "acme", []Item{item("b", ""), item("b", "")})
	if _, err := q.Enqueue(ctx, "acme", []Item{item("c", "")}); !errors.As(err, &fe) || fe.Scope != "gateway" {
		t.Fatalf("6th overall: %v", err)
	}
}

func TestInFlightAtCrashIsResentFlagged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, q := openQ(t, dir, Options{})
	res, _ := q.Enqueue(ctx, "acme", []Item{item("s", ""), item("s", ""), item("s", "")})
	// The third was marked sending in its record but not in its entry: the dispatcher
	// must still send it again, flagged, never drop it.
	if err := q.change("acme", res[2].ID, func(m *Message) (bool, error) { m.Status = StatusSending; return false, nil }); err != nil {
		t.Fatal(err)
	}
	// The gateway dies between "sending" and the provider's answer for the first one.
	if err := q.change("acme", res[0].ID, func(m *Message) (bool, error) { m.Status = StatusSending; m.Attempts = 1; return false, nil },
		func(txn *badger.Txn, m Message) error {
			return entries.Put(txn, entry{Sending: true}, "acme", "s", m.ID)
		}); err != nil {
		t.Fatal(err)
	}
	q.Close()
	db.Close()

	db, q = openQ(t, dir, Options{})
	defer db.Close()
	defer q.Close()
	if n, _ := q.Depth("acme", "s"); n != 3 {
		t.Fatalf("depth after reopen = %d, want 3", n)
	}
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	m := waitStatus(t, q, res[0].ID, StatusSent)
	if !m.PossibleDuplicate {
		t.Error("message in flight at the crash is not flagged possibleDuplicate")
	}
	m = waitStatus(t, q, res[1].ID, StatusSent)
	if m.PossibleDuplicate {
		t.Error("message queued at the crash is flagged")
	}
	if m = waitStatus(t, q, res[2].ID, StatusSent); !m.PossibleDuplicate {
		t.Error("message sending without its entry mark is not flagged")
	}
}

func TestExpiryRetryAndChatListing(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	failed := make(chan Message, 10)
	d := NewDispatcher(q, f, DispatchOptions{MaxWait: 50 * time.Millisecond, OnTransition: func(_ string, m Message) {
		if m.Status == StatusFailed {
			failed <- m
		}
	}})
	defer d.Close()
	// Session "s" never becomes WORKING: its message expires.
	res, _ := q.Enqueue(ctx, "acme", []Item{item("s", "")})
	select {
	case m := <-failed:
		if m.ID != res[0].ID || m.Reason != "expired" {
			t.Fatalf("failed %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting message never expired")
	}
	if n, _ := q.Depth("acme", "s"); n != 0 {
		t.Errorf("depth after expiry = %d", n)
	}
	// Retry it: back in the queue, sent once the session works.
	if _, err := q.Requeue(ctx, "acme", res[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Requeue(ctx, "acme", res[0].ID); !errors.Is(err, ErrNotFailed) {
		t.Errorf("second retry of a queued message: %v", err)
	}
	d.SessionStatus("acme", "s", true)
	m := waitStatus(t, q, res[0].ID, StatusSent)
	if m.Attempts != 1 {
		t.Errorf("attempts after retry = %d", m.Attempts)
	}

	// Chat listing: newest first, paged.
	var want []string
	for i := 0; i < 5; i++ {
		r, _ := q.Enqueue(ctx, "acme", []Item{item("s", "")})
		want = append([]string{r[0].ID}, want...)
	}
	want = append(want, res[0].ID)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := q.ChatMessages(ctx, "acme", "s", "15551234567@c.us", cursor, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Messages {
			got = append(got, m.ID)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listing %v, want %v", got, want)
	}
	if p, _ := q.ChatMessages(ctx, "other", "s", "15551234567@c.us", "", 10); len(p.Messages) != 0 {
		t.Error("another tenant lists acme's chat")
	}
}

// TestBatchesTooBigForOneTransactionLoseNothing: thousands of concurrent enqueues of
// large messages with idempotency keys overflow Badger's transaction size; every
// message must be stored and none answered "replayed" (a partial write of an item that
// did not fit must never be committed).
func TestBatchesTooBigForOneTransactionLoseNothing(t *testing.T) {
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	big := strings.Repeat("x", 600)
	var wg sync.WaitGroup
	for i := range 6000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := Message{ID: ids.New(ids.Message), Session: "s", ChatID: "15551234567@c.us", Type: provider.KindText, Text: big}
			res, err := q.Enqueue(context.Background(), "t", []Item{{Message: m, IdempotencyKey: fmt.Sprint("k", i)}})
			if err != nil {
				t.Errorf("%d: %v", i, err)
				return
			}
			if _, gerr := q.Get(context.Background(), "t", m.ID); res[0].Replayed || gerr != nil {
				t.Errorf("%d: replayed=%v, stored: %v", i, res[0].Replayed, gerr)
			}
		}()
	}
	wg.Wait()
}

// TestIdempotencyFingerprint: a key stored with a fingerprint replays only a request
// with the same fingerprint; another one gets Mismatch and enqueues nothing. An item or
// a stored record without a fingerprint (records older than fingerprints) matches any.
func TestIdempotencyFingerprint(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	with := func(key, fp string) Item { it := item("s", key); it.Fingerprint = fp; return it }
	first, err := q.Enqueue(ctx, "acme", []Item{with("k", "aaa"), with("old", "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name           string
		it             Item
		replay, differ bool
	}{
		{"same fingerprint", with("k", "aaa"), true, false},
		{"other fingerprint", with("k", "bbb"), true, true},
		{"no fingerprint", with("k", ""), true, false},
		{"old record", with("old", "ccc"), true, false},
	} {
		res, err := q.Enqueue(ctx, "acme", []Item{tc.it})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res[0].Replayed != tc.replay || res[0].Mismatch != tc.differ {
			t.Errorf("%s: %+v, want replayed %v mismatch %v", tc.name, res[0], tc.replay, tc.differ)
		}
		if tc.it.IdempotencyKey == "k" && res[0].ID != first[0].ID {
			t.Errorf("%s: id %s, want the first message's %s", tc.name, res[0].ID, first[0].ID)
		}
		if _, err := q.Get(ctx, "acme", tc.it.Message.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: the repeat's message was stored (%v)", tc.name, err)
		}
	}
}
