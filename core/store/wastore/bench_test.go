package wastore

// Benchmarks of the store operations whatsmeow makes for every message, on wastore and
// on whatsmeow's own sqlstore, side by side in one run:
//
//	go test -run '^$' -bench . -benchmem -count 3 ./core/store/wastore
//
// Every benchmark has one sub-benchmark per store, each on disk in a temp dir of its own:
//
//	wastore-sync     store.Open as shipped (store.sync_writes: true): every commit fsynced
//	wastore-nosync   SyncWrites off: a commit survives a process crash, not a power loss
//	sqlstore-full    SQLite (modernc.org/sqlite), WAL, foreign keys, synchronous FULL,
//	                 SQLite's default: every commit fsyncs the WAL; the peer of wastore-sync
//	sqlstore-normal  the same with synchronous NORMAL: the WAL is fsynced at checkpoints
//	                 only; the peer of wastore-nosync
//
// openBenchSQLStore says why these SQLite settings. Each store holds one paired device
// (BenchmarkInboundMessageParallel: 16) with benchPeers contacts, each with a Signal
// session (two real successive states, as libsignal serializes them: realSessions
// builds them), an identity key and a LID mapping. The operations cycle through the
// contacts.
// sqlstore's LID lookups go through its CachedLIDMap, as in any whatsmeow client: after
// the first lookup of a user they are a map read. docs/benchmarks.md has the figures.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/util/optional"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/store/sqlstore/upgrades"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// benchPeers is how many contacts the benchmark device has.
const benchPeers = 1000

// benchStore is one paired device under benchmark and the LID map its client uses.
type benchStore struct {
	device *wmstore.Device
	lids   wmstore.LIDStore
	peers  []benchPeer
}

// benchPeer is one contact of the benchmark device.
type benchPeer struct {
	lid, pn types.JID
	address string // Signal address of the LID's device 0, as whatsmeow keys sessions
	// sessions are two successive states of the session: a put alternates between them,
	// so that every put changes the stored value, as a ratchet step does.
	sessions [2][]byte
	identity [32]byte
}

// session returns the state to put at iteration i: never the one stored.
func (p *benchPeer) session(i int) []byte { return p.sessions[(i/benchPeers+1)%2] }

// A benchOpener opens one store in a temp dir and returns the container of device n
// (0, 1, ...) and its client's LID map: in wastore a container per gateway session, all
// in one Badger DB; in sqlstore one container for every device, as a whatsmeow program
// with several accounts has.
type benchOpener func(b *testing.B) func(n int) (container, wmstore.LIDStore)

// benchOpeners lists the stores, in the order of the sub-benchmarks.
var benchOpeners = []struct {
	name string
	open benchOpener
}{
	{"wastore-sync", func(b *testing.B) func(int) (container, wmstore.LIDStore) { return openBenchWastore(b, true) }},
	{"wastore-nosync", func(b *testing.B) func(int) (container, wmstore.LIDStore) { return openBenchWastore(b, false) }},
	{"sqlstore-full", func(b *testing.B) func(int) (container, wmstore.LIDStore) { return openBenchSQLStore(b, "FULL") }},
	{"sqlstore-normal", func(b *testing.B) func(int) (container, wmstore.LIDStore) { return openBenchSQLStore(b, "NORMAL") }},
}

