package webhook

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/store"
)

// putDirect writes an endpoint record straight into Badger, as the cluster's mirror
// applies another node's write: the Service is not told.
func putDirect(t *testing.T, db *store.DB, ep Endpoint) {
	t.Helper()
	if err := db.Update(func(txn *badger.Txn) error { return endpoints.Put(txn, ep, "acme", ep.ID) }); err != nil {
		t.Fatal(err)
	}
}

// waitEndpoint polls until ok(the endpoint in memory, its error) holds.
func waitEndpoint(t *testing.T, s *Service, id string, what string, ok func(Endpoint, error) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ep, err := s.Get("acme", id)
		if ok(ep, err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint %s after Forget: %+v, %v; want %s", id, ep, err, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestForgetReloadsEndpoints: endpoints created, changed and deleted directly in the
// store are not seen by the Service until Forget is told of their keys; then the
// created one delivers, the disabled one stops, the deleted one is gone with this
// node's outbox of it; keys of other families are ignored.
func TestForgetReloadsEndpoints(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := openService(t, db, testOptions(), nil)
	rcv := newReceiver(t)
	failing := newReceiver(t) // the other node's endpoint: it fails, so deliveries stay pending
	failing.answer = func(int, event.Envelope) (int, http.Header) { return 503, nil }
	ctx := context.Background()

	// Created elsewhere.
	now := time.Now().UTC()
	other := Endpoint{ID: "whk_elsewhere", URL: failing.srv.URL, Events: []string{"*"}, Enabled: true,
		Secret: NewSecret(), CreatedAt: now, UpdatedAt: now}
	putDirect(t, db, other)
	if _, err := s.Get("acme", other.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before Forget the Service knows the endpoint: %v", err)
	}
	s.Forget([][]byte{store.Key(store.PrefixSession, "acme", "main"), store.Key(store.PrefixWebhookEndpoint, "acme", other.ID)})
	waitEndpoint(t, s, other.ID, "the stored endpoint", func(ep Endpoint, err error) bool { return err == nil && ep.URL == failing.srv.URL })
	s.Tap(msg("main", "hello"))
	failing.waitFor(1)

	// Changed elsewhere: disabled, with another description.
	local, err := s.Create(ctx, "acme", Input{URL: rcv.srv.URL + "/local", Events: []string{"*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	changed := local
	changed.Enabled, changed.Description = false, "disabled on node B"
	putDirect(t, db, changed)
	if ep, _ := s.Get("acme", local.ID); !ep.Enabled {
		t.Fatal("before Forget the change is already seen")
	}
	s.Forget([][]byte{store.Key(store.PrefixWebhookEndpoint, "acme", local.ID)})
	waitEndpoint(t, s, local.ID, "disabled", func(ep Endpoint, err error) bool {
		return err == nil && !ep.Enabled && ep.Description == changed.Description
	})
	s.mu.RLock()
	worker := s.tenants["acme"][local.ID].w
	s.mu.RUnlock()
	if worker != nil {
		t.Error("the disabled endpoint still has a worker")
	}

	// Deleted elsewhere: the event pending for it here (its receiver answers 503) goes
	// with it.
	waitDelivery(t, s, other.ID, StatusPending, 1)
	if err := db.Update(func(txn *badger.Txn) error { return endpoints.Delete(txn, "acme", other.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("acme", other.ID); err != nil {
		t.Fatalf("before Forget the delete is already seen: %v", err)
	}
	s.Forget([][]byte{store.Key(store.PrefixWebhookEndpoint, "acme", other.ID)})
	waitEndpoint(t, s, other.ID, "not found", func(_ Endpoint, err error) bool { return errors.Is(err, ErrNotFound) })
	for _, p := range []store.Prefix{store.PrefixWebhookPending, store.PrefixWebhookDelivery} {
		prefix := store.ScanPrefix(p, "acme", other.ID)
		deadline := time.Now().Add(5 * time.Second)
		for n := countPrefix(t, db, prefix); n > 0; n = countPrefix(t, db, prefix) {
			if time.Now().After(deadline) {
				t.Fatalf("%d keys stay under %s after the endpoint's delete", n, prefix)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if n := len(s.List("acme")); n != 1 {
		t.Fatalf("%d endpoints listed, want 1", n)
	}

	// After Close, Forget does nothing (and does not hang).
	s.Close()
	s.Forget([][]byte{store.Key(store.PrefixWebhookEndpoint, "acme", local.ID)})
}

func countPrefix(t *testing.T, db *store.DB, prefix []byte) int {
	t.Helper()
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestForgetUnderTheServicesLock: statesync may call Applied from inside a write this
// Service makes while it holds its lock; Forget must return without that lock, and the
// reload happens once the write is done.
func TestForgetUnderTheServicesLock(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	s := openService(t, db, testOptions(), nil)
	now := time.Now().UTC()
	ep := Endpoint{ID: "whk_elsewhere", URL: "http://127.0.0.1:9/", Events: []string{"*"}, Secret: NewSecret(), CreatedAt: now, UpdatedAt: now}
	putDirect(t, db, ep)
	s.mu.Lock()
	returned := make(chan struct{})
	go func() {
		s.Forget([][]byte{store.Key(store.PrefixWebhookEndpoint, "acme", ep.ID)})
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Forget waits for the Service's lock")
	}
	s.mu.Unlock()
	waitEndpoint(t, s, ep.ID, "the stored endpoint", func(_ Endpoint, err error) bool { return err == nil })
}
