package sandbox

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

// TestEventQueueHandOff checks that events keep their order when a re-entrant sink keeps
// the queue busy past the inline bound and delivery moves to a goroutine.
func TestEventQueueHandOff(t *testing.T) {
	const total = 10 * maxInlineRounds
	live := newTracker()
	var got []int
	q := &eventQueue{live: live}
	q.sink = func(ev provider.Event) {
		n := int(ev.(provider.AckEvent).Ack[0])
		got = append(got, n)
		if n+1 < total {
			q.push(provider.AckEvent{Ack: provider.Ack([]byte{byte(n + 1)})})
			q.drain() // returns at once: a delivery is running
		}
	}
	q.push(provider.AckEvent{Ack: provider.Ack([]byte{0})})
	q.drain()
	live.wait()
	if len(got) != total {
		t.Fatalf("%d events delivered, want %d", len(got), total)
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("event %d delivered at position %d", n, i)
		}
	}
}

var errStore = errors.New("store down")

// flakyStore is a MemoryLinkStore that fails every call while fail is set.
type flakyStore struct {
	*MemoryLinkStore
	fail atomic.Bool
}

func (s *flakyStore) LoadLink(ctx context.Context, tenant, session string) (string, bool, error) {
	if s.fail.Load() {
		return "", false, errStore
	}
	return s.MemoryLinkStore.LoadLink(ctx, tenant, session)
}

func (s *flakyStore) SaveLink(ctx context.Context, tenant, session, phone string) error {
	if s.fail.Load() {
		return errStore
	}
	return s.MemoryLinkStore.SaveLink(ctx, tenant, session, phone)
}

func (s *flakyStore) DeleteLink(ctx context.Context, tenant, session string) error {
	if s.fail.Load() {
		return errStore
	}
	return s.MemoryLinkStore.DeleteLink(ctx, tenant, session)
}

func TestLinkStoreErrors(t *testing.T) {
	store := &flakyStore{MemoryLinkStore: NewMemoryLinkStore()}
	f := newFixture(t, testConfig())
	f.net = NewNetwork(testConfig(), store, WithClock(f.clock))
	t.Cleanup(f.net.Close)
	f.links = store.MemoryLinkStore
	p, rec := f.linked("t1", "s1", "15550001111")
	store.fail.Store(true)

	if err := p.Logout(context.Background()); !errors.Is(err, errStore) {
		t.Fatalf("Logout: %v, want the store's error", err)
	}
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{LoggedOut: true}); !errors.Is(err, errStore) {
		t.Fatalf("SetFaults(logged_out): %v, want the store's error", err)
	}
	if got, _ := f.net.Faults("t1", "s1"); got.LoggedOut {
		t.Fatal("logged_out stayed set after the store failed")
	}
	rec.none() // still working, nothing reported
	if _, err := p.Send(context.Background(), text("15557654321", "x")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	rec.status(provider.StatusStopped, "")
	if err := p.Start(context.Background()); !errors.Is(err, errStore) {
		t.Fatalf("Start: %v, want the store's error", err)
	}
	rec.none()

	store.fail.Store(false)
	p2, rec2 := f.session("t1", "s2")
	if err := p2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec2.status(provider.StatusPairing, "")
	rec2.qr()
	store.fail.Store(true)
	if _, err := f.net.Link("t1", "s2", "15550002222"); !errors.Is(err, errStore) {
		t.Fatalf("Link: %v, want the store's error", err)
	}
	rec2.none()
	// The number was not taken.
	store.fail.Store(false)
	if _, err := f.net.Link("t1", "s2", "15550002222"); err != nil {
		t.Fatalf("Link after the store recovered: %v", err)
	}
	rec2.status(provider.StatusWorking, "")
}
