package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// gatedSender sends one message per token from gate, recording the order.
type gatedSender struct {
	gate chan struct{}
	mu   sync.Mutex
	sent []string
	got  chan string
}

func (g *gatedSender) Send(ctx context.Context, tenant, session string, msg provider.Outbound) (provider.SendResult, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return provider.SendResult{}, ctx.Err()
	}
	g.mu.Lock()
	g.sent = append(g.sent, msg.ID)
	g.mu.Unlock()
	g.got <- msg.ID
	return provider.SendResult{ProviderID: "P" + msg.ID}, nil
}

// An interactive send queued behind a backlog of campaign messages (NewLow ids) is the
// next one sent once the message in flight is done, not after the backlog.
func TestInteractiveOvertakesCampaign(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	g := &gatedSender{gate: make(chan struct{}), got: make(chan string, 1000)}
	d := NewDispatcher(q, g, DispatchOptions{})
	defer d.Close()

	var low []Item
	for range 200 {
		it := item("s0", "")
		it.Message.ID, it.Message.Campaign = ids.NewLow(ids.Message), "cmp_1"
		low = append(low, it)
	}
	if _, err := q.Enqueue(ctx, "acme", low); err != nil {
		t.Fatal(err)
	}
	d.SessionStatus("acme", "s0", true)
	g.gate <- struct{}{} // the first campaign message goes
	<-g.got
	// The worker now holds a batch of campaign ids; an interactive send arrives.
	urgent := item("s0", "")
	if _, err := q.Enqueue(ctx, "acme", []Item{urgent}); err != nil {
		t.Fatal(err)
	}
	// The worker may already be waiting in the next campaign send: at most that one
	// goes before the interactive message.
	var order []string
	for len(order) < 3 {
		select {
		case g.gate <- struct{}{}:
		case id := <-g.got:
			order = append(order, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("sent only %v", order)
		}
	}
	if order[0] != urgent.Message.ID && order[1] != urgent.Message.ID {
		t.Fatalf("the interactive message was not among the next two sent: %v (want %s)", order, urgent.Message.ID)
	}
}

// trackRecorder is a Tracker writing one key per change into the queue's transaction.
type trackRecorder struct {
	mu      sync.Mutex
	changes []string
}

func (r *trackRecorder) Track(txn *badger.Txn, tenant string, before Status, m Message) error {
	r.mu.Lock()
	r.changes = append(r.changes, string(before)+">"+string(m.Status))
	r.mu.Unlock()
	return txn.Set(store.Key(store.PrefixSystem, "track", m.ID, string(m.Status)), nil)
}

// The tracker sees every status change of a campaign message, inside the same
// transaction, and nothing of other messages.
func TestTrackerSeesCampaignChanges(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	rec := &trackRecorder{}
	q.SetTracker(rec)
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s0", true)

	plain := item("s0", "")
	camp := item("s0", "")
	camp.Message.ID, camp.Message.Campaign = ids.NewLow(ids.Message), "cmp_1"
	if _, err := q.Enqueue(ctx, "acme", []Item{plain, camp}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, q, camp.Message.ID, StatusSent)
	d.Ack("acme", camp.Message.ID, provider.AckDelivered, "")
	waitStatus(t, q, camp.Message.ID, StatusDelivered)
	rec.mu.Lock()
	got := append([]string(nil), rec.changes...)
	rec.mu.Unlock()
	want := []string{"queued>sending", "sending>sent", "sent>delivered"}
	if len(got) != len(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("changes %v, want %v", got, want)
		}
	}
	err := db.Badger().View(func(txn *badger.Txn) error {
		_, err := txn.Get(store.Key(store.PrefixSystem, "track", camp.Message.ID, "delivered"))
		return err
	})
	if err != nil {
		t.Fatalf("the tracker's write did not commit: %v", err)
	}
}
