package tenant

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// storedUsage reads one usage key; -1 when absent.
func storedUsage(t *testing.T, db *store.DB, parts ...string) int {
	t.Helper()
	n := -1
	err := db.View(func(txn *badger.Txn) error {
		v, err := usage.Get(txn, parts...)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		n = v
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// usageKeys lists the usage keys of the store.
func usageKeys(t *testing.T, db *store.DB) []string {
	t.Helper()
	var out []string
	err := db.View(func(txn *badger.Txn) error {
		return usage.Scan(txn, func(rest []string, _ int) error {
			out = append(out, string(store.Key(store.PrefixUsage, rest...)))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitStored polls until the usage key holds want.
func waitStored(t *testing.T, db *store.DB, want int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for storedUsage(t, db, parts...) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%v holds %d, want %d", parts, storedUsage(t, db, parts...), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A single node keeps the layout use/<tenant>/<day>, written in the caller's
// transaction; a cluster node writes use/<tenant>/<day>/<node> only, not in the
// caller's transaction but within UsageFlush.
func TestUsageKeyLayout(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	plan := Plan{MaxSessions: 2, MaxMessagesPerDay: 100}

	single, db1 := newSvc(t, Options{DefaultPlan: plan, Now: clock})
	_, _, err := single.Create(ctx, CreateInput{ID: "acme"})
	must(t, err)
	must(t, reserve(single, "acme", 3))
	if got := usageKeys(t, db1); len(got) != 1 || got[0] != "use/acme/2026-12-07" {
		t.Fatalf("single node's usage keys %q, want [use/acme/2026-12-07]", got)
	}
	if n := storedUsage(t, db1, "acme", "2026-12-07"); n != 3 {
		t.Fatalf("single node stored %d, want 3", n)
	}

	node, db2 := newSvc(t, Options{DefaultPlan: plan, Now: clock, NodeID: "gw-1", UsageFlush: 50 * time.Millisecond})
	t.Cleanup(func() { node.Close() })
	_, _, err = node.Create(ctx, CreateInput{ID: "acme"})
	must(t, err)
	for range 5 {
		must(t, reserve(node, "acme", 1))
	}
	if got := usageKeys(t, db2); len(got) != 0 {
		t.Fatalf("cluster node wrote %q in the callers' transactions", got)
	}
	waitStored(t, db2, 5, "acme", "2026-12-07", "gw-1")
	if got := usageKeys(t, db2); len(got) != 1 || got[0] != "use/acme/2026-12-07/gw-1" {
		t.Fatalf("cluster node's usage keys %q, want [use/acme/2026-12-07/gw-1]", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Two nodes' services over one store stand for two mirrors that replicate at once. A's
// counts are seen by B once written and once B is told (Forget), not before: the limit
// then holds on the sum; the single-node counter of the day counts too.
func TestUsageSumsNodes(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	plan := Plan{MaxSessions: 2, MaxMessagesPerDay: 10}
	a := NewService(db, Options{DefaultPlan: plan, Now: clock, NodeID: "a", UsageFlush: time.Hour})
	b := NewService(db, Options{DefaultPlan: plan, Now: clock, NodeID: "b", UsageFlush: time.Hour})
	_, _, err = a.Create(ctx, CreateInput{ID: "acme"})
	must(t, err)
	// Before cluster mode, the single node counted 2 today.
	must(t, db.Update(func(txn *badger.Txn) error { return usage.Put(txn, 2, "acme", "2026-12-07") }))

	must(t, reserve(b, "acme", 1)) // B has now read the others' sum: 2
	must(t, reserve(a, "acme", 5))
	must(t, a.FlushUsage())
	key := store.Key(store.PrefixUsage, "acme", "2026-12-07", "a")
	if left, _, _ := b.RemainingMessages(ctx, "acme"); left != 7 {
		t.Fatalf("B before Forget: %d left, want 7 (A's 5 not known yet)", left)
	}
	b.Forget([][]byte{key})
	if left, _, _ := b.RemainingMessages(ctx, "acme"); left != 2 {
		t.Fatalf("B after Forget: %d left, want 2 (2 + 5 + 1 of 10)", left)
	}
	must(t, reserve(b, "acme", 2))
	if err := reserve(b, "acme", 1); !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("B's 11th message: %v, want ErrDailyLimit", err)
	}
	must(t, b.FlushUsage())
	a.Forget([][]byte{store.Key(store.PrefixUsage, "acme", "2026-12-07", "b")})
	if err := reserve(a, "acme", 1); !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("A's 11th message: %v, want ErrDailyLimit", err)
	}
	// Forget of a node's own key keeps its count in memory (it is ahead of the store).
	a.UncountMessages("acme", 1)
	a.Forget([][]byte{key})
	u, err := a.Messages(ctx, "acme")
	must(t, err)
	if u.Today != 9 || u.ThisMonth != 9 {
		t.Fatalf("A's usage %+v, want today 9 (2 + 4 + 3)", u)
	}
	if n := storedUsage(t, db, "acme", "2026-12-07", "b"); n != 3 {
		t.Fatalf("B stored %d, want 3", n)
	}
}

// The month's usage sums every node's counters of its other days; a count marked
// before midnight is written under its own day.
func TestUsageMonthAndMidnight(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	plan := Plan{MaxSessions: 2, MaxMessagesPerDay: 10}
	a := NewService(db, Options{DefaultPlan: plan, Now: clock, NodeID: "a", UsageFlush: time.Hour})
	b := NewService(db, Options{DefaultPlan: plan, Now: clock, NodeID: "b", UsageFlush: time.Hour})
	_, _, err = a.Create(ctx, CreateInput{ID: "acme"})
	must(t, err)
	must(t, db.Update(func(txn *badger.Txn) error { return usage.Put(txn, 4, "acme", "2026-12-05") }))
	must(t, reserve(a, "acme", 3))
	must(t, reserve(b, "acme", 2))
	must(t, b.FlushUsage())
	now = time.Date(2026, 12, 7, 0, 1, 0, 0, time.UTC)
	must(t, reserve(a, "acme", 1)) // the new day: A's 3 of yesterday still marked
	must(t, a.FlushUsage())
	if n := storedUsage(t, db, "acme", "2026-12-06", "a"); n != 3 {
		t.Fatalf("A's count of yesterday stored %d, want 3", n)
	}
	u, err := b.Messages(ctx, "acme")
	must(t, err)
	if want := (MessageUsage{Day: "2026-12-07", Today: 1, Month: "2026-12", ThisMonth: 10}); u != want {
		t.Fatalf("usage %+v, want %+v", u, want)
	}
}

// failingHook refuses every shared commit, as statesync does while NATS is away.
type failingHook struct{}

func (failingHook) Commit(*badger.Txn, []store.Write) error { return errors.New("no shared state") }

// A counter whose write fails stays marked and is written by a later tick; Close
// writes what is marked.
func TestUsageFlushRetriesAndClose(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s, db := newSvc(t, Options{DefaultPlan: Plan{MaxSessions: 2, MaxMessagesPerDay: 10},
		Now: func() time.Time { return now }, NodeID: "a", UsageFlush: 20 * time.Millisecond})
	_, _, err := s.Create(context.Background(), CreateInput{ID: "acme"})
	must(t, err)
	must(t, db.SetCommitHook([]store.Prefix{store.PrefixUsage}, failingHook{}))
	must(t, reserve(s, "acme", 2))
	if err := s.FlushUsage(); err == nil {
		t.Fatal("flush through a failing hook succeeded")
	}
	if n := storedUsage(t, db, "acme", "2026-12-07", "a"); n != -1 {
		t.Fatalf("stored %d through a failing hook", n)
	}
	must(t, db.SetCommitHook(nil, nil))
	waitStored(t, db, 2, "acme", "2026-12-07", "a")

	s.usageMu.Lock()
	s.opts.UsageFlush = time.Hour // from now on only Close writes
	s.usageMu.Unlock()
	must(t, reserve(s, "acme", 3))
	must(t, s.Close())
	if n := storedUsage(t, db, "acme", "2026-12-07", "a"); n != 5 {
		t.Fatalf("after Close stored %d, want 5", n)
	}
}
