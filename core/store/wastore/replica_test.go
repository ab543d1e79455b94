package wastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// memReplica is a Replicator that keeps the replica in memory, failing on demand.
type memReplica struct {
	mu sync.Mutex
	m  map[string][]byte // by whole Badger key
	// fail, when set, is returned with n by the next Replicate, which then applies
	// the first n writes only.
	fail error
	n    int
	txns int
}

func (r *memReplica) Replicate(_ context.Context, writes []Write) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end, err := len(writes), error(nil)
	if r.fail != nil {
		end, err = max(r.n, 0), r.fail
		r.fail = nil
	}
	for _, w := range writes[:end] {
		if w.Delete {
			delete(r.m, string(w.Key))
		} else {
			r.m[string(w.Key)] = bytes.Clone(w.Value)
		}
	}
	r.txns++
	if err != nil {
		return r.n, err
	}
	return end, nil
}

// snapshot is the replica's copy of a session, keyed as Restore wants.
func (r *memReplica) snapshot(tenant, session string) map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	prefix := string(SessionPrefix(tenant, session))
	out := map[string][]byte{}
	for k, v := range r.m {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			out[k[len(prefix):]] = v
		}
	}
	return out
}

// dumpSession returns every key and value of a session's whatsmeow state.
func dumpSession(t testing.TB, db *store.DB, tenant, session string) map[string]string {
	t.Helper()
	out := map[string]string{}
	prefix := SessionPrefix(tenant, session)
	err := db.View(func(txn *badger.Txn) error {
		return scan(txn, prefix, true, func(item *badger.Item) (bool, error) {
			v, err := item.ValueCopy(nil)
			out[string(item.Key())] = string(v)
			return true, err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffDumps describes how two dumps differ, "" when equal.
func diffDumps(want, got map[string]string) string {
	var b bytes.Buffer
	for k, v := range want {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "missing %q\n", k)
		} else if g != v {
			fmt.Fprintf(&b, "value of %q differs\n", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "extra %q\n", k)
		}
	}
	return b.String()
}

// TestPendingWrites: replication reads a Badger transaction's writes from its
// unexported fields; this fails when a Badger bump moves them.
func TestPendingWrites(t *testing.T) {
	if !pendingOK {
		t.Fatal("badger.Txn.pendingWrites or badger.Entry.meta not found: replication cannot read a transaction's writes")
	}
	db := openDB(t, t.TempDir())
	defer db.Close()
	must(t, db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k/gone"), []byte("old")) }))
	txn := db.Badger().NewTransaction(true)
	defer txn.Discard()
	must(t, txn.Set([]byte("k/b"), []byte("vb")))
	must(t, txn.Set([]byte("k/a"), nil))
	must(t, txn.Delete([]byte("k/gone")))
	must(t, txn.Set([]byte("k/b"), []byte("vb2"))) // the last write of a key counts
	got := pendingWrites(txn)
	want := []Write{{Key: []byte("k/a")}, {Key: []byte("k/b"), Value: []byte("vb2")}, {Key: []byte("k/gone"), Delete: true}}
	if fmtWrites(got) != fmtWrites(want) {
		t.Errorf("pending writes %s, want %s", fmtWrites(got), fmtWrites(want))
	}
}

// TestConformanceReplicated runs conformance seeds with the wastore world's session
// replicated (every transaction serialized and written through): the results still
// equal sqlstore's operation by operation, and a fresh DB restored from the replica
// holds exactly the keys and values of the original.
func TestConformanceReplicated(t *testing.T) {
	for seed := uint64(101); seed <= 104; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			got := newBadgerWorld(t)
			c := got.c.(*Container)
			mem := &memReplica{m: map[string][]byte{}}
			must(t, SetReplicator(c.db, c.tenant, c.session, mem))
			runConformanceOn(t, seed, *flagOps, got, 0, nil)
			if mem.txns == 0 {
				t.Fatal("nothing was replicated")
			}
			fresh := openDB(t, t.TempDir())
			defer fresh.Close()
			if _, _, err := Restore(context.Background(), fresh, c.tenant, c.session, mem.snapshot(c.tenant, c.session)); err != nil {
				t.Fatal(err)
			}
			want := dumpSession(t, c.db, c.tenant, c.session)
			if d := diffDumps(want, dumpSession(t, fresh, c.tenant, c.session)); d != "" {
				t.Fatalf("restored copy differs from the original (%d keys):\n%s", len(want), d)
			}
			t.Logf("%d keys, %d replicated transactions", len(want), mem.txns)
		})
	}
}

// TestReplicatedFailure: a transaction the replicator refuses is not committed locally
// and whatsmeow sees the error; one that landed in part is committed in that part; one
// with an unknown outcome breaks the replica until the replicator is set again.
func TestReplicatedFailure(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, alicePN.ToNonAD())
	mem := &memReplica{m: map[string][]byte{}}
	for k, v := range dumpSession(t, db, "acme", "main") { // the replica starts from the paired device
		mem.m[k] = []byte(v)
	}
	must(t, SetReplicator(db, "acme", "main", mem))
	refused := errors.New("refused")

	mem.fail, mem.n = refused, 0
	err := d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		must(t, d.Sessions.PutSession(ctx, "a:0", []byte("sa")))
		return d.Identities.PutIdentity(ctx, "a:0", [32]byte{1})
	})
	if !errors.Is(err, refused) {
		t.Fatalf("refused transaction: %v", err)
	}
	if ok, _ := d.Sessions.HasSession(ctx, "a:0"); ok {
		t.Error("a refused transaction was committed locally")
	}

	// Two writes, the first landed (key order: idk before ses).
	mem.fail, mem.n = refused, 1
	err = d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		must(t, d.Sessions.PutSession(ctx, "b:0", []byte("sb")))
		return d.Identities.PutIdentity(ctx, "b:0", [32]byte{2})
	})
	if !errors.Is(err, refused) {
		t.Fatalf("partly replicated transaction: %v", err)
	}
	if ok, _ := d.Identities.IsTrustedIdentity(ctx, "b:0", [32]byte{3}); ok {
		t.Error("the replicated identity is not committed locally")
	}
	if ok, _ := d.Sessions.HasSession(ctx, "b:0"); ok {
		t.Error("the write that was not replicated was committed locally")
	}

	mem.fail, mem.n = refused, -1
	if err := d.Sessions.PutSession(ctx, "c:0", []byte("sc")); !errors.Is(err, ErrReplicaBroken) {
		t.Fatalf("unknown outcome: %v", err)
	}
	if err := d.Sessions.PutSession(ctx, "d:0", []byte("sd")); !errors.Is(err, ErrReplicaBroken) {
		t.Fatalf("write after an unknown outcome: %v", err)
	}
	if _, _, err := Restore(ctx, db, "acme", "main", mem.snapshot("acme", "main")); !errors.Is(err, ErrSessionReplicated) {
		t.Fatalf("restore of a replicated session: %v", err)
	}
	must(t, SetReplicator(db, "acme", "main", nil))
	if _, _, err := Restore(ctx, db, "acme", "main", mem.snapshot("acme", "main")); err != nil {
		t.Fatal(err)
	}
	must(t, SetReplicator(db, "acme", "main", mem))
	must(t, d.Sessions.PutSession(ctx, "d:0", []byte("sd")))
	if d := diffDumps(dumpSession(t, db, "acme", "main"), stringMap(mem.snapshot("acme", "main"), SessionPrefix("acme", "main"))); d != "" {
		t.Errorf("local copy and replica differ:\n%s", d)
	}
}

