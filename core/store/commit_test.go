package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// recHook records what it is given and commits, or refuses with err.
type recHook struct {
	calls [][]Write
	err   []error // returned by the first calls, in turn
}

func (h *recHook) Commit(txn *badger.Txn, writes []Write) error {
	cp := make([]Write, len(writes))
	for i, w := range writes {
		cp[i] = Write{Key: append([]byte(nil), w.Key...), Value: append([]byte(nil), w.Value...), Delete: w.Delete}
	}
	h.calls = append(h.calls, cp)
	if len(h.err) > 0 {
		err := h.err[0]
		h.err = h.err[1:]
		if err != nil {
			return err
		}
	}
	return txn.Commit()
}

func fmtW(ws []Write) string {
	s := ""
	for _, w := range ws {
		if w.Delete {
			s += fmt.Sprintf("-%s ", w.Key)
		} else {
			s += fmt.Sprintf("%s=%s ", w.Key, w.Value)
		}
	}
	return s
}

func get(t *testing.T, db *DB, k string) string {
	t.Helper()
	var v []byte
	err := db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(k))
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestCommitHook: the hook sees exactly the covered writes of a transaction, in key
// order; transactions without covered writes never reach it; a conflict it reports
// reruns fn; another error leaves nothing committed.
func TestCommitHook(t *testing.T) {
	db, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := &recHook{}
	if err := db.SetCommitHook([]Prefix{PrefixTenant, PrefixSession}, h); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Not covered: committed, hook not called. "tenx/..." is not under "ten/".
	must(db.Update(func(txn *badger.Txn) error {
		return errors.Join(txn.Set([]byte("msg/a/1"), []byte("m")), txn.Set([]byte("tenx/a"), []byte("x")))
	}))
	if len(h.calls) != 0 || get(t, db, "msg/a/1") != "m" {
		t.Fatalf("uncovered txn: hook calls %d, msg %q", len(h.calls), get(t, db, "msg/a/1"))
	}
	// Mixed: the hook sees the covered writes only, sorted; the whole txn commits.
	must(db.Update(func(txn *badger.Txn) error {
		return errors.Join(txn.Set([]byte("ses/a/s"), []byte("2")), txn.Set([]byte("msg/a/2"), []byte("m2")),
			txn.Set([]byte("ten/a"), []byte("1")), txn.Delete([]byte("tenx/a")))
	}))
	if len(h.calls) != 1 || fmtW(h.calls[0]) != "ses/a/s=2 ten/a=1 " {
		t.Fatalf("mixed txn: hook got %d calls, first %q", len(h.calls), fmtW(h.calls[0]))
	}
	if get(t, db, "msg/a/2") != "m2" || get(t, db, "ten/a") != "1" || get(t, db, "tenx/a") != "<none>" {
		t.Fatal("mixed txn not committed whole")
	}
	// A conflict reruns fn; the second try commits.
	h.calls, h.err = nil, []error{fmt.Errorf("remote: %w", badger.ErrConflict)}
	runs := 0
	must(db.Update(func(txn *badger.Txn) error {
		runs++
		return txn.Set([]byte("ten/b"), []byte(fmt.Sprint(runs)))
	}))
	if runs != 2 || len(h.calls) != 2 || get(t, db, "ten/b") != "2" {
		t.Fatalf("conflict: runs %d, calls %d, ten/b %q", runs, len(h.calls), get(t, db, "ten/b"))
	}
	// Another error: returned, nothing committed, no rerun.
	boom := errors.New("boom")
	h.calls, h.err, runs = nil, []error{boom}, 0
	err = db.Update(func(txn *badger.Txn) error {
		runs++
		return errors.Join(txn.Set([]byte("ten/c"), []byte("c")), txn.Set([]byte("msg/c"), []byte("c")))
	})
	if !errors.Is(err, boom) || runs != 1 || get(t, db, "ten/c") != "<none>" || get(t, db, "msg/c") != "<none>" {
		t.Fatalf("refused: err %v, runs %d, ten/c %q, msg/c %q", err, runs, get(t, db, "ten/c"), get(t, db, "msg/c"))
	}
	// DB.Commit goes through the hook too.
	h.calls = nil
	txn := db.Badger().NewTransaction(true)
	must(txn.Set([]byte("ses/a/t"), []byte("t")))
	must(db.Commit(txn))
	txn.Discard()
	if len(h.calls) != 1 || get(t, db, "ses/a/t") != "t" {
		t.Fatalf("Commit: calls %d", len(h.calls))
	}
	// Removed: no more calls.
	must(db.SetCommitHook(nil, nil))
	h.calls = nil
	must(db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("ten/d"), []byte("d")) }))
	if len(h.calls) != 0 {
		t.Fatal("hook called after removal")
	}
}

// TestPendingWrites: PendingWrites reads a Badger transaction's writes from its
// unexported fields; this fails when a Badger bump moves them.
func TestPendingWrites(t *testing.T) {
	if !PendingWritesSupported {
		t.Fatal("badger.Txn.pendingWrites or badger.Entry.meta not found")
	}
	db, err := Open(Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	txn := db.Badger().NewTransaction(true)
	defer txn.Discard()
	for _, err := range []error{txn.Set([]byte("k/b"), []byte("vb")), txn.Set([]byte("k/a"), nil),
		txn.Delete([]byte("k/gone")), txn.Set([]byte("k/b"), []byte("vb2"))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := fmtW(PendingWrites(txn)); got != "k/a= k/b=vb2 -k/gone " {
		t.Errorf("pending writes %q", got)
	}
}

// BenchmarkUpdateHook: the cost of a registered commit hook for a transaction that
// writes no key under its prefixes (one key, a message record), against none.
//
//	go test -run '^$' -bench BenchmarkUpdateHook -benchmem ./core/store/
func BenchmarkUpdateHook(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			db, err := Open(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if on {
				if err := db.SetCommitHook([]Prefix{PrefixTenant, PrefixAPIKey, PrefixSession, PrefixIdempotency, PrefixContact,
					PrefixWebhookEndpoint, PrefixPolicy, PrefixPolicyVersion, PrefixPolicyBindings}, &recHook{}); err != nil {
					b.Fatal(err)
				}
			}
			v := make([]byte, 200)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := fmt.Appendf(nil, "msg/acme/%012d", i)
				if err := db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
