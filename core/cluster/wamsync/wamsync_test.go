package wamsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/jsbatch"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

const (
	tenant  = "acme"
	session = "main"
	skey    = cluster.Key(tenant + "." + session)
)

// startJS starts an embedded nats-server with JetStream in a temp dir on a free port
// and returns a connection to it and the server; both go at the end of the test.
func startJS(t testing.TB) (*nats.Conn, jetstream.JetStream, *cluster.Embedded) {
	t.Helper()
	srv, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Name: "wam", Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, srv
}

func openStore(t testing.TB, js jetstream.JetStream, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), js, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openDB(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// owner is one node's copy of the session: its DB, replica and whatsmeow device.
type owner struct {
	db  *store.DB
	rep *Replica
	c   *wastore.Container
}

// claim claims the session with token on db, hydrates and registers the replica, the
// order of docs/cluster.md.
func claim(t testing.TB, s *Store, db *store.DB, token uint64) *owner {
	t.Helper()
	ctx := context.Background()
	rep, err := s.Claim(ctx, cluster.Fence{Key: skey, Token: token})
	must(t, err)
	_, err = rep.Hydrate(ctx, db)
	must(t, err)
	must(t, wastore.SetReplicator(db, tenant, session, rep))
	c, err := wastore.New(db, tenant, session, nil)
	must(t, err)
	return &owner{db: db, rep: rep, c: c}
}

// release stops replicating, as Handler.Stop does.
func (o *owner) release(t testing.TB) {
	o.rep.Close()
	must(t, wastore.SetReplicator(o.db, tenant, session, nil))
}

var alice = types.NewJID("15551230001", types.DefaultUserServer)

// device returns the owner's device, pairing one when the copy holds none.
func (o *owner) device(t testing.TB) *wmstore.Device {
	t.Helper()
	ctx := context.Background()
	if d, err := o.c.GetFirstDevice(ctx); err == nil && d.ID != nil {
		return d
	}
	d := o.c.NewDevice()
	d.ID = &alice
	d.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("details"), AccountSignature: bytes.Repeat([]byte{1}, 64),
		AccountSignatureKey: bytes.Repeat([]byte{2}, 32), DeviceSignature: bytes.Repeat([]byte{3}, 64)}
	must(t, o.c.PutDevice(ctx, d))
	return d
}

// dump returns every key and value of the session's whatsmeow state in db.
func dump(t testing.TB, db *store.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	prefix := wastore.SessionPrefix(tenant, session)
	must(t, db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().Key())] = string(v)
		}
		return nil
	}))
	return out
}

func diff(want, got map[string]string) string {
	var b strings.Builder
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

// bucketCopy hydrates a fresh DB from the bucket (as a new owner would, with a token
// above every other) and returns its dump.
func bucketCopy(t testing.TB, s *Store, token uint64) map[string]string {
	t.Helper()
	db := openDB(t)
	rep, err := s.Claim(context.Background(), cluster.Fence{Key: skey, Token: token})
	must(t, err)
	_, err = rep.Hydrate(context.Background(), db)
	must(t, err)
	rep.Close()
	return dump(t, db)
}

func TestKeyEscaping(t *testing.T) {
	for _, rest := range []string{
		"dev/15551230001:3@s.whatsapp.net/rec",
		"dev/1@s.whatsapp.net/ses/100000000000001_1:0",
		"dev/1@lid/ms/120363@g.us/a%2Fb/3EB0=A1 x.y*>",
		"lid/%",
		"\x00\xff=",
	} {
		k := dataKey("acme.main", []byte(rest))
		if strings.Count(k, ".") != 3 || !isKVKey(k) {
			t.Errorf("%q: key %q is not 3 dots of valid KV key characters", rest, k)
		}
		back, err := restOf("acme.main", k)
		if err != nil || string(back) != rest {
			t.Errorf("%q: round trip gave %q, %v", rest, back, err)
		}
	}
	for _, bad := range []string{"acme.main.d.=4", "acme.main.d.=zz", "acme.other.d.x"} {
		if _, err := restOf("acme.main", bad); err == nil {
			t.Errorf("restOf(%q) accepted", bad)
		}
	}
}

func isKVKey(k string) bool {
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-/_=.", c)) {
			return false
		}
	}
	return true
}

