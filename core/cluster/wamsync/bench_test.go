package wamsync

// The cost of a replicated wastore commit against a local one:
//
//	go test -run '^$' -bench . -benchmem ./core/cluster/wamsync
//
// Sub-benchmarks, each on a fresh Badger (sync_writes off, so the figure is the
// replication's, not the disk's) with one paired device and benchPeers contacts:
//
//	local    no replicator: the single-node path
//	r1       replicated to one embedded nats-server, file storage (R1)
//	r3       replicated to a 3-server embedded JetStream cluster on loopback, R3
//
// BenchmarkHydrate measures a new owner's hydration (r1, r3 only).
//
// All servers run in the benchmark's process, on the same cores as the store.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

const benchPeers = 100

// benchSetups are the ways of committing under benchmark; each returns the owner of a
// fresh session copy.
var benchSetups = []struct {
	name string
	open func(b *testing.B) *owner
}{
	{"local", func(b *testing.B) *owner {
		db := openBenchDB(b)
		c, err := wastore.New(db, tenant, session, nil)
		must(b, err)
		return &owner{db: db, c: c}
	}},
	{"r1", func(b *testing.B) *owner {
		_, js, _ := startJS(b)
		return claim(b, openStore(b, js, Options{}), openBenchDB(b), 1)
	}},
	{"r3", func(b *testing.B) *owner {
		lc, err := cluster.StartLocalCluster(context.Background(), b.TempDir(), 3)
		must(b, err)
		b.Cleanup(lc.Shutdown)
		nc, err := nats.Connect(lc.URL(0))
		must(b, err)
		b.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		must(b, err)
		return claim(b, openStore(b, js, Options{Replicas: 3}), openBenchDB(b), 1)
	}},
}

func openBenchDB(b *testing.B) *store.DB {
	db, err := store.Open(store.Options{Dir: b.TempDir(), SyncWrites: false})
	must(b, err)
	b.Cleanup(func() { db.Close() })
	return db
}

func benchAddr(i int) string { return fmt.Sprintf("1555%07d:0", i%benchPeers) }

// runCommitBench runs fn per iteration on every setup, with a device that has a
// session and an identity for every peer.
func runCommitBench(b *testing.B, fn func(ctx context.Context, d *wmstore.Device, i int) error) {
	for _, s := range benchSetups {
		b.Run(s.name, func(b *testing.B) {
			ctx := context.Background()
			o := s.open(b)
			d := o.device(b)
			for i := range benchPeers {
				must(b, d.Sessions.PutSession(ctx, benchAddr(i), []byte(fmt.Sprint("session ", i))))
				must(b, d.Identities.PutIdentity(ctx, benchAddr(i), [32]byte{byte(i)}))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := fn(ctx, d, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkPutSession is one write in a transaction of its own.
func BenchmarkPutSession(b *testing.B) {
	runCommitBench(b, func(ctx context.Context, d *wmstore.Device, i int) error {
		return d.Sessions.PutSession(ctx, benchAddr(i), fmt.Appendf(nil, "session %d", i))
	})
}

// BenchmarkDecryptionTxn is the store side of decrypting a 1:1 message, as whatsmeow's
// bufferedDecrypt does it: in one DoDecryptionTxn, libsignal's calls (has session, load
// session, identity check, save identity — unchanged, so not written — save session)
// and PutBufferedEvent (the event and its age index): three writes, one batch.
func BenchmarkDecryptionTxn(b *testing.B) {
	runCommitBench(b, func(ctx context.Context, d *wmstore.Device, i int) error {
		addr := benchAddr(i)
		return d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			if ok, err := d.Sessions.HasSession(ctx, addr); err != nil || !ok {
				return fmt.Errorf("session %s: %t, %w", addr, ok, err)
			}
			if _, err := d.Sessions.GetSession(ctx, addr); err != nil {
				return err
			}
			if _, err := d.Identities.IsTrustedIdentity(ctx, addr, [32]byte{byte(i % benchPeers)}); err != nil {
				return err
			}
			if err := d.Identities.PutIdentity(ctx, addr, [32]byte{byte(i % benchPeers)}); err != nil {
				return err
			}
			if err := d.Sessions.PutSession(ctx, addr, fmt.Appendf(nil, "session %d", i)); err != nil {
				return err
			}
			return d.EventBuffer.PutBufferedEvent(ctx, sha256.Sum256(fmt.Append(nil, i)), []byte("decrypted message"), time.Now())
		})
	})
}

// BenchmarkPublishFloor is the floor under a replicated commit: one plain JetStream
// publish of a small value into the bucket, acknowledged, with no batch and no fence.
func BenchmarkPublishFloor(b *testing.B) {
	for _, s := range benchSetups[1:] {
		b.Run(s.name, func(b *testing.B) {
			o := s.open(b)
			ctx := context.Background()
			subj := subjectRoot + dataKey(o.rep.key, []byte("floor"))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := o.rep.s.js.Publish(ctx, subj, []byte("session state")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHydrate is a new owner's hydration of a session with hydratePeers contacts,
// each with a 1,700-byte Signal session (libsignal's size after some messages), an
// identity key and a contact name, into an empty Badger: the part of a session's
// takeover time that grows with its state. Per op: one full hydration.
func BenchmarkHydrate(b *testing.B) {
	const hydratePeers = 1000
	for _, s := range benchSetups[1:] {
		b.Run(s.name, func(b *testing.B) {
			ctx := context.Background()
			o := s.open(b)
			d := o.device(b)
			sess := make([]byte, 1700)
			var entries []wmstore.ContactEntry
			for i := range hydratePeers {
				sess[0], sess[1] = byte(i), byte(i>>8)
				addr := fmt.Sprintf("1555%07d:0", i)
				must(b, d.Sessions.PutSession(ctx, addr, sess))
				must(b, d.Identities.PutIdentity(ctx, addr, [32]byte{byte(i)}))
				entries = append(entries, wmstore.ContactEntry{JID: types.NewJID(fmt.Sprintf("1555%07d", i), types.DefaultUserServer), FirstName: "F", FullName: "Full Name"})
			}
			must(b, d.Contacts.PutAllContactNames(ctx, entries))
			keys := len(dump(b, o.db))
			token := uint64(1)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				db := openBenchDB(b)
				token++
				b.StartTimer()
				rep, err := o.rep.s.Claim(ctx, cluster.Fence{Key: skey, Token: token})
				must(b, err)
				st, err := rep.Hydrate(ctx, db)
				must(b, err)
				if st.Written != keys {
					b.Fatalf("hydrated %d keys, want %d", st.Written, keys)
				}
			}
			b.ReportMetric(float64(keys), "keys")
		})
	}
}
