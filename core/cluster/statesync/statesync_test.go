package statesync

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/store"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// startJS starts an embedded nats-server with JetStream in a temp dir on a free port.
func startJS(t testing.TB) string {
	t.Helper()
	srv, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Name: "state", Dir: t.TempDir(), Port: -1})
	must(t, err)
	t.Cleanup(srv.Shutdown)
	return srv.URL()
}

// node is one gateway node: its Badger (the mirror) and its State, on a connection of
// its own.
type node struct {
	t   testing.TB
	dir string
	db  *store.DB
	st  *State
	js  jetstream.JetStream
}

func startNode(t testing.TB, url, dir string, o Options) *node {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	must(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	must(t, err)
	db, err := store.Open(store.Options{Dir: dir})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := Open(ctx, js, db, o)
	must(t, err)
	must(t, st.Start(ctx))
	n := &node{t: t, dir: dir, db: db, st: st, js: js}
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.st.Close()
	n.db.Close()
}

func (n *node) put(k, v string) error {
	return n.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), []byte(v)) })
}

func (n *node) del(k string) error {
	return n.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(k)) })
}

// get reads k from the node's mirror: "<none>" when absent.
func (n *node) get(k string) string {
	n.t.Helper()
	var v string
	err := n.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(k))
		if err != nil {
			return err
		}
		b, err := it.ValueCopy(nil)
		v = string(b)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "<none>"
	}
	must(n.t, err)
	return v
}

func (n *node) sync() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(n.t, n.st.Sync(ctx))
}

// rev is the node's recorded revision of k.
func (n *node) rev(k string) uint64 {
	n.t.Helper()
	var rev uint64
	must(n.t, n.db.View(func(txn *badger.Txn) error {
		var err error
		rev, _, err = readRev(txn, []byte(k))
		return err
	}))
	return rev
}

