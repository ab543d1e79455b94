package tenant

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Once a key or tenant is cached, every change made through the service must be seen by
// the very next call: a revoked key, a deleted tenant never authenticate again.
func TestCacheNeverOutlivesRevokeOrDelete(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{})
	_, k1, err := s.Create(ctx, CreateInput{ID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := s.CreateKey(ctx, "acme", "second")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{k1.Key, k2.Key} { // warm the cache
		if _, err := s.Authenticate(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(ctx, "acme", k1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, k1.Key); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked cached key: %v, want ErrUnauthenticated", err)
	}
	if _, err := s.Authenticate(ctx, k2.Key); err != nil {
		t.Fatalf("the other key must still work: %v", err)
	}
	if err := s.BeginDelete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, k2.Key); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("key of a tenant being deleted: %v, want ErrUnauthenticated", err)
	}
	if tn, err := s.Get(ctx, "acme"); err != nil || !tn.Deleting {
		t.Fatalf("tenant after BeginDelete: %+v %v, want Deleting", tn, err)
	}
	if err := s.FinishDelete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted tenant: %v, want ErrNotFound", err)
	}
}

// Readers racing a revoke: once RevokeKey has returned, no Authenticate that starts
// afterwards may succeed, whatever the interleaving of the readers' cache fills.
func TestCacheRevokeRacingReaders(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{})
	if _, _, err := s.Create(ctx, CreateInput{ID: "race"}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 50; round++ {
		k, err := s.CreateKey(ctx, "race", "k")
		if err != nil {
			t.Fatal(err)
		}
		var revoked atomic.Bool
		var stale atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := revoked.Load()
					if _, err := s.Authenticate(ctx, k.Key); err == nil && after {
						stale.Add(1)
					}
				}
			}()
		}
		if err := s.RevokeKey(ctx, "race", k.ID); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		for i := 0; i < 100; i++ {
			if _, err := s.Authenticate(ctx, k.Key); err == nil {
				stale.Add(1)
			}
		}
		close(stop)
		wg.Wait()
		if n := stale.Load(); n > 0 {
			t.Fatalf("round %d: %d authentications succeeded after RevokeKey returned", round, n)
		}
	}
}
