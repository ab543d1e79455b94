package statesync

// The cost of a shared write against a local one:
//
//	go test -run '^$' -bench BenchmarkWrite -benchmem ./core/cluster/statesync
//
// Each sub-benchmark is one node (a fresh Badger, sync_writes off, so the figure is the
// sharing's, not the disk's) writing through store.DB.Update:
//
//	local           no State: the single-node path, one tenant record
//	r1/nonshared    State started, a message record (not shared): the hook's pass only
//	r1/one          one tenant record: one publish with a revision expectation
//	r1/two, three   two, three new shared keys in one transaction: one atomic batch
//	r1/fenced       a claimed session's record, rewritten: a batch with the fence record
//	r3/...          the same on a 3-server JetStream cluster on loopback, R3
//
// All servers run in the benchmark's process, on the same cores as the store.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/store"
)

func benchNode(b *testing.B, url string, replicas int) *node {
	return startNode(b, url, b.TempDir(), Options{Replicas: replicas})
}

func BenchmarkWrite(b *testing.B) {
	val := make([]byte, 200)
	write := func(b *testing.B, db *store.DB, keys ...string) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			err := db.Update(func(txn *badger.Txn) error {
				for _, k := range keys {
					key := []byte(k)
					if strings.Contains(k, "%") {
						key = fmt.Appendf(nil, k, i)
					}
					if err := txn.Set(key, val); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("local", func(b *testing.B) {
		db, err := store.Open(store.Options{Dir: b.TempDir()})
		must(b, err)
		defer db.Close()
		write(b, db, "ten/t%d")
	})
	for _, setup := range []struct {
		name     string
		replicas int
		url      func(b *testing.B) string
	}{
		{"r1", 1, func(b *testing.B) string { return startJS(b) }},
		{"r3", 3, func(b *testing.B) string {
			lc, err := cluster.StartLocalCluster(context.Background(), b.TempDir(), 3)
			must(b, err)
			b.Cleanup(lc.Shutdown)
			return lc.URL(0)
		}},
	} {
		b.Run(setup.name, func(b *testing.B) {
			url := setup.url(b)
			b.Run("nonshared", func(b *testing.B) {
				write(b, benchNode(b, url, setup.replicas).db, "msg/acme/%012d")
			})
			b.Run("one", func(b *testing.B) {
				write(b, benchNode(b, url, setup.replicas).db, "ten/t%d")
			})
			b.Run("two", func(b *testing.B) {
				write(b, benchNode(b, url, setup.replicas).db, "ten/t%d", "key/t%d/k")
			})
			b.Run("three", func(b *testing.B) {
				write(b, benchNode(b, url, setup.replicas).db, "ten/t%d", "key/t%d/k", "plb/t%d")
			})
			b.Run("fenced", func(b *testing.B) {
				n := benchNode(b, url, setup.replicas)
				must(b, n.st.Claim(context.Background(), cluster.Fence{Key: "acme.main", Token: 1}))
				write(b, n.db, "ses/acme/main")
			})
		})
	}
}

// BenchmarkWatchLag: how long after A's Update returns B's mirror holds the write
// (B's Options.Applied is called): the staleness another node sees.
//
//	go test -run '^$' -bench BenchmarkWatchLag ./core/cluster/statesync
func BenchmarkWatchLag(b *testing.B) {
	for _, setup := range []struct {
		name     string
		replicas int
		urls     func(b *testing.B) (string, string)
	}{
		{"r1", 1, func(b *testing.B) (string, string) { u := startJS(b); return u, u }},
		{"r3", 3, func(b *testing.B) (string, string) {
			lc, err := cluster.StartLocalCluster(context.Background(), b.TempDir(), 3)
			must(b, err)
			b.Cleanup(lc.Shutdown)
			return lc.URL(0), lc.URL(1)
		}},
	} {
		b.Run(setup.name, func(b *testing.B) {
			ua, ub := setup.urls(b)
			seen := make(chan string, 16)
			a := startNode(b, ua, b.TempDir(), Options{Replicas: setup.replicas})
			startNode(b, ub, b.TempDir(), Options{Replicas: setup.replicas, Applied: func(keys [][]byte) {
				for _, k := range keys {
					seen <- string(k)
				}
			}})
			var lag time.Duration
			b.ResetTimer()
			for i := range b.N {
				k := fmt.Sprintf("ten/t%d", i)
				must(b, a.put(k, "v"))
				t0 := time.Now()
				for got := <-seen; got != k; got = <-seen {
				}
				lag += time.Since(t0)
			}
			b.ReportMetric(float64(lag.Microseconds())/float64(b.N), "lag-µs/op")
		})
	}
}

// BenchmarkHydrate: a node starting on a bucket of 10,000 shared keys (200-byte values)
// into an empty Badger: what /ready waits for.
//
//	go test -run '^$' -bench BenchmarkHydrate -benchtime=5x ./core/cluster/statesync
func BenchmarkHydrate(b *testing.B) {
	url := startJS(b)
	a := benchNode(b, url, 1)
	val := make([]byte, 200)
	for i := 0; i < 10000; i += 1000 {
		must(b, a.db.Update(func(txn *badger.Txn) error {
			for j := i; j < i+1000; j++ {
				if err := txn.Set(fmt.Appendf(nil, "key/t%d/k%d", j%100, j), val); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		n := startNode(b, url, dir, Options{})
		b.StopTimer()
		n.stop()
		b.StartTimer()
	}
}