// TestDecryptionTxnIsOneBatch (b): a DoDecryptionTxn's writes land in the bucket in one
// atomic batch ending with the fence record; a transaction whose batch the stream
// refuses in the middle lands neither in the bucket nor locally.
func TestDecryptionTxnIsOneBatch(t *testing.T) {
	ctx := context.Background()
	_, js, _ := startJS(t)
	s := openStore(t, js, Options{})
	o := claim(t, s, openDB(t), 1)
	d := o.device(t)
	must(t, d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		must(t, d.Sessions.PutSession(ctx, "a:0", []byte("session a")))
		must(t, d.Identities.PutIdentity(ctx, "a:0", [32]byte{1}))
		return d.EventBuffer.PutBufferedEvent(ctx, [32]byte{9}, []byte("plaintext"), time.Now())
	}))
	_, fenceRev, err := s.readFence(ctx, string(skey))
	must(t, err)
	keys, err := s.kv.ListKeysFiltered(ctx, dataFilter(string(skey)))
	must(t, err)
	var revs []uint64
	for k := range keys.Keys() {
		e, err := s.kv.Get(ctx, k)
		must(t, err)
		if e.Revision() > fenceRev-5 { // the transaction's: ses, idk, evb, evi
			revs = append(revs, e.Revision())
		}
	}
	if len(revs) != 4 {
		t.Fatalf("%d keys written just before the fence record (revision %d), want the transaction's 4", len(revs), fenceRev)
	}

	// The stream takes no message above 1 KiB: the middle session of three is refused.
	info, err := s.stream.Info(ctx)
	must(t, err)
	cfg := info.Config
	cfg.MaxMsgSize = 1024
	_, err = js.UpdateStream(ctx, cfg)
	must(t, err)
	before, err := s.stream.Info(ctx)
	must(t, err)
	err = d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		for _, a := range []string{"b:0", "c:0", "d:0"} {
			v := []byte("session " + a)
			if a == "c:0" {
				v = bytes.Repeat([]byte{7}, 4096)
			}
			if err := d.Sessions.PutSession(ctx, a, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		t.Fatal("a transaction with a value the stream refuses was committed")
	}
	after, err := s.stream.Info(ctx)
	must(t, err)
	if after.State.LastSeq != before.State.LastSeq {
		t.Errorf("the refused batch stored %d messages", after.State.LastSeq-before.State.LastSeq)
	}
	for _, a := range []string{"b:0", "c:0", "d:0"} {
		if ok, _ := d.Sessions.HasSession(ctx, a); ok {
			t.Errorf("session %s of the refused transaction is in the local copy", a)
		}
	}
	// The replica is still the owner's: the next transaction goes through.
	must(t, d.Sessions.PutSession(ctx, "b:0", []byte("small")))
	if dd := diff(dump(t, o.db), bucketCopy(t, s, 2)); dd != "" {
		t.Errorf("bucket and local copy differ:\n%s", dd)
	}
}

// TestFencing (c): after a newer owner claimed and wrote, the older owner's write is
// refused by the bucket, not committed locally, and whatsmeow sees
// cluster.ErrStaleToken; an owner with an older token cannot claim; the bucket holds
// the newer owner's state only.
func TestFencing(t *testing.T) {
	ctx := context.Background()
	_, js, _ := startJS(t)
	s := openStore(t, js, Options{})
	a := claim(t, s, openDB(t), 5)
	da := a.device(t)
	must(t, da.Sessions.PutSession(ctx, "x:0", []byte("from a")))

	b := claim(t, s, openDB(t), 9) // a is frozen meanwhile, its lease lost
	db := b.device(t)
	if sess, _ := db.Sessions.GetSession(ctx, "x:0"); string(sess) != "from a" {
		t.Fatalf("the new owner hydrated %q, want a's write", sess)
	}
	must(t, db.Sessions.PutSession(ctx, "x:0", []byte("from b")))

	// One write: one message, checked against the fence record.
	if err := da.Sessions.PutSession(ctx, "x:0", []byte("stale")); !errors.Is(err, cluster.ErrStaleToken) {
		t.Fatalf("stale owner's write: %v, want ErrStaleToken", err)
	}
	if sess, _ := da.Sessions.GetSession(ctx, "x:0"); string(sess) != "from a" {
		t.Errorf("the refused write reached the stale owner's local copy: %q", sess)
	}
	if err := da.Sessions.PutSession(ctx, "z:0", []byte("stale")); !errors.Is(err, cluster.ErrStaleToken) {
		t.Errorf("stale owner's next write: %v, want ErrStaleToken", err)
	}

	// A transaction of several writes: one batch, refused whole.
	c := claim(t, s, openDB(t), 12)
	must(t, c.device(t).Sessions.PutSession(ctx, "x:0", []byte("from c")))
	err := db.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		must(t, db.Sessions.PutSession(ctx, "x:0", []byte("stale")))
		return db.Sessions.PutSession(ctx, "y:0", []byte("stale"))
	})
	if !errors.Is(err, cluster.ErrStaleToken) {
		t.Fatalf("stale owner's transaction: %v, want ErrStaleToken", err)
	}
	if ok, _ := db.Sessions.HasSession(ctx, "y:0"); ok {
		t.Error("the refused transaction reached the stale owner's local copy")
	}
	if _, err := s.Claim(ctx, cluster.Fence{Key: skey, Token: 7}); !errors.Is(err, cluster.ErrStaleToken) {
		t.Errorf("claim with an older token: %v, want ErrStaleToken", err)
	}
	if dd := diff(dump(t, c.db), bucketCopy(t, s, 13)); dd != "" {
		t.Errorf("the bucket is not the new owner's copy:\n%s", dd)
	}
}