func openBenchWastore(b *testing.B, sync bool) func(int) (container, wmstore.LIDStore) {
	db, err := store.Open(store.Options{Dir: b.TempDir(), SyncWrites: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return func(n int) (container, wmstore.LIDStore) {
		c, err := New(db, "acme", fmt.Sprint("session", n), nil)
		if err != nil {
			b.Fatal(err)
		}
		return c, c.LIDMap
	}
}

// openBenchSQLStore opens sqlstore with the settings of the SQLite drivers whatsmeow's
// author registers for his own programs (go.mau.fi/util/dbutil/litestream:
// "sqlite3-fk-wal" with synchronous NORMAL, "sqlite3-fk-wal-fullsync" with FULL):
// foreign keys, WAL, a 5 s busy timeout, and the immediate transactions their
// configuration asks for. One connection: concurrent writers then queue in
// database/sql, which is faster than several connections waiting in SQLite's busy
// handler, which sleeps (docs/benchmarks.md).
func openBenchSQLStore(b *testing.B, synchronous string) func(int) (container, wmstore.LIDStore) {
	ctx := context.Background()
	dsn := "file:" + filepath.Join(b.TempDir(), "whatsmeow.db") + "?_txlock=immediate" +
		"&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(" + synchronous + ")"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	var mode int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
		b.Fatal(err)
	}
	if want := map[string]int{"NORMAL": 1, "FULL": 2}[synchronous]; mode != want {
		b.Fatalf("PRAGMA synchronous is %d, want %d (%s)", mode, want, synchronous)
	}
	wrapped, err := dbutil.NewWithDB(db, "sqlite3")
	if err != nil {
		b.Fatal(err)
	}
	wrapped.UpgradeTable = upgrades.Table
	wrapped.VersionTable = "whatsmeow_version"
	c := sqlstore.NewWithWrappedDB(wrapped, nil)
	if err := c.Upgrade(ctx); err != nil {
		b.Fatal(err)
	}
	return func(int) (container, wmstore.LIDStore) { return c, c.LIDMap }
}

// newBenchStores opens a store and pairs n devices in it, each with benchPeers
// contacts of its own.
func newBenchStores(b *testing.B, open benchOpener, n int) []*benchStore {
	b.Helper()
	ctx := context.Background()
	states := realSessions(b)
	containerOf := open(b)
	out := make([]*benchStore, n)
	for dev := range n {
		c, lids := containerOf(dev)
		d := c.NewDevice()
		jid := types.NewADJID(fmt.Sprint(15559990000+dev), 0, 1)
		d.ID = &jid
		d.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("details"), AccountSignature: bytes.Repeat([]byte{1}, 64),
			AccountSignatureKey: bytes.Repeat([]byte{2}, 32), DeviceSignature: bytes.Repeat([]byte{3}, 64)}
		if err := c.PutDevice(ctx, d); err != nil {
			b.Fatal(err)
		}
		s := &benchStore{device: d, lids: lids, peers: make([]benchPeer, benchPeers)}
		sessions := make(map[string][]byte, benchPeers)
		mappings := make([]wmstore.LIDMapping, benchPeers)
		for i := range s.peers {
			p := &s.peers[i]
			p.lid = types.NewJID(fmt.Sprint(100000000000000+dev*benchPeers+i), types.HiddenUserServer)
			p.pn = types.NewJID(fmt.Sprint(15550000000+dev*benchPeers+i), types.DefaultUserServer)
			p.address = p.lid.SignalAddress().String()
			p.sessions = states
			rand.Read(p.identity[:])
			sessions[p.address] = states[0]
			mappings[i] = wmstore.LIDMapping{LID: p.lid, PN: p.pn}
		}
		if err := d.Sessions.PutManySessions(ctx, sessions); err != nil {
			b.Fatal(err)
		}
		if err := lids.PutManyLIDMappings(ctx, mappings); err != nil {
			b.Fatal(err)
		}
		err := d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			for _, p := range s.peers {
				if err := d.Identities.PutIdentity(ctx, p.address, p.identity); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		out[dev] = s
	}
	return out
}

// runBench runs fn once per iteration against every store, as sub-benchmarks, with one
// device; i counts the iterations of one sub-benchmark.
func runBench(b *testing.B, fn func(ctx context.Context, s *benchStore, i int) error) {
	for _, o := range benchOpeners {
		b.Run(o.name, func(b *testing.B) {
			s := newBenchStores(b, o.open, 1)[0]
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := fn(ctx, s, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkSessionGet(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		sess, err := s.device.Sessions.GetSession(ctx, p.address)
		if err == nil && len(sess) == 0 {
			err = fmt.Errorf("no session with %s", p.address)
		}
		return err
	})
}

func BenchmarkSessionPut(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		return s.device.Sessions.PutSession(ctx, p.address, p.session(i))
	})
}

func BenchmarkIdentityCheck(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		ok, err := s.device.Identities.IsTrustedIdentity(ctx, p.address, p.identity)
		if err == nil && !ok {
			err = fmt.Errorf("identity of %s not trusted", p.address)
		}
		return err
	})
}

func BenchmarkIdentityPut(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		return s.device.Identities.PutIdentity(ctx, p.address, p.identity)
	})
}

// benchSecret is a message secret (32 bytes, as WhatsApp's).
var benchSecret = bytes.Repeat([]byte{0x5e}, 32)

func BenchmarkMessageSecretPut(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		return s.device.MsgSecrets.PutMessageSecret(ctx, p.lid, p.lid, benchMessageID(i), benchSecret)
	})
}

