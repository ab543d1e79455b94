package wastore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/wamsync"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

// TestConformanceJetStream runs conformance seeds with the session replicated to
// JetStream through wamsync (an embedded nats-server): the results equal sqlstore's
// operation by operation, and a fresh Badger hydrated from the bucket holds exactly
// the keys and values of the original.
func TestConformanceJetStream(t *testing.T) {
	srv, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Name: "wam", Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wam, err := wamsync.Open(ctx, js, wamsync.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ops := 1000
	if testing.Short() {
		ops = 200
	}
	for seed := uint64(201); seed <= 202; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			// Each seed its own tenant, so the seeds share the bucket without meeting.
			tenant := fmt.Sprint("t", seed)
			var token uint64 = 1
			db, _, session := wastore.RunConformanceReplicated(t, seed, ops, tenant, func(db *store.DB, tenant, session string) wastore.Replicator {
				k, err := cluster.SessionKey(tenant, session)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := wam.Claim(ctx, cluster.Fence{Key: k, Token: token})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := rep.Hydrate(ctx, db); err != nil {
					t.Fatal(err)
				}
				return rep
			})
			fresh, err := store.Open(store.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			k, _ := cluster.SessionKey(tenant, session)
			rep, err := wam.Claim(ctx, cluster.Fence{Key: k, Token: token + 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rep.Hydrate(ctx, fresh); err != nil {
				t.Fatal(err)
			}
			want := wastore.DumpSession(t, db, tenant, session)
			if d := wastore.DiffDumps(want, wastore.DumpSession(t, fresh, tenant, session)); d != "" {
				t.Fatalf("hydrated copy differs from the original (%d keys):\n%s", len(want), d)
			}
			t.Logf("%d keys equal", len(want))
		})
	}
}

// TestConformanceSessionMoves runs a conformance seed on a session that moves between
// two nodes (two Badger DBs) every 150 operations, the way cluster mode moves it: the
// old owner's replica closed, the new owner claims with a larger token, hydrates its
// local copy (on the way back, one that is stale) and goes on. The results still equal
// sqlstore's, which only reloads its devices at each move; at the end the last node's
// copy equals the bucket's.
func TestConformanceSessionMoves(t *testing.T) {
	srv, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Name: "wam", Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	wam, err := wamsync.Open(ctx, js, wamsync.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const tenant = "moving"
	var (
		key   cluster.Key
		token uint64
		cur   *wamsync.Replica
		homes = map[*store.DB]bool{}
		moves int
	)
	own := func(db *store.DB) {
		token++
		rep, err := wam.Claim(ctx, cluster.Fence{Key: key, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rep.Hydrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		tn, sn := key.Split()
		if err := wastore.SetReplicator(db, tn, sn, rep); err != nil {
			t.Fatal(err)
		}
		cur = rep
	}
	ops := 1200
	if testing.Short() {
		ops = 300
	}
	last, session := wastore.RunConformanceMoving(t, 301, ops, tenant, 150, func(db *store.DB, tenant, session string) {
		key, _ = cluster.SessionKey(tenant, session)
		homes[db] = true
		homes[other] = false
		own(db)
	}, func(from *store.DB) *store.DB {
		cur.Close()
		tn, sn := key.Split()
		if err := wastore.SetReplicator(from, tn, sn, nil); err != nil {
			t.Fatal(err)
		}
		var to *store.DB
		for db := range homes {
			if db != from {
				to = db
			}
		}
		own(to)
		moves++
		return to
	})
	if moves < 2 {
		t.Fatalf("the session moved %d times", moves)
	}
	fresh, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	rep, err := wam.Claim(ctx, cluster.Fence{Key: key, Token: token + 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Hydrate(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	want := wastore.DumpSession(t, last, tenant, session)
	if d := wastore.DiffDumps(want, wastore.DumpSession(t, fresh, tenant, session)); d != "" {
		t.Fatalf("the bucket's copy differs from the last owner's (%d keys):\n%s", len(want), d)
	}
	t.Logf("%d moves, %d keys equal", moves, len(want))
}