// TestHydrateRemovesStale (d): a node that owned the session before, and kept a local
// copy that went on past its ownership, is brought back to the bucket's state exactly:
// stale keys deleted, changed values rewritten.
func TestHydrateRemovesStale(t *testing.T) {
	ctx := context.Background()
	_, js, _ := startJS(t)
	s := openStore(t, js, Options{})
	dbA := openDB(t)
	a := claim(t, s, dbA, 1)
	da := a.device(t)
	must(t, da.Sessions.PutSession(ctx, "x:0", []byte("v1")))
	must(t, da.Sessions.PutSession(ctx, "gone:0", []byte("v1")))
	a.release(t)
	// Local writes of a's copy after it lost the session: never replicated.
	must(t, da.Sessions.PutSession(ctx, "local:0", []byte("stale")))

	b := claim(t, s, openDB(t), 2)
	db := b.device(t)
	must(t, db.Sessions.PutSession(ctx, "x:0", []byte("v2")))
	must(t, db.Sessions.DeleteSession(ctx, "gone:0"))
	b.release(t)

	// The session comes back to a's node.
	rep, err := s.Claim(ctx, cluster.Fence{Key: skey, Token: 3})
	must(t, err)
	st, err := rep.Hydrate(ctx, dbA)
	must(t, err)
	if st != (HydrateStats{Written: 1, Deleted: 2}) { // x:0 rewritten; gone:0 and local:0 deleted
		t.Errorf("hydration %+v, want 1 key written and 2 deleted", st)
	}
	must(t, wastore.SetReplicator(dbA, tenant, session, rep))
	if _, err := rep.Hydrate(ctx, dbA); !errors.Is(err, wastore.ErrSessionReplicated) {
		t.Errorf("hydrating a running session: %v, want ErrSessionReplicated", err)
	}
	c2, err := wastore.New(dbA, tenant, session, nil)
	must(t, err)
	a2 := &owner{db: dbA, rep: rep, c: c2}
	if dd := diff(dump(t, b.db), dump(t, dbA)); dd != "" {
		t.Errorf("a's copy after hydration differs from the last owner's:\n%s", dd)
	}
	d2 := a2.device(t)
	for addr, want := range map[string]string{"x:0": "v2", "gone:0": "", "local:0": ""} {
		got, err := d2.Sessions.GetSession(ctx, addr)
		must(t, err)
		if string(got) != want {
			t.Errorf("session %s after hydration: %q, want %q", addr, got, want)
		}
	}
}

// TestBigTransaction: a transaction of more writes than a batch takes goes as several
// batches and the bucket holds all of it.
func TestBigTransaction(t *testing.T) {
	ctx := context.Background()
	_, js, _ := startJS(t)
	s := openStore(t, js, Options{MaxBatch: 10})
	o := claim(t, s, openDB(t), 1)
	d := o.device(t)
	var entries []wmstore.ContactEntry
	for i := range 25 {
		entries = append(entries, wmstore.ContactEntry{JID: types.NewJID(fmt.Sprint(1555000000+i), types.DefaultUserServer), FirstName: "F", FullName: "Full"})
	}
	must(t, d.Contacts.PutAllContactNames(ctx, entries))
	if dd := diff(dump(t, o.db), bucketCopy(t, s, 2)); dd != "" {
		t.Errorf("bucket and local copy differ:\n%s", dd)
	}
}