// TestRestoreRemovesStale: Restore deletes local keys the replica lacks, rewrites the
// ones that differ, and touches no other session.
func TestRestoreRemovesStale(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	other := newContainer(t, db, "acme", "other")
	d := pairedDevice(t, c, alicePN.ToNonAD())
	od := pairedDevice(t, other, alicePN.ToNonAD())
	must(t, od.Sessions.PutSession(ctx, "x:0", []byte("x")))
	mem := &memReplica{m: map[string][]byte{}}
	// The replica starts from the device as paired.
	for k, v := range dumpSession(t, db, "acme", "main") {
		mem.m[k] = []byte(v)
	}
	must(t, SetReplicator(db, "acme", "main", mem))
	must(t, d.Sessions.PutSession(ctx, "a:0", []byte("new")))
	must(t, SetReplicator(db, "acme", "main", nil))
	// Local-only writes, as a node that lost the session would have.
	must(t, d.Sessions.PutSession(ctx, "a:0", []byte("stale")))
	must(t, d.Sessions.PutSession(ctx, "b:0", []byte("stale")))
	otherBefore := dumpSession(t, db, "acme", "other")
	written, deleted, err := Restore(ctx, db, "acme", "main", mem.snapshot("acme", "main"))
	must(t, err)
	if written != 1 || deleted != 1 {
		t.Errorf("restore wrote %d and deleted %d keys, want 1 and 1", written, deleted)
	}
	if s, _ := d.Sessions.GetSession(ctx, "a:0"); string(s) != "new" {
		t.Errorf("session a:0 %q after restore, want the replica's", s)
	}
	if ok, _ := d.Sessions.HasSession(ctx, "b:0"); ok {
		t.Error("a stale local key survived the restore")
	}
	if d := diffDumps(otherBefore, dumpSession(t, db, "acme", "other")); d != "" {
		t.Errorf("restore touched another session:\n%s", d)
	}
}

func stringMap(m map[string][]byte, prefix []byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range maps.All(m) {
		out[string(prefix)+k] = string(v)
	}
	return out
}

func fmtWrites(ws []Write) string {
	var b bytes.Buffer
	for _, w := range ws {
		fmt.Fprintf(&b, "%q=%q/%t ", w.Key, w.Value, w.Delete)
	}
	return b.String()
}

// TestReplicatedNestedWrite: a transaction function of a replicated session that writes
// with another context waits for itself; the write fails when that context ends,
// instead of hanging, and the outer transaction goes on.
func TestReplicatedNestedWrite(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, alicePN.ToNonAD())
	must(t, SetReplicator(db, "acme", "main", &memReplica{m: map[string][]byte{}}))
	must(t, d.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := d.Sessions.PutSession(short, "nested:0", []byte("n")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("nested write with another context: %v, want its deadline", err)
		}
		return d.Sessions.PutSession(txn, "carried:0", []byte("c"))
	}))
	if ok, _ := d.Sessions.HasSession(ctx, "carried:0"); !ok {
		t.Error("the outer transaction's write is missing")
	}
}
