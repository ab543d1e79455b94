package wastore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The committer's batches, made deterministic: a commit is marked under way by hand, so
// that the transactions started meanwhile wait; marking it done hands them over as
// one batch.

// holdCommit marks a commit under way on cm and returns its release.
func holdCommit(cm *committer) (release func()) {
	cm.mu.Lock()
	cm.inflight++
	cm.mu.Unlock()
	return func() {
		cm.mu.Lock()
		cm.inflight--
		cm.mu.Unlock()
		cm.kick()
	}
}

// waitWaiting polls until n transactions wait on cm.
func waitWaiting(t *testing.T, cm *committer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		cm.mu.Lock()
		got := len(cm.waiting)
		cm.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d transactions waiting, want %d", got, n)
		}
	}
}

// versionOf returns the value of key as a counter and the commit version of the key.
func versionOf(t *testing.T, db *badger.DB, key string) (n uint32, version uint64) {
	t.Helper()
	err := db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		version = item.Version()
		v, err := item.ValueCopy(nil)
		n = binary.BigEndian.Uint32(v)
		return err
	})
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return n, version
}

// increment adds one to the counter at key.
func increment(txn *badger.Txn, key string) error {
	n := uint32(0)
	item, err := txn.Get([]byte(key))
	switch {
	case err == nil:
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		n = binary.BigEndian.Uint32(v)
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	return txn.Set([]byte(key), binary.BigEndian.AppendUint32(nil, n+1))
}

// TestCommitterBatch: transactions started during a commit run, once it is done, in
// one Badger transaction: one commit version for all, each seeing the writes of those
// before it, and what they return to run after the commit runs.
func TestCommitterBatch(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	bdb := db.Badger()
	cm := &committer{}
	const n = 10
	release := holdCommit(cm)
	var wg sync.WaitGroup
	errs := make([]error, n)
	afterRan := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = cm.do(context.Background(), bdb, func(txn *badger.Txn) ([]func(), error) {
				if err := txn.Set([]byte(fmt.Sprint("own/", i)), binary.BigEndian.AppendUint32(nil, 1)); err != nil {
					return nil, err
				}
				return []func(){func() { afterRan[i] = true }}, increment(txn, "shared")
			})
		})
	}
	waitWaiting(t, cm, n)
	release()
	wg.Wait()
	shared, version := versionOf(t, bdb, "shared")
	if shared != n {
		t.Errorf("shared counter %d, want %d: an update was lost", shared, n)
	}
	for i := range n {
		if errs[i] != nil || !afterRan[i] {
			t.Errorf("transaction %d: error %v, after ran %t", i, errs[i], afterRan[i])
		}
		if _, v := versionOf(t, bdb, fmt.Sprint("own/", i)); v != version {
			t.Errorf("transaction %d committed at version %d, the batch at %d", i, v, version)
		}
	}
}

// TestCommitterBatchFailures: a transaction of a batch that fails (error, panic, ended
// context) gets its outcome in its own goroutine and writes nothing; the others commit.
func TestCommitterBatchFailures(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	bdb := db.Badger()
	cm := &committer{}
	errRefused := errors.New("refused")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	release := holdCommit(cm)
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcome := map[string]string{}
	start := func(name string, ctx context.Context, fail func() error) {
		wg.Go(func() {
			res := "ok"
			func() {
				defer func() {
					if r := recover(); r != nil {
						res = fmt.Sprint("panic: ", r)
					}
				}()
				err := cm.do(ctx, bdb, func(txn *badger.Txn) ([]func(), error) {
					if err := txn.Set([]byte("own/"+name), []byte{1}); err != nil {
						return nil, err
					}
					if err := increment(txn, "shared"); err != nil {
						return nil, err
					}
					return nil, fail()
				})
				if err != nil {
					res = err.Error()
				}
			}()
			mu.Lock()
			outcome[name] = res
			mu.Unlock()
		})
	}
	ok := func() error { return nil }
	start("first", context.Background(), ok)
	waitWaiting(t, cm, 1) // the first of the batch leads it
	start("a", context.Background(), ok)
	start("refused", context.Background(), func() error { return errRefused })
	start("panics", context.Background(), func() error { panic("boom") })
	start("canceled", canceled, ok)
	start("b", context.Background(), ok)
	waitWaiting(t, cm, 6)
	release()
	wg.Wait()
	want := map[string]string{"first": "ok", "a": "ok", "b": "ok", "refused": "refused", "panics": "panic: boom", "canceled": "context canceled"}
	for name, w := range want {
		if outcome[name] != w {
			t.Errorf("%s: %q, want %q", name, outcome[name], w)
		}
		err := bdb.View(func(txn *badger.Txn) error {
			_, err := txn.Get([]byte("own/" + name))
			return err
		})
		if written := err == nil; written != (w == "ok") {
			t.Errorf("%s: written %t (%v)", name, written, err)
		}
	}
	if shared, _ := versionOf(t, bdb, "shared"); shared != 3 {
		t.Errorf("shared counter %d, want 3 (the transactions that succeeded)", shared)
	}
}

// TestCommitterBeyondMaxBatch: more transactions than one batch takes all commit,
// those beyond it in later batches.
func TestCommitterBeyondMaxBatch(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	bdb := db.Badger()
	cm := &committer{}
	n := 2*maxBatch + 3
	release := holdCommit(cm)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- cm.do(context.Background(), bdb, func(txn *badger.Txn) ([]func(), error) {
				return nil, increment(txn, "shared")
			})
		})
	}
	waitWaiting(t, cm, n)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if shared, _ := versionOf(t, bdb, "shared"); shared != uint32(n) {
		t.Errorf("shared counter %d, want %d", shared, n)
	}
}

// TestCommitterNestedWrite: a decryption transaction whose function writes through the
// store with another context, while it runs in a batch, does not wait for the batch
// (which waits for it): the nested write commits on its own.
func TestCommitterNestedWrite(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c1 := newContainer(t, db, "acme", "one")
	c2 := newContainer(t, db, "acme", "two")
	d1 := pairedDevice(t, c1, alicePN.ToNonAD())
	d2 := pairedDevice(t, c2, alicePN.ToNonAD())
	if c1.commits != c2.commits {
		t.Fatal("two containers of one DB have different committers")
	}
	release := holdCommit(c1.commits)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		errs[0] = d1.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
			if err := d1.Sessions.PutSession(ctx, "nested:0", []byte("n")); err != nil { // not txn
				return err
			}
			return d1.Sessions.PutSession(txn, "carried:0", []byte("c"))
		})
	})
	waitWaiting(t, c1.commits, 1)
	wg.Go(func() {
		errs[1] = d2.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
			return d2.Sessions.PutSession(txn, "other:0", []byte("o"))
		})
	})
	waitWaiting(t, c1.commits, 2)
	release()
	wg.Wait()
	must(t, errs[0])
	must(t, errs[1])
	for _, tc := range []struct {
		d    *deviceStore
		addr string
	}{{d1.Sessions.(*deviceStore), "nested:0"}, {d1.Sessions.(*deviceStore), "carried:0"}, {d2.Sessions.(*deviceStore), "other:0"}} {
		if s, err := tc.d.GetSession(ctx, tc.addr); err != nil || s == nil {
			t.Errorf("session %s: %q, %v", tc.addr, s, err)
		}
	}
}