// TestLostServer: a batch whose acknowledgement never comes, with no server to ask
// about it, breaks the replica: that write and every later one fail.
func TestLostServer(t *testing.T) {
	ctx := context.Background()
	_, js, srv := startJS(t)
	s := openStore(t, js, Options{Timeout: 200 * time.Millisecond})
	o := claim(t, s, openDB(t), 1)
	d := o.device(t)
	srv.Shutdown()
	err := d.Sessions.PutSession(ctx, "x:0", []byte("v"))
	if !errors.Is(err, wastore.ErrReplicaBroken) || !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("write without a server: %v, want ErrReplicaBroken and ErrUnknownOutcome", err)
	}
	if ok, _ := d.Sessions.HasSession(ctx, "x:0"); ok {
		t.Error("the write is in the local copy")
	}
	if err := d.Sessions.PutSession(ctx, "y:0", []byte("v")); !errors.Is(err, wastore.ErrReplicaBroken) {
		t.Errorf("next write: %v, want ErrReplicaBroken", err)
	}
}

// TestResolve: after a batch's acknowledgement is lost, the fence record tells whether
// it landed; one that had not landed is fenced out by the barrier, so it cannot land
// later.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	_, js, _ := startJS(t)
	s := openStore(t, js, Options{})
	o := claim(t, s, openDB(t), 1)
	r := o.rep
	lost := errors.New("acknowledgement lost")
	fenceMsg := func(id string, expect uint64) *nats.Msg {
		m := &nats.Msg{Subject: subjectRoot + fenceKey(r.key), Header: nats.Header{}}
		m.Data = fmt.Appendf(nil, `{"token":1,"batch":%q}`, id)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, fmt.Sprint(expect))
		return m
	}
	data := func(v string) *nats.Msg {
		return &nats.Msg{Subject: subjectRoot + dataKey(r.key, []byte("lid/1")), Header: nats.Header{}, Data: []byte(v)}
	}

	// Landed, its acknowledgement lost: resolve says so and takes its revision.
	id := jsbatch.NewID()
	seq, err := s.publishBatch(ctx, id, []*nats.Msg{data("landed"), fenceMsg(id, r.seq)})
	must(t, err)
	if err := r.resolve(ctx, id, "", lost); err != nil {
		t.Fatalf("resolve of a landed batch: %v", err)
	}
	if r.seq != seq {
		t.Fatalf("replica at fence revision %d, want the landed batch's %d", r.seq, seq)
	}

	// Not landed (yet): the barrier fences it out; sent late, it is refused.
	id = jsbatch.NewID()
	late := []*nats.Msg{data("late"), fenceMsg(id, r.seq)}
	if err := r.resolve(ctx, id, "", lost); !errors.Is(err, lost) {
		t.Fatalf("resolve of a batch that did not land: %v, want the cause", err)
	}
	if _, err := s.publishBatch(ctx, id, late); !jsbatch.IsWrongLastSequence(err) {
		t.Fatalf("the late batch after the barrier: %v, want a wrong last sequence", err)
	}
	e, err := s.kv.Get(ctx, dataKey(r.key, []byte("lid/1")))
	must(t, err)
	if string(e.Value()) != "landed" {
		t.Errorf("value %q, want the landed batch's", e.Value())
	}

	// A single message, landed, its acknowledgement lost.
	one := func(v string) (*nats.Msg, string) {
		m, id := data(v), jsbatch.NewID()
		m.Header.Set(hdrWrite, id)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, fmt.Sprint(r.seq))
		m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, subjectRoot+fenceKey(r.key))
		return m, id
	}
	m, id := one("single")
	_, err = js.PublishMsg(ctx, m)
	must(t, err)
	if err := r.resolve(ctx, id, m.Subject, lost); err != nil {
		t.Fatalf("resolve of a landed single write: %v", err)
	}
	// Not landed: the barrier fences it out.
	m, id = one("late single")
	if err := r.resolve(ctx, id, m.Subject, lost); !errors.Is(err, lost) {
		t.Fatalf("resolve of a single write that did not land: %v, want the cause", err)
	}
	if _, err := js.PublishMsg(ctx, m); !jsbatch.IsWrongLastSequence(err) {
		t.Fatalf("the late single write after the barrier: %v, want a wrong last sequence", err)
	}
	e, err = s.kv.Get(ctx, dataKey(r.key, []byte("lid/1")))
	must(t, err)
	if string(e.Value()) != "single" {
		t.Errorf("value %q, want the landed single write's", e.Value())
	}

	// The replica goes on.
	must(t, o.device(t).Sessions.PutSession(ctx, "x:0", []byte("v")))
}

