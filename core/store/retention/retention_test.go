package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wagate/wagate/core/store"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestFailingSweepIsRetriedAndOthersRun: a kind whose sweep fails (the injected fault)
// does not stop the others, is counted and logged, and succeeds in the next round; the
// clock handed to sweeps is the Runner's.
func TestFailingSweepIsRetriedAndOthersRun(t *testing.T) {
	db := openDB(t)
	reg := prometheus.NewRegistry()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	fail := true
	var seen []time.Time
	r := New(db, Options{Registerer: reg, Now: func() time.Time { return now }},
		Kind{Name: "flaky", Sweep: func(ctx context.Context, at time.Time) (int, error) {
			seen = append(seen, at)
			if fail {
				return 2, errors.New("disk hiccup") // deleted two before failing
			}
			return 5, nil
		}},
		Kind{Name: "steady", Sweep: func(ctx context.Context, at time.Time) (int, error) { return 1, nil }},
	)
	round := r.Sweep(context.Background())
	if round.Errors["flaky"] == nil || round.Errors["steady"] != nil || round.Deleted["steady"] != 1 || round.Deleted["flaky"] != 2 {
		t.Fatalf("round 1 = %+v; want flaky failed after 2, steady deleted 1", round)
	}
	if got := testutil.ToFloat64(r.m.errors.WithLabelValues("flaky")); got != 1 {
		t.Errorf("errors_total{flaky} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.m.lastSuccess.WithLabelValues("flaky")); got != 0 {
		t.Errorf("last_success{flaky} = %v after a failure, want unset", got)
	}

	fail = false // the fault clears
	round = r.Sweep(context.Background())
	if len(round.Errors) != 0 || round.Deleted["flaky"] != 5 {
		t.Fatalf("round 2 = %+v; want flaky recovered with 5", round)
	}
	if got := testutil.ToFloat64(r.m.deleted.WithLabelValues("flaky")); got != 7 {
		t.Errorf("deleted_total{flaky} = %v, want 7", got)
	}
	if got := testutil.ToFloat64(r.m.lastSuccess.WithLabelValues("flaky")); got == 0 {
		t.Error("last_success{flaky} unset after a successful sweep")
	}
	for _, at := range seen {
		if !at.Equal(now) {
			t.Errorf("sweep got time %v, want the Runner's clock %v", at, now)
		}
	}
	if st := db.GCStats(); st.Runs != 2 {
		t.Errorf("value-log GC ran %d times, want once after each round that deleted something", st.Runs)
	}
	if n, err := testutil.GatherAndCount(reg, "wagate_store_gc_runs_total", "wagate_retention_deleted_total"); err != nil || n != 3 {
		t.Errorf("gathered %d series (%v), want gc_runs and deleted for two kinds", n, err)
	}
}

// TestStartSweepsAtOnceAndOnTrigger: the background loop runs a round at start and
// another when triggered (the disk guard's call), and Close stops it.
func TestStartSweepsAtOnceAndOnTrigger(t *testing.T) {
	db := openDB(t)
	rounds := make(chan struct{}, 10)
	r := New(db, Options{Interval: time.Hour},
		Kind{Name: "k", Sweep: func(ctx context.Context, _ time.Time) (int, error) {
			rounds <- struct{}{}
			return 0, nil
		}})
	r.Start()
	<-rounds // at start
	r.Trigger()
	<-rounds // triggered, long before the hour
	r.Close()
	r.Close() // idempotent
}

// TestCloseCutsARoundShort: Close cancels the context of a sweep in progress.
func TestCloseCutsARoundShort(t *testing.T) {
	db := openDB(t)
	started := make(chan struct{})
	var once sync.Once
	r := New(db, Options{Interval: time.Hour},
		Kind{Name: "slow", Sweep: func(ctx context.Context, _ time.Time) (int, error) {
			once.Do(func() { close(started) })
			<-ctx.Done()
			return 0, ctx.Err()
		}})
	r.Start()
	<-started
	r.Close() // returns only because the sweep saw its context end
	if got := testutil.ToFloat64(r.m.errors.WithLabelValues("slow")); got != 0 {
		t.Errorf("a sweep cut short by Close counted as an error: %v", got)
	}
}

// TestUsageMetrics: the measurement is exported per kind and per tenant, and a
// tenant whose data is gone leaves the metrics at the next measurement.
func TestUsageMetrics(t *testing.T) {
	db := openDB(t)
	reg := prometheus.NewRegistry()
	r := New(db, Options{Registerer: reg})
	if n, _ := testutil.GatherAndCount(reg, "wagate_storage_bytes"); n != 0 {
		t.Errorf("usage series before any measurement: %d", n)
	}
	err := db.Update(func(txn *badger.Txn) error {
		for i := range 20 {
			if err := txn.Set(store.Key(store.PrefixMessage, "acme", fmt.Sprint(i)), []byte(strings.Repeat("x", 100))); err != nil {
				return err
			}
		}
		return txn.Set(store.Key(store.PrefixMessage, "beta", "1"), []byte("x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.MeasureUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP wagate_storage_keys Live keys in the store by kind (key prefix), from the last measurement.
# TYPE wagate_storage_keys gauge
wagate_storage_keys{kind="msg"} 21
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wagate_storage_keys"); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(reg, "wagate_storage_tenant_bytes"); n != 2 {
		t.Errorf("tenant series = %d, want acme and beta", n)
	}
	u, at := r.Usage()
	if at.IsZero() || u.Tenants["acme"].Bytes < 2000 {
		t.Errorf("Usage() = %+v at %v", u.Tenants, at)
	}
	if err := db.DeleteTenant("beta"); err != nil {
		t.Fatal(err)
	}
	r.MeasureUsage(context.Background())
	if n, _ := testutil.GatherAndCount(reg, "wagate_storage_tenant_bytes"); n != 1 {
		t.Errorf("tenant series after deleting beta = %d, want 1", n)
	}
}
