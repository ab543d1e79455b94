package cloudapi

import (
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// TestInboundStores runs the same checks on both stores; the Badger one also survives
// a reopen and goes with its session's keys.
func TestInboundStores(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	stores := map[string]InboundStore{"memory": NewMemoryInboundStore(), "badger": StoreInbound{DB: db}}
	ctx := context.Background()
	t1, t2 := time.UnixMilli(1749416383123), time.UnixMilli(1749420000456)
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			if _, ok, err := s.LastInbound(ctx, "acme", "support", "16505551234@c.us"); ok || err != nil {
				t.Fatalf("empty store: ok %v, err %v", ok, err)
			}
			if err := s.RecordInbound(ctx, "acme", "support", map[string]time.Time{"16505551234@c.us": t2, "16505559999@c.us": t1}); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordInbound(ctx, "acme", "support", map[string]time.Time{"16505551234@c.us": t1}); err != nil {
				t.Fatal(err)
			}
			for chat, want := range map[string]time.Time{"16505551234@c.us": t2, "16505559999@c.us": t1} {
				got, ok, err := s.LastInbound(ctx, "acme", "support", chat)
				if !ok || err != nil || !got.Equal(want) {
					t.Errorf("%s: %v %v %v, want %v", chat, got, ok, err, want)
				}
			}
			for _, other := range [][2]string{{"acme", "sales"}, {"globex", "support"}} {
				if _, ok, _ := s.LastInbound(ctx, other[0], other[1], "16505551234@c.us"); ok {
					t.Errorf("%s/%s sees acme/support's record", other[0], other[1])
				}
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.RecordInbound(cctx, "acme", "support", map[string]time.Time{"x@c.us": t1}); err == nil {
				t.Error("RecordInbound with a canceled context succeeded")
			}
		})
	}
	db.Close()
	db, err = store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := StoreInbound{DB: db}
	if got, ok, _ := s.LastInbound(ctx, "acme", "support", "16505551234@c.us"); !ok || !got.Equal(t2) {
		t.Errorf("after reopen: %v %v", got, ok)
	}
	// The session manager deletes store.SessionPrefixes below a deleted session.
	for _, p := range store.SessionPrefixes {
		if err := db.DeletePrefix(store.ScanPrefix(p, "acme", "support")); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.LastInbound(ctx, "acme", "support", "16505551234@c.us"); ok {
		t.Error("record survived the deletion of its session's prefixes")
	}
	n := 0
	db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: store.ScanPrefix(store.PrefixCloudInbound, "acme")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if n != 0 {
		t.Errorf("%d cai/acme/ keys left", n)
	}
}