// TestPurge: a purged session's state is gone from the bucket, a replica still open on
// it is refused, and the next owner's hydration deletes its local copy.
func TestPurge(t *testing.T) {
	ctx := context.Background()
	_, js, _ := startJS(t)
	s := openStore(t, js, Options{})
	o := claim(t, s, openDB(t), 1)
	d := o.device(t)
	must(t, d.Sessions.PutSession(ctx, "x:0", []byte("v")))
	must(t, s.Purge(ctx, tenant, session))
	if err := d.Sessions.PutSession(ctx, "y:0", []byte("v")); !errors.Is(err, cluster.ErrStaleToken) {
		t.Errorf("write after the purge: %v, want ErrStaleToken", err)
	}
	// The next owner restores the empty state over its local copy, not uploads it.
	stale := openDB(t)
	for k, v := range dump(t, o.db) {
		must(t, stale.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), []byte(v)) }))
	}
	rep, err := s.Claim(ctx, cluster.Fence{Key: skey, Token: 2})
	must(t, err)
	st, err := rep.Hydrate(ctx, stale)
	must(t, err)
	if st.Uploaded != 0 || len(dump(t, stale)) != 0 {
		t.Errorf("hydration after the purge %+v, %d keys left", st, len(dump(t, stale)))
	}
}

// TestReplicatedR3: on a 3-server JetStream cluster (R3), writes in a tight loop, single
// and batched, all go through and the bucket ends equal to the local copy. (A
// compare-and-set that comes while the previous proposal on the fence record is still
// being applied is refused for the moment with 10164: the benchmark's loop met it once
// in some thousands of writes, before retryBusy; TestRetryBusy covers the retry.)
func TestReplicatedR3(t *testing.T) {
	ctx := context.Background()
	lc, err := cluster.StartLocalCluster(ctx, t.TempDir(), 3)
	must(t, err)
	defer lc.Shutdown()
	nc, err := nats.Connect(lc.URL(0))
	must(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	must(t, err)
	s := openStore(t, js, Options{Replicas: 3})
	o := claim(t, s, openDB(t), 1)
	d := o.device(t)
	for i := range 300 {
		addr := fmt.Sprintf("1555%07d:0", i%20)
		if i%3 == 0 {
			must(t, d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
				must(t, d.Identities.PutIdentity(ctx, addr, [32]byte{byte(i)}))
				return d.Sessions.PutSession(ctx, addr, []byte{byte(i)})
			}))
		} else {
			must(t, d.Sessions.PutSession(ctx, addr, []byte{byte(i)}))
		}
	}
	if dd := diff(dump(t, o.db), bucketCopy(t, s, 2)); dd != "" {
		t.Errorf("bucket and local copy differ:\n%s", dd)
	}
}

func TestRetryBusy(t *testing.T) {
	busy := &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequenceConstant}
	wrong := &jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}
	for _, tc := range []struct {
		name  string
		errs  []error
		calls int
		want  error
	}{
		{"busy twice, then stored", []error{busy, busy, nil}, 3, nil},
		{"a real mismatch is not retried", []error{wrong}, 1, wrong},
		{"busy for ever: given up after 8", []error{busy, busy, busy, busy, busy, busy, busy, busy, busy}, 8, busy},
	} {
		calls := 0
		err := jsbatch.RetryBusy(context.Background(), func() error {
			calls++
			return tc.errs[calls-1]
		})
		if calls != tc.calls || !errors.Is(err, tc.want) {
			t.Errorf("%s: %d calls, %v; want %d calls, %v", tc.name, calls, err, tc.calls, tc.want)
		}
	}
}

// TestFirstClaimUploads: the first claim of a session ever (cluster mode turned on over
// a node's data) uploads the local copy; the next owner hydrates it.
func TestFirstClaimUploads(t *testing.T) {
	ctx := context.Background()
	_, js, _ := startJS(t)
	s := openStore(t, js, Options{MaxBatch: 4})
	db := openDB(t)
	c, err := wastore.New(db, tenant, session, nil)
	must(t, err)
	single := &owner{db: db, c: c} // a single node's session, no replica
	d := single.device(t)
	for i := range 5 {
		must(t, d.Sessions.PutSession(ctx, fmt.Sprintf("p%d:0", i), []byte("state")))
	}
	local := dump(t, db)
	rep, err := s.Claim(ctx, cluster.Fence{Key: skey, Token: 1})
	must(t, err)
	st, err := rep.Hydrate(ctx, db)
	must(t, err)
	if st.Uploaded != len(local) || st.Written+st.Deleted != 0 {
		t.Errorf("first hydration %+v, want %d keys uploaded and none changed", st, len(local))
	}
	if dd := diff(local, bucketCopy(t, s, 2)); dd != "" {
		t.Errorf("the next owner's copy differs from the uploaded one:\n%s", dd)
	}
}