// bucketRev is the revision the bucket holds for k (0: none).
func (n *node) bucketRev(k string) uint64 {
	n.t.Helper()
	m, err := n.st.stream.GetLastMsgForSubject(context.Background(), subjectRoot+dataKey([]byte(k)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0
	}
	must(n.t, err)
	return m.Sequence
}

func (n *node) lastSeq() uint64 {
	n.t.Helper()
	info, err := n.st.stream.Info(context.Background())
	must(n.t, err)
	return info.State.LastSeq
}

// TestWriteVisibleOnOtherNode: a write and a delete on A are seen on B; the revisions
// recorded by both equal the bucket's; a key outside the shared families is not
// published at all.
func TestWriteVisibleOnOtherNode(t *testing.T) {
	url := startJS(t)
	var mu sync.Mutex
	applied := map[string][]string{}
	notify := func(name string) func([][]byte) {
		return func(keys [][]byte) {
			mu.Lock()
			defer mu.Unlock()
			for _, k := range keys {
				applied[name] = append(applied[name], string(k))
			}
		}
	}
	a := startNode(t, url, t.TempDir(), Options{Applied: notify("a")})
	b := startNode(t, url, t.TempDir(), Options{Applied: notify("b")})
	must(t, a.put("ten/acme", "v1"))
	if got := a.get("ten/acme"); got != "v1" {
		t.Fatalf("A reads its own write: %q", got)
	}
	b.sync()
	if got := b.get("ten/acme"); got != "v1" {
		t.Fatalf("B reads %q, want v1", got)
	}
	if ra, rb, rk := a.rev("ten/acme"), b.rev("ten/acme"), a.bucketRev("ten/acme"); ra != rk || rb != rk || rk == 0 {
		t.Errorf("revisions: A %d, B %d, bucket %d", ra, rb, rk)
	}
	a.sync()
	mu.Lock()
	if fmt.Sprint(applied["b"]) != "[ten/acme]" || len(applied["a"]) != 0 {
		t.Errorf("Applied: A told %q (its own write), B told %q, want [ten/acme]", applied["a"], applied["b"])
	}
	mu.Unlock()
	must(t, b.put("ten/acme", "v2")) // B writes over A's write: expects A's revision
	must(t, a.del("key/acme/k1"))    // a delete of a key nobody has
	a.sync()
	if got := a.get("ten/acme"); got != "v2" {
		t.Fatalf("A reads %q, want v2", got)
	}
	must(t, a.del("ten/acme"))
	b.sync()
	if got := b.get("ten/acme"); got != "<none>" {
		t.Fatalf("B reads %q after the delete", got)
	}
	seq := a.lastSeq()
	must(t, a.put("msg/acme/m1", "local"))
	must(t, a.put("tenx/acme", "local"))
	if a.lastSeq() != seq || a.bucketRev("msg/acme/m1") != 0 {
		t.Error("a key outside the shared families reached the bucket")
	}
	b.sync()
	if got := b.get("msg/acme/m1"); got != "<none>" {
		t.Errorf("B has A's local key: %q", got)
	}
}

// TestNoLostUpdate: two nodes, two writers each, increment one counter; every
// acknowledged increment counts, none is lost.
func TestNoLostUpdate(t *testing.T) {
	url := startJS(t)
	nodes := []*node{startNode(t, url, t.TempDir(), Options{}), startNode(t, url, t.TempDir(), Options{})}
	const per = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	retries := 0
	errs := make(chan error, 4)
	for _, n := range nodes {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per {
					for {
						err := n.db.Update(func(txn *badger.Txn) error {
							v := 0
							it, err := txn.Get([]byte("plb/acme"))
							if err == nil {
								err = it.Value(func(b []byte) error { v, err = strconv.Atoi(string(b)); return err })
							}
							if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
								return err
							}
							return txn.Set([]byte("plb/acme"), []byte(strconv.Itoa(v+1)))
						})
						if err == nil {
							break
						}
						if !errors.Is(err, badger.ErrConflict) {
							errs <- err
							return
						}
						mu.Lock()
						retries++ // ten conflicts in a row: Update gave up, the caller tries again
						mu.Unlock()
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, n := range nodes {
		n.sync()
		if got := n.get("plb/acme"); got != strconv.Itoa(4*per) {
			t.Errorf("node %d counts %s, want %d", i, got, 4*per)
		}
	}
	t.Logf("%d increments, %d Update calls gave up after 10 conflicts", 4*per, retries)
}

// TestMultiKeyAtomic: a transaction of three keys lands on the other mirrors whole: a
// reader on B and C never sees the keys from different transactions.
func TestMultiKeyAtomic(t *testing.T) {
	url := startJS(t)
	a := startNode(t, url, t.TempDir(), Options{})
	others := []*node{startNode(t, url, t.TempDir(), Options{}), startNode(t, url, t.TempDir(), Options{})}
	keys := []string{"ten/x", "key/x/k1", "ses/x/s1"}
	const gens = 40
	stop := make(chan struct{})
	var wg sync.WaitGroup
	torn := make(chan string, 2)
	for _, n := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var vals []string
				must(t, n.db.View(func(txn *badger.Txn) error {
					vals = vals[:0]
					for _, k := range keys {
						it, err := txn.Get([]byte(k))
						if errors.Is(err, badger.ErrKeyNotFound) {
							vals = append(vals, "<none>")
							continue
						}
						if err != nil {
							return err
						}
						b, err := it.ValueCopy(nil)
						if err != nil {
							return err
						}
						vals = append(vals, string(b))
					}
					return nil
				}))
				if vals[0] != vals[1] || vals[1] != vals[2] {
					torn <- fmt.Sprint(vals)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	for g := 1; g <= gens; g++ {
		must(t, a.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Set([]byte(k), []byte(strconv.Itoa(g))); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for _, n := range others {
		n.sync()
	}
	close(stop)
	wg.Wait()
	close(torn)
	for v := range torn {
		t.Errorf("a mirror showed a torn transaction: %s", v)
	}
	for i, n := range append(others, a) {
		for _, k := range keys {
			if got := n.get(k); got != strconv.Itoa(gens) {
				t.Errorf("node %d: %s = %q, want %d", i, k, got, gens)
			}
			if n.rev(k) != a.bucketRev(k) {
				t.Errorf("node %d: %s at revision %d, bucket %d", i, k, n.rev(k), a.bucketRev(k))
			}
		}
	}
}

// TestHydrateConverges: a node that was down comes back to exactly the bucket: new and
// changed keys written, deleted ones removed (also one it kept changing while away),
// its node-local keys kept.
func TestHydrateConverges(t *testing.T) {
	url := startJS(t)
	a := startNode(t, url, t.TempDir(), Options{})
	bdir := t.TempDir()
	b := startNode(t, url, bdir, Options{})
	must(t, a.put("ten/acme", "1"))
	must(t, a.put("whe/acme/e1", "endpoint"))
	must(t, a.put("pol/acme/p", "old"))
	must(t, b.put("que/acme/s/m1", "local queue entry"))
	b.sync()
	b.stop()
	// While B is down: a change, a delete, a new key.
	must(t, a.put("pol/acme/p", "new"))
	must(t, a.del("whe/acme/e1"))
	must(t, a.put("key/acme/k9", "new key"))
	// And B's data dir holds a shared key the bucket never had (written outside the hook).
	db, err := store.Open(store.Options{Dir: bdir})
	must(t, err)
	must(t, db.Badger().Update(func(txn *badger.Txn) error { return txn.Set([]byte("opt/acme/123"), []byte("stray")) }))
	must(t, db.Close())

	b = startNode(t, url, bdir, Options{})
	for k, want := range map[string]string{"ten/acme": "1", "pol/acme/p": "new", "whe/acme/e1": "<none>",
		"key/acme/k9": "new key", "opt/acme/123": "<none>", "que/acme/s/m1": "local queue entry"} {
		if got := b.get(k); got != want {
			t.Errorf("after hydration %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"ten/acme", "pol/acme/p", "key/acme/k9"} {
		if b.rev(k) != a.bucketRev(k) {
			t.Errorf("%s at revision %d, bucket %d", k, b.rev(k), a.bucketRev(k))
		}
	}
	if r := b.rev("whe/acme/e1"); r != 0 {
		t.Errorf("the deleted key keeps a revision record (%d)", r)
	}
	must(t, b.put("whe/acme/e1", "again")) // recreating the deleted key: expects its delete marker
	a.sync()
	if got := a.get("whe/acme/e1"); got != "again" {
		t.Errorf("A reads %q", got)
	}
}

// TestFencedWrite: an older owner's write of the session record, after a newer owner
// claimed the session, is refused and not committed locally; a smaller token cannot
// claim; other keys are not fenced.
func TestFencedWrite(t *testing.T) {
	url := startJS(t)
	a := startNode(t, url, t.TempDir(), Options{})
	b := startNode(t, url, t.TempDir(), Options{})
	ctx := context.Background()
	const rec = "ses/acme/main"
	must(t, a.st.Claim(ctx, cluster.Fence{Key: "acme.main", Token: 5}))
	must(t, a.put(rec, "a1"))
	must(t, a.put(rec, "a2"))
	b.sync()
	must(t, b.st.Claim(ctx, cluster.Fence{Key: "acme.main", Token: 7}))
	must(t, b.put(rec, "b1"))
	err := a.put(rec, "a3")
	if !errors.Is(err, cluster.ErrStaleToken) {
		t.Fatalf("stale owner's write: %v, want ErrStaleToken", err)
	}
	if got := a.get(rec); got == "a3" {
		t.Fatal("the refused write was committed locally")
	}
	if err := a.put(rec, "a4"); !errors.Is(err, cluster.ErrStaleToken) {
		t.Fatalf("later write of the stale owner: %v", err)
	}
	if err := a.st.Claim(ctx, cluster.Fence{Key: "acme.main", Token: 6}); !errors.Is(err, cluster.ErrStaleToken) {
		t.Fatalf("claim with a smaller token: %v", err)
	}
	must(t, a.put("ten/acme", "not fenced"))
	a.sync()
	b.sync()
	for i, n := range []*node{a, b} {
		if got := n.get(rec); got != "b1" {
			t.Errorf("node %d: %s = %q, want b1", i, rec, got)
		}
	}
	// A node that released the fence writes plainly again (per-key revisions only).
	a.st.Release("acme.main")
	must(t, a.put(rec, "a5"))
	// The owner's next fenced write still lands: its fence revision did not move.
	must(t, b.put(rec, "b2"))
}

// TestBigTransaction: a transaction with more shared writes than one batch holds lands
// in consecutive batches, all on the other node.
func TestBigTransaction(t *testing.T) {
	url := startJS(t)
	a := startNode(t, url, t.TempDir(), Options{MaxBatch: 100})
	b := startNode(t, url, t.TempDir(), Options{MaxBatch: 100})
	must(t, a.db.Update(func(txn *badger.Txn) error {
		for i := range 250 {
			if err := txn.Set(fmt.Appendf(nil, "idm/acme/%03d", i), []byte("x")); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, a.db.DeletePrefix([]byte("idm/acme/1")))
	b.sync()
	n := 0
	must(t, b.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("idm/acme/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	}))
	if n != 150 {
		t.Errorf("B holds %d idempotency keys, want 150", n)
	}
}

// TestClosed: after Close a shared write is refused, a local one is not.
func TestClosed(t *testing.T) {
	a := startNode(t, startJS(t), t.TempDir(), Options{})
	a.st.Close()
	if err := a.put("ten/acme", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("shared write after Close: %v", err)
	}
	must(t, a.put("msg/acme/1", "x"))
}

func TestKeyEscaping(t *testing.T) {
	for _, k := range []string{"ses/acme/main", "ctc/acme/123@c.us", "idm/a/=x y\x00\xff.", "plv/t/p/00000001"} {
		d := dataKey([]byte(k))
		back, ok, err := badgerKey(d)
		if !ok || err != nil || string(back) != k {
			t.Errorf("%q -> %q -> %q (%v)", k, d, back, err)
		}
		for _, c := range d[2:] {
			if c == '.' || c == ' ' || c == '*' || c == '>' {
				t.Errorf("%q escaped to %q: %q is not one token", k, d, c)
			}
		}
	}
	if _, _, err := badgerKey("d.ab=4"); err == nil {
		t.Error("bad escape accepted")
	}
}

// TestSeedFromFirstNode: cluster mode turned on over a single node's data: the first
// node to start uploads its shared keys and keeps them, a later node gets them and
// loses its own stale shared keys; node-local keys stay where they are.
func TestSeedFromFirstNode(t *testing.T) {
	url := startJS(t)
	adir, bdir := t.TempDir(), t.TempDir()
	for dir, kv := range map[string]map[string]string{
		adir: {"ten/acme": "acme", "key/acme/k1": "hash", "ses/acme/main": "rec", "msg/acme/m1": "a's message"},
		bdir: {"ten/other": "stale", "msg/other/m1": "b's message"},
	} {
		db, err := store.Open(store.Options{Dir: dir})
		must(t, err)
		must(t, db.Update(func(txn *badger.Txn) error {
			for k, v := range kv {
				if err := txn.Set([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		}))
		must(t, db.Close())
	}
	a := startNode(t, url, adir, Options{MaxBatch: 2}) // two batches and a single publish
	b := startNode(t, url, bdir, Options{})
	for i, n := range []*node{a, b} {
		for _, k := range []string{"ten/acme", "key/acme/k1", "ses/acme/main"} {
			if got := n.get(k); got == "<none>" || n.rev(k) != a.bucketRev(k) {
				t.Errorf("node %d: %s = %q at revision %d, bucket %d", i, k, got, n.rev(k), a.bucketRev(k))
			}
		}
	}
	for k, want := range map[string]string{"ten/other": "<none>", "msg/other/m1": "b's message"} {
		if got := b.get(k); got != want {
			t.Errorf("B: %s = %q, want %q", k, got, want)
		}
	}
	if a.bucketRev("msg/acme/m1") != 0 {
		t.Error("a node-local key was uploaded")
	}
	must(t, b.put("ten/acme", "changed on B")) // expects the uploaded revision
	a.sync()
	if got := a.get("ten/acme"); got != "changed on B" {
		t.Errorf("A reads %q", got)
	}
}

// TestReplicatedR3: three nodes, each on its own server of a 3-server JetStream cluster,
// the bucket at R3: increments of one counter from all three sum exactly, a fenced
// owner change refuses the old owner, every mirror ends equal.
func TestReplicatedR3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lc, err := cluster.StartLocalCluster(ctx, t.TempDir(), 3)
	must(t, err)
	t.Cleanup(lc.Shutdown)
	must(t, lc.WaitReady(ctx))
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, lc.URL(i), t.TempDir(), Options{Replicas: 3}))
	}
	const per = 30
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				for {
					err := n.db.Update(func(txn *badger.Txn) error {
						v := 0
						it, err := txn.Get([]byte("ten/ctr"))
						if err == nil {
							err = it.Value(func(b []byte) error { v, err = strconv.Atoi(string(b)); return err })
						}
						if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
							return err
						}
						// Two keys: every increment is an atomic batch.
						return errors.Join(txn.Set([]byte("ten/ctr"), []byte(strconv.Itoa(v+1))),
							txn.Set([]byte("key/ctr/last"), []byte(strconv.Itoa(v+1))))
					})
					if err == nil {
						break
					}
					if !errors.Is(err, badger.ErrConflict) {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	must(t, nodes[0].st.Claim(ctx, cluster.Fence{Key: "acme.main", Token: 10}))
	must(t, nodes[0].put("ses/acme/main", "0"))
	must(t, nodes[1].st.Claim(ctx, cluster.Fence{Key: "acme.main", Token: 11}))
	must(t, nodes[1].put("ses/acme/main", "1"))
	if err := nodes[0].put("ses/acme/main", "stale"); !errors.Is(err, cluster.ErrStaleToken) {
		t.Fatalf("old owner's write: %v", err)
	}
	for i, n := range nodes {
		n.sync()
		for k, want := range map[string]string{"ten/ctr": strconv.Itoa(3 * per), "key/ctr/last": strconv.Itoa(3 * per), "ses/acme/main": "1"} {
			if got := n.get(k); got != want {
				t.Errorf("node %d: %s = %q, want %q", i, k, got, want)
			}
		}
	}
}

// TestTooBig: a value beyond the server's max payload is refused cleanly (not an unknown
// outcome) and not committed locally.
func TestTooBig(t *testing.T) {
	a := startNode(t, startJS(t), t.TempDir(), Options{})
	err := a.put("plv/acme/p/00000001", string(make([]byte, 2<<20)))
	if err == nil || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("2 MB value: %v", err)
	}
	if got := a.get("plv/acme/p/00000001"); got != "<none>" {
		t.Fatal("the refused value was committed locally")
	}
	t.Log(err)
}

// TestServerRestart: with the NATS server gone, a shared write fails within its timeout
// and is not committed locally; local writes go on; once the server is back, shared
// writes land again and the other node's mirror follows.
func TestServerRestart(t *testing.T) {
	dir := t.TempDir()
	srv, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Name: "state", Dir: dir, Port: -1})
	must(t, err)
	url := srv.URL()
	u, err := neturl.Parse(url)
	must(t, err)
	port, err := strconv.Atoi(u.Port())
	must(t, err)
	o := Options{Timeout: time.Second}
	a := startNode(t, url, t.TempDir(), o)
	b := startNode(t, url, t.TempDir(), o)
	must(t, a.put("ten/acme", "1"))
	b.sync()
	srv.Shutdown()
	if err := a.put("ten/acme", "2"); err == nil {
		t.Fatal("a shared write with the server gone succeeded")
	}
	if got := a.get("ten/acme"); got != "1" {
		t.Fatalf("the failed write was committed locally: %q", got)
	}
	must(t, a.put("msg/acme/1", "local"))
	srv, err = cluster.StartEmbedded(cluster.EmbeddedOptions{Name: "state", Dir: dir, Port: port})
	must(t, err)
	t.Cleanup(srv.Shutdown)
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := a.put("ten/acme", "3")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shared writes did not come back: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling the reconnect, with a deadline
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := b.st.Sync(ctx)
		cancel()
		if err == nil && b.get("ten/acme") == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's mirror did not follow: %q, %v", b.get("ten/acme"), err)
		}
	}
}

// TestReadOvertaken: a transaction that read a shared key another node changed before
// it committed (a key it did not write: the bucket does not check it) is in the bucket
// once published, so it is committed in the mirror too, local writes included, without
// running fn again.
func TestReadOvertaken(t *testing.T) {
	url := startJS(t)
	a := startNode(t, url, t.TempDir(), Options{})
	b := startNode(t, url, t.TempDir(), Options{})
	must(t, a.put("pol/acme/x", "x1"))
	b.sync()
	runs := 0
	err := a.db.Update(func(txn *badger.Txn) error {
		runs++
		if _, err := txn.Get([]byte("pol/acme/x")); err != nil {
			return err
		}
		if runs == 1 {
			must(t, b.put("pol/acme/x", "x2")) // overtakes the read
			a.sync()                           // and is in A's mirror before the commit
		}
		return errors.Join(txn.Set([]byte("plb/acme"), []byte("y")), txn.Set([]byte("msg/acme/1"), []byte("local")))
	})
	must(t, err)
	if runs != 1 {
		t.Errorf("fn ran %d times", runs)
	}
	b.sync()
	for k, want := range map[string]string{"pol/acme/x": "x2", "plb/acme": "y", "msg/acme/1": "local"} {
		if got := a.get(k); got != want {
			t.Errorf("A: %s = %q, want %q", k, got, want)
		}
	}
	if got := b.get("plb/acme"); got != "y" {
		t.Errorf("B: plb/acme = %q", got)
	}
	if a.rev("plb/acme") != a.bucketRev("plb/acme") || a.rev("pol/acme/x") != a.bucketRev("pol/acme/x") {
		t.Errorf("A's revisions: plb %d (bucket %d), pol %d (bucket %d)", a.rev("plb/acme"), a.bucketRev("plb/acme"), a.rev("pol/acme/x"), a.bucketRev("pol/acme/x"))
	}
}