func BenchmarkGetPNForLID(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		pn, err := s.lids.GetPNForLID(ctx, p.lid)
		if err == nil && pn != p.pn {
			err = fmt.Errorf("phone number of %s: %s, want %s", p.lid, pn, p.pn)
		}
		return err
	})
}

func BenchmarkGetLIDForPN(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		lid, err := s.lids.GetLIDForPN(ctx, p.pn)
		if err == nil && lid != p.lid {
			err = fmt.Errorf("LID of %s: %s, want %s", p.pn, lid, p.lid)
		}
		return err
	})
}

// BenchmarkDecryptionTxn is the store side of decrypting one 1:1 message: the calls
// libsignal's Cipher.Decrypt makes (has session, load session, identity check, save
// identity, store session) in one DoDecryptionTxn.
func BenchmarkDecryptionTxn(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		p := &s.peers[i%benchPeers]
		return s.device.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
			return decryptCalls(ctx, s.device, p, i)
		})
	})
}

// decryptCalls makes the store calls of libsignal's Cipher.Decrypt for a message from p.
func decryptCalls(ctx context.Context, d *wmstore.Device, p *benchPeer, i int) error {
	if ok, err := d.Sessions.HasSession(ctx, p.address); err != nil || !ok {
		return fmt.Errorf("session with %s: %t, %w", p.address, ok, err)
	}
	if _, err := d.Sessions.GetSession(ctx, p.address); err != nil {
		return err
	}
	if ok, err := d.Identities.IsTrustedIdentity(ctx, p.address, p.identity); err != nil || !ok {
		return fmt.Errorf("identity of %s: %t, %w", p.address, ok, err)
	}
	if err := d.Identities.PutIdentity(ctx, p.address, p.identity); err != nil {
		return err
	}
	return d.Sessions.PutSession(ctx, p.address, p.session(i))
}

// BenchmarkInboundMessage is the mix: every store call whatsmeow and the adapter make
// for one inbound 1:1 text message with the decrypted event buffer on (as NewClient
// sets it), one message at a time; see inboundMessage.
func BenchmarkInboundMessage(b *testing.B) {
	runBench(b, func(ctx context.Context, s *benchStore, i int) error {
		return inboundMessage(ctx, s, i)
	})
}

// benchParallelDevices is how many devices BenchmarkInboundMessageParallel receives
// on at once, at least.
const benchParallelDevices = 16

// BenchmarkInboundMessageParallel is the mix on many devices of one store at once, one
// goroutine per device, as a gateway with many sessions receives: ns/op is wall time
// per message over all of them.
func BenchmarkInboundMessageParallel(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	perProc := (benchParallelDevices + procs - 1) / procs
	for _, o := range benchOpeners {
		b.Run(o.name, func(b *testing.B) {
			stores := newBenchStores(b, o.open, perProc*procs)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(perProc)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				s := stores[next.Add(1)-1]
				ctx := context.Background()
				for i := 0; pb.Next(); i++ {
					if err := inboundMessage(ctx, s, i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchPlaintext is a decrypted message (a text message's protobuf is about this long).
var benchPlaintext = bytes.Repeat([]byte("m"), 200)

// inboundMessage makes, for the i-th message from a contact of s, the store calls of
// whatsmeow and the adapter, in their order:
//
//	GetLIDForPN                  whatsmeow, sender without its LID (decryptMessages)
//	GetPNForLID                  adapter, LID sender without phone number (chatOf)
//	GetBufferedEvent             whatsmeow, is this ciphertext decrypted already?
//	DoDecryptionTxn              decryptCalls + PutBufferedEvent, one commit
//	PutMessageSecret             whatsmeow, the message's secret (for reactions, polls)
//	ClearBufferedEventPlaintext  whatsmeow, once the event is handled
//
// Three commits per message in each store.
func inboundMessage(ctx context.Context, s *benchStore, i int) error {
	p := &s.peers[i%benchPeers]
	d := s.device
	if _, err := s.lids.GetLIDForPN(ctx, p.pn); err != nil {
		return err
	}
	if _, err := s.lids.GetPNForLID(ctx, p.lid); err != nil {
		return err
	}
	id := benchMessageID(i)
	hash := sha256.Sum256([]byte(id))
	if buf, err := d.EventBuffer.GetBufferedEvent(ctx, hash); err != nil || buf != nil {
		return fmt.Errorf("buffered event %s: %v, %w", id, buf, err)
	}
	err := d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
		if err := decryptCalls(ctx, d, p, i); err != nil {
			return err
		}
		return d.EventBuffer.PutBufferedEvent(ctx, hash, benchPlaintext, time.Unix(1_700_000_000, 0))
	})
	if err != nil {
		return err
	}
	if err := d.MsgSecrets.PutMessageSecret(ctx, p.lid, p.lid, id, benchSecret); err != nil {
		return err
	}
	return d.EventBuffer.ClearBufferedEventPlaintext(ctx, hash)
}

// benchMessageID is a message id unique to iteration i, shaped like WhatsApp's.
func benchMessageID(i int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return fmt.Sprintf("3EB0%016X", b)
}

var realSessionsOnce = sync.OnceValues(buildRealSessions)

// realSessions returns two successive states of Bob's Signal session with Alice, as
// libsignal serializes it: after Alice started it from Bob's prekey bundle and they
// exchanged realSessionRounds messages each way, and after one more message each way.
func realSessions(tb testing.TB) [2][]byte {
	s, err := realSessionsOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

const realSessionRounds = 10

func buildRealSessions() (states [2][]byte, err error) {
	ctx := context.Background()
	// On disk: an in-memory Badger refuses values over its value threshold (1 KiB).
	dir, err := os.MkdirTemp("", "wastore-session-")
	if err != nil {
		return states, err
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		return states, err
	}
	defer db.Close()
	c, err := New(db, "acme", "signal", nil)
	if err != nil {
		return states, err
	}
	pair := func(user string) (*wmstore.Device, error) {
		d := c.NewDevice()
		jid := types.NewADJID(user, 0, 1)
		d.ID = &jid
		d.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("details"), AccountSignature: make([]byte, 64),
			AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
		return d, c.PutDevice(ctx, d)
	}
	alice, err := pair("15550000001")
	if err != nil {
		return states, err
	}
	bob, err := pair("15550000002")
	if err != nil {
		return states, err
	}
	pks, err := bob.PreKeys.GetOrGenPreKeys(ctx, 1)
	if err != nil {
		return states, err
	}
	bundle := prekey.NewBundle(bob.RegistrationID, 0, optional.NewOptionalUint32(pks[0].KeyID), bob.SignedPreKey.KeyID,
		ecc.NewDjbECPublicKey(*pks[0].Pub), ecc.NewDjbECPublicKey(*bob.SignedPreKey.Pub), *bob.SignedPreKey.Signature,
		identity.NewKey(ecc.NewDjbECPublicKey(*bob.IdentityKey.Pub)))
	aliceAddr, bobAddr := protocol.NewSignalAddress("alice", 0), protocol.NewSignalAddress("bob", 0)
	ser := wmstore.SignalProtobufSerializer
	aliceBuilder := session.NewBuilderFromSignal(alice, bobAddr, ser)
	if err := aliceBuilder.ProcessBundle(ctx, bundle); err != nil {
		return states, err
	}
	toBob := session.NewCipher(aliceBuilder, bobAddr)
	toAlice := session.NewCipher(session.NewBuilderFromSignal(bob, aliceAddr, ser), aliceAddr)
	first, err := toBob.Encrypt(ctx, []byte("hello"))
	if err != nil {
		return states, err
	}
	if _, err := toAlice.DecryptMessage(ctx, first.(*protocol.PreKeySignalMessage)); err != nil {
		return states, err
	}
	for round := range realSessionRounds + 1 {
		m, err := toAlice.Encrypt(ctx, []byte("reply"))
		if err != nil {
			return states, err
		}
		if _, err := toBob.Decrypt(ctx, m.(*protocol.SignalMessage)); err != nil {
			return states, err
		}
		m, err = toBob.Encrypt(ctx, []byte("message"))
		if err != nil {
			return states, err
		}
		if _, err := toAlice.Decrypt(ctx, m.(*protocol.SignalMessage)); err != nil {
			return states, err
		}
		if round >= realSessionRounds-1 {
			if states[round-(realSessionRounds-1)], err = bob.Sessions.GetSession(ctx, aliceAddr.String()); err != nil {
				return states, err
			}
		}
	}
	return states, nil
}

func TestRealSessions(t *testing.T) {
	s := realSessions(t)
	if bytes.Equal(s[0], s[1]) {
		t.Fatal("the two session states are equal")
	}
	t.Logf("a Signal session after %d messages each way: %d bytes, after one more each way: %d bytes",
		realSessionRounds, len(s[0]), len(s[1]))
}
