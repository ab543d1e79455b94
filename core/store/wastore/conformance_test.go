package wastore

// The conformance suite: seeded random sequences of operations, covering every method
// of every whatsmeow store interface and of the device container, run against
// whatsmeow's own sqlstore (SQLite through modernc.org/sqlite, pure Go) and against
// wastore, with the results compared operation by operation.
//
//	go test ./core/store/wastore -run Conformance                       # the default seeds
//	go test ./core/store/wastore -run Conformance -conformance.seed=42  # replay one seed
//	go test ./core/store/wastore -run Conformance -conformance.seeds=200 -conformance.ops=5000
//
// Where wastore deliberately differs from sqlstore (docs/whatsmeow.md lists each case),
// the reference is adjusted in the open, never the comparison:
//   - Contact operations go through a fresh sqlstore.SQLStore for each operation, for
//     the same reason: its contact cache keeps "not found" for contacts its table has.
//   - After DeleteDevice, the reference's privacy tokens of the device are deleted too:
//     sqlstore's table has no foreign key, wastore deletes every key of a device.
//   - A DoDecryptionTxn that rolls back holds no MigratePNToLID: sqlstore's migration
//     memo is not rolled back with its transaction, wastore's is.
//   - Empty PutPrivacyTokens calls (a SQL syntax error in sqlstore) are not generated.

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/store/sqlstore/upgrades"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", for the reference only

	"github.com/wagate/wagate/core/store"
)

var (
	flagSeed  = flag.Uint64("conformance.seed", 0, "run only this conformance seed")
	flagSeeds = flag.Int("conformance.seeds", 16, "number of conformance seeds (1..n)")
	flagOps   = flag.Int("conformance.ops", 2000, "operations per conformance seed")
)

func TestConformance(t *testing.T) {
	seeds := make([]uint64, 0, *flagSeeds)
	if *flagSeed != 0 {
		seeds = append(seeds, *flagSeed)
	} else {
		for i := range *flagSeeds {
			seeds = append(seeds, uint64(i+1))
		}
	}
	total := newCoverage()
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			cov := runConformance(t, seed, *flagOps)
			total.merge(cov)
		})
	}
	t.Cleanup(func() {
		if t.Failed() || *flagSeed != 0 || *flagOps < 500 || len(seeds) == 0 {
			return
		}
		// Every method of every interface (and every container method) must have run,
		// with a result to compare, in the default run.
		var counts []string
		for _, m := range allMethods {
			if total.ok[m] == 0 {
				t.Errorf("method %s never ran successfully in the conformance run", m)
			}
			counts = append(counts, fmt.Sprintf("%s %d", m, total.ok[m]))
		}
		t.Logf("operations without error in both stores, per method: %s", strings.Join(counts, ", "))
	})
}

// TestConformanceCoversEveryMethod: allMethods lists every method of whatsmeow's
// store.AllStores and of the container, so that a whatsmeow bump that adds a method
// fails here until the suite generates it.
func TestConformanceCoversEveryMethod(t *testing.T) {
	var want []string
	for _, typ := range []reflect.Type{reflect.TypeFor[wmstore.AllStores](), reflect.TypeFor[container]()} {
		for m := range typ.Methods() {
			want = append(want, m.Name)
		}
	}
	for _, m := range want {
		if !slices.Contains(allMethods, m) {
			t.Errorf("the conformance suite does not cover %s", m)
		}
	}
	for _, m := range allMethods {
		if !slices.Contains(want, m) {
			t.Errorf("allMethods lists %s, which is no store or container method", m)
		}
	}
}

// allMethods is every method the suite must exercise.
var allMethods = []string{
	"NewDevice", "PutDevice", "GetDevice", "GetAllDevices", "GetFirstDevice", "DeleteDevice",
	"PutIdentity", "DeleteAllIdentities", "DeleteIdentity", "IsTrustedIdentity",
	"GetSession", "HasSession", "GetManySessions", "PutSession", "PutManySessions", "DeleteAllSessions", "DeleteSession", "MigratePNToLID",
	"GetOrGenPreKeys", "GenOnePreKey", "GetPreKey", "RemovePreKey", "MarkPreKeysAsUploaded", "UploadedPreKeyCount",
	"PutSenderKey", "GetSenderKey",
	"PutAppStateSyncKey", "GetAppStateSyncKey", "GetLatestAppStateSyncKeyID", "GetAllAppStateSyncKeys",
	"PutAppStateVersion", "GetAppStateVersion", "DeleteAppStateVersion", "PutAppStateMutationMACs", "DeleteAppStateMutationMACs", "GetAppStateMutationMAC",
	"PutPushName", "PutBusinessName", "PutContactName", "PutAllContactNames", "PutManyRedactedPhones", "GetContact", "GetAllContacts",
	"PutMutedUntil", "PutPinned", "PutArchived", "GetChatSettings",
	"PutMessageSecrets", "PutMessageSecret", "GetMessageSecret",
	"PutPrivacyTokens", "GetPrivacyToken", "DeleteExpiredPrivacyTokens",
	"PutNCTSalt", "GetNCTSalt", "DeleteNCTSalt",
	"GetBufferedEvent", "PutBufferedEvent", "DoDecryptionTxn", "ClearBufferedEventPlaintext", "DeleteOldBufferedHashes",
	"AddOutgoingEvent", "GetOutgoingEvent", "DeleteOldOutgoingEvents",
	"PutManyLIDMappings", "PutLIDMapping", "GetPNForLID", "GetLIDForPN", "GetManyLIDsForPNs",
}

// coverage counts, per method, the operations that ran without error in both stores.
type coverage struct {
	mu sync.Mutex
	ok map[string]int
}

func newCoverage() *coverage { return &coverage{ok: map[string]int{}} }

func (c *coverage) merge(o *coverage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range o.ok {
		c.ok[k] += v
	}
}

// container is the device container API wastore mirrors from sqlstore.Container.
type container interface {
	NewDevice() *wmstore.Device
	GetAllDevices(ctx context.Context) ([]*wmstore.Device, error)
	GetFirstDevice(ctx context.Context) (*wmstore.Device, error)
	GetDevice(ctx context.Context, jid types.JID) (*wmstore.Device, error)
	PutDevice(ctx context.Context, device *wmstore.Device) error
	DeleteDevice(ctx context.Context, device *wmstore.Device) error
}

var (
	_ container = (*sqlstore.Container)(nil)
	_ container = (*Container)(nil)
)

// world is one implementation under test, with the handles the sequence uses.
type world struct {
	name string
	c    container
	// lids returns the LIDStore for one operation.
	lids func(ctx context.Context) (wmstore.LIDStore, error)
	// contacts returns the ContactStore of d for one operation.
	contacts func(d *wmstore.Device) wmstore.ContactStore
	// putEventAt buffers an event inserted at the given time.
	putEventAt func(ctx context.Context, d *wmstore.Device, hash [32]byte, plaintext []byte, server, at time.Time) error
	// addOutgoingAt keeps a sent message inserted at the given time.
	addOutgoingAt func(ctx context.Context, d *wmstore.Device, chat types.JID, id types.MessageID, format string, plaintext []byte, at time.Time) error
	// afterDelete adjusts the reference after DeleteDevice (see the file comment).
	afterDelete func(ctx context.Context, jid types.JID) error
	// sqlDB is the reference's database (nil for wastore).
	sqlDB *dbutil.Database
	// handles holds the one live device handle per saved device JID.
	handles map[string]*wmstore.Device
	// preKeys holds, per device, the private key each prekey id was generated with.
	preKeys map[string]map[uint32][32]byte
}

func newSQLWorld(t *testing.T) *world {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "ref.db")+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	wrapped, err := dbutil.NewWithDB(db, "sqlite3")
	if err != nil {
		t.Fatal(err)
	}
	wrapped.UpgradeTable = upgrades.Table
	wrapped.VersionTable = "whatsmeow_version"
	c := sqlstore.NewWithWrappedDB(wrapped, nil)
	if err := c.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	return &world{
		name:     "sqlstore",
		c:        c,
		sqlDB:    wrapped,
		lids:     func(context.Context) (wmstore.LIDStore, error) { return c.LIDMap, nil },
		contacts: func(d *wmstore.Device) wmstore.ContactStore { return sqlstore.NewSQLStore(c, *d.ID) },
		putEventAt: func(ctx context.Context, d *wmstore.Device, hash [32]byte, plaintext []byte, server, at time.Time) error {
			if err := d.EventBuffer.PutBufferedEvent(ctx, hash, plaintext, server); err != nil {
				return err
			}
			_, err := wrapped.Exec(ctx, `UPDATE whatsmeow_event_buffer SET insert_timestamp=$1 WHERE our_jid=$2 AND ciphertext_hash=$3`,
				at.UnixMilli(), d.ID.String(), hash[:])
			return err
		},
		addOutgoingAt: func(ctx context.Context, d *wmstore.Device, chat types.JID, id types.MessageID, format string, plaintext []byte, at time.Time) error {
			if err := d.EventBuffer.AddOutgoingEvent(ctx, chat, id, format, plaintext); err != nil {
				return err
			}
			_, err := wrapped.Exec(ctx, `UPDATE whatsmeow_retry_buffer SET timestamp=$1 WHERE our_jid=$2 AND chat_jid=$3 AND message_id=$4`,
				at.UnixMilli(), d.ID.String(), chat, id)
			return err
		},
		afterDelete: func(ctx context.Context, jid types.JID) error {
			_, err := wrapped.Exec(ctx, `DELETE FROM whatsmeow_privacy_tokens WHERE our_jid=$1`, jid.String())
			return err
		},
		handles: map[string]*wmstore.Device{},
		preKeys: map[string]map[uint32][32]byte{},
	}
}

func newBadgerWorld(t *testing.T) *world {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := New(db, "acme", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	var insertAt time.Time
	c.now = func() time.Time {
		if !insertAt.IsZero() {
			return insertAt
		}
		return time.Now()
	}
	return &world{
		name:     "wastore",
		c:        c,
		lids:     func(context.Context) (wmstore.LIDStore, error) { return c.LIDMap, nil },
		contacts: func(d *wmstore.Device) wmstore.ContactStore { return d.Contacts },
		putEventAt: func(ctx context.Context, d *wmstore.Device, hash [32]byte, plaintext []byte, server, at time.Time) error {
			insertAt = at
			defer func() { insertAt = time.Time{} }()
			return d.EventBuffer.PutBufferedEvent(ctx, hash, plaintext, server)
		},
		addOutgoingAt: func(ctx context.Context, d *wmstore.Device, chat types.JID, id types.MessageID, format string, plaintext []byte, at time.Time) error {
			insertAt = at
			defer func() { insertAt = time.Time{} }()
			return d.EventBuffer.AddOutgoingEvent(ctx, chat, id, format, plaintext)
		},
		afterDelete: func(context.Context, types.JID) error { return nil },
		handles:     map[string]*wmstore.Device{},
		preKeys:     map[string]map[uint32][32]byte{},
	}
}

// restart is what the session's whatsmeow sees when the session restarts, on another
// node with db (a wastore world) or in place (db nil): device handles loaded afresh from
// the store, and for wastore a new container on db, with the world's clock.
func (w *world) restart(t *testing.T, db *store.DB) {
	ctx := context.Background()
	if db != nil {
		old := w.c.(*Container)
		c, err := New(db, old.tenant, old.session, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.now = old.now
		w.c = c
		w.lids = func(context.Context) (wmstore.LIDStore, error) { return c.LIDMap, nil }
	}
	for jid := range w.handles {
		j, err := types.ParseJID(jid)
		if err != nil {
			t.Fatal(err)
		}
		d, err := w.c.GetDevice(ctx, j)
		if err != nil || d == nil {
			t.Fatalf("%s: device %s after the restart: %v, %v", w.name, jid, d, err)
		}
		w.handles[jid] = d
	}
}

// op is one generated operation, applied alike to each world.
type op struct {
	method string
	desc   string
	run    func(ctx context.Context, w *world) (string, error)
}

func runConformance(t *testing.T, seed uint64, n int) *coverage {
	return runConformanceOn(t, seed, n, newBadgerWorld(t), 0, nil)
}

// runConformanceOn runs the sequence of seed on got (a wastore world) and the reference.
// With move, every every operations both restart: got moves to the DB move returns (see
// world.restart), the reference reloads its devices.
func runConformanceOn(t *testing.T, seed uint64, n int, got *world, every int, move func() *store.DB) *coverage {
	ref := newSQLWorld(t)
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), saved: map[int]bool{}}
	cov := newCoverage()
	ctx := context.Background()
	for i := range n {
		if move != nil && i > 0 && i%every == 0 {
			ref.restart(t, nil)
			got.restart(t, move())
		}
		o := g.next()
		refRes, refErr := o.run(ctx, ref)
		gotRes, gotErr := o.run(ctx, got)
		if (refErr != nil) != (gotErr != nil) || refErr == nil && refRes != gotRes {
			t.Fatalf("seed %d, op %d: %s\n  sqlstore: %s (err: %v)\n  wastore:  %s (err: %v)\n  replay: go test ./core/store/wastore -run Conformance -conformance.seed=%d -conformance.ops=%d",
				seed, i, o.desc, refRes, refErr, gotRes, gotErr, seed, i+1)
		}
		if refErr == nil {
			cov.ok[o.method]++
		}
	}
	return cov
}

// Pools of identifiers, small so that operations collide. Phone numbers have 11
// digits and LIDs 15, as real ones do; see docs/whatsmeow.md on why the length matters.
var (
	pnUsers    = []string{"15551230001", "15551230002", "15551230003", "15551230004"}
	lidUsers   = []string{"100000000000001", "100000000000002", "100000000000003", "100000000000004"}
	groupJIDs  = []types.JID{types.NewJID("120363000000001", types.GroupServer), types.NewJID("120363000000002", types.GroupServer)}
	deviceJIDs = []types.JID{types.NewADJID("15559990001", 0, 1), types.NewADJID("15559990002", 0, 7)}
	msgIDs     = []string{"3EB0A1", "3EB0A2", "3EB0A3"}
	appStates  = []string{"regular", "critical_block"}
	names      = []string{"", "Ann", "Bob", "Zoë"}
	redacted   = []string{"", "+1 555-***-**01", "+1 555-***-**02"}
	platforms  = []string{"", "android", "smba"}
	// identityKeys are the identity keys PutIdentity saves.
	identityKeys = [][32]byte{{1}, {2}, {3}}
)

// gen generates operations from one seed. saved tracks which device JIDs are saved.
type gen struct {
	r     *rand.Rand
	saved map[int]bool
	// pools generated once per seed
	indexMACs [][]byte
	hashes    [][32]byte
	syncIDs   [][]byte
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }
func (g *gen) chance(p float64) bool {
	return g.r.Float64() < p
}

func (g *gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// blob is a random value: sometimes empty, sometimes nil when nilOK.
func (g *gen) blob(nilOK bool) []byte {
	switch {
	case nilOK && g.chance(0.05):
		return nil
	case g.chance(0.05):
		return []byte{}
	}
	return g.bytes(1 + g.pick(12))
}

// nonNil is a random value for a NOT NULL column: nil now and then, which both
// stores must refuse.
func (g *gen) nonNil() []byte {
	if g.chance(0.04) {
		return nil
	}
	return g.blob(false)
}

func (g *gen) pn() string  { return pnUsers[g.pick(len(pnUsers))] }
func (g *gen) lid() string { return lidUsers[g.pick(len(lidUsers))] }

// signalUser is the Signal address user of a phone number or a LID.
func (g *gen) signalUser() string {
	if g.chance(0.5) {
		return g.pn()
	}
	return g.lid() + "_1"
}

func (g *gen) address() string { return fmt.Sprintf("%s:%d", g.signalUser(), g.pick(3)) }

// userJID is a phone number or LID JID, now and then with a device, or a group.
func (g *gen) userJID() types.JID {
	var j types.JID
	switch g.pick(5) {
	case 0, 1:
		j = types.NewJID(g.pn(), types.DefaultUserServer)
	case 2, 3:
		j = types.NewJID(g.lid(), types.HiddenUserServer)
	default:
		return groupJIDs[g.pick(len(groupJIDs))]
	}
	if g.chance(0.2) {
		j.Device = uint16(1 + g.pick(3))
	}
	return j
}

// pairJID is the phone number or the LID JID of one of the first two users (whose
// pairs the LID map usually holds), now and then with a device, or the first group:
// message secrets and privacy tokens saved under one JID of a user and looked up
// under the other.
func (g *gen) pairJID() types.JID {
	i := g.pick(2)
	var j types.JID
	switch g.pick(5) {
	case 0, 1:
		j = types.NewJID(pnUsers[i], types.DefaultUserServer)
	case 2, 3:
		j = types.NewJID(lidUsers[i], types.HiddenUserServer)
	default:
		return groupJIDs[0]
	}
	if g.chance(0.2) {
		j.Device = uint16(1 + g.pick(3))
	}
	return j
}

func (g *gen) pnJID() types.JID {
	j := types.NewJID(g.pn(), types.DefaultUserServer)
	j.Device = uint16(g.pick(3))
	return j
}

func (g *gen) lidJID() types.JID {
	j := types.NewJID(g.lid(), types.HiddenUserServer)
	j.Device = uint16(g.pick(3))
	return j
}

func (g *gen) indexMAC() []byte {
	if g.indexMACs == nil {
		for range 6 {
			g.indexMACs = append(g.indexMACs, g.bytes(32))
		}
	}
	return g.indexMACs[g.pick(len(g.indexMACs))]
}

func (g *gen) hash() [32]byte {
	if g.hashes == nil {
		for range 4 {
			g.hashes = append(g.hashes, [32]byte(g.bytes(32)))
		}
	}
	return g.hashes[g.pick(len(g.hashes))]
}

func (g *gen) syncID() []byte {
	if g.syncIDs == nil {
		g.syncIDs = [][]byte{{0x00, 0x01}, {0x00, 0x02}, {0x7f, 0x00, 0x01}}
	}
	return g.syncIDs[g.pick(len(g.syncIDs))]
}

// outgoingChat is the chat of a sent message: mostly a JID of the first two users (with
// or without device) or a group, now and then the empty JID (refused by AddOutgoingEvent,
// matching nothing in GetOutgoingEvent).
func (g *gen) outgoingChat() types.JID {
	if g.chance(0.05) {
		return types.JID{}
	}
	return g.pairJID()
}

// outgoingID is the id of a sent message, now and then empty.
func (g *gen) outgoingID() types.MessageID {
	if g.chance(0.05) {
		return ""
	}
	return msgIDs[g.pick(2)]
}

// pairOf is the other JID of one of the first two users (their LID for their phone
// number and the reverse, device kept), or the empty JID for any other JID.
func pairOf(j types.JID) types.JID {
	for i := range 2 {
		switch {
		case j.Server == types.DefaultUserServer && j.User == pnUsers[i]:
			j.User, j.Server = lidUsers[i], types.HiddenUserServer
			return j
		case j.Server == types.HiddenUserServer && j.User == lidUsers[i]:
			j.User, j.Server = pnUsers[i], types.DefaultUserServer
			return j
		}
	}
	return types.JID{}
}

// next returns the next operation: mostly store operations on a saved device.
func (g *gen) next() op {
	if len(g.saved) == 0 || g.chance(0.06) {
		return g.containerOp()
	}
	if g.chance(0.1) {
		return g.lidOp()
	}
	if g.chance(0.05) {
		return g.txnOp()
	}
	return g.deviceOp(g.savedDevice(), false)
}

func (g *gen) savedDevice() int {
	var ids []int
	for i := range deviceJIDs {
		if g.saved[i] {
			ids = append(ids, i)
		}
	}
	return ids[g.pick(len(ids))]
}

// deviceSpec is a device's content, generated once and built alike in each world.
type deviceSpec struct {
	noise, identity, signed [32]byte
	signedID                uint32
	signedSig               [64]byte
	regID                   uint32
	advKey                  []byte
	account                 *waAdv.ADVSignedDeviceIdentity
	lid                     types.JID
	platform, business      string
	push                    string
	fbUUID                  uuid.UUID
	migrationTS             int64
	metaNonce               string
}

func (g *gen) deviceSpec() deviceSpec {
	s := deviceSpec{
		noise: [32]byte(g.bytes(32)), identity: [32]byte(g.bytes(32)), signed: [32]byte(g.bytes(32)),
		signedID: uint32(1 + g.pick(100)), signedSig: [64]byte(g.bytes(64)), regID: g.r.Uint32(),
		advKey: g.bytes(32),
		account: &waAdv.ADVSignedDeviceIdentity{Details: g.bytes(1 + g.pick(20)), AccountSignature: g.bytes(64),
			AccountSignatureKey: g.bytes(32), DeviceSignature: g.bytes(64)},
		platform: platforms[g.pick(len(platforms))], business: names[g.pick(len(names))], push: names[g.pick(len(names))],
		migrationTS: int64(g.pick(3)) * 1_700_000_000,
		metaNonce:   []string{"", "", "nonce-a", "nonce-b"}[g.pick(4)],
	}
	if g.chance(0.5) {
		s.lid = types.NewADJID(g.lid(), types.LIDDomain, uint8(g.pick(3)))
	}
	if g.chance(0.5) {
		s.fbUUID = uuid.UUID(g.bytes(16))
	}
	if g.chance(0.03) {
		s.account.AccountSignature = g.bytes(10) // refused by both (CHECK)
	}
	return s
}

func (s deviceSpec) build(c container, jid types.JID) *wmstore.Device {
	d := c.NewDevice()
	d.ID = &jid
	s.apply(d)
	d.NoiseKey = keys.NewKeyPairFromPrivateKey(s.noise)
	d.IdentityKey = keys.NewKeyPairFromPrivateKey(s.identity)
	d.SignedPreKey = &keys.PreKey{KeyPair: *keys.NewKeyPairFromPrivateKey(s.signed), KeyID: s.signedID, Signature: &s.signedSig}
	d.RegistrationID = s.regID
	d.AdvSecretKey = s.advKey
	d.Account = &waAdv.ADVSignedDeviceIdentity{Details: s.account.Details, AccountSignature: s.account.AccountSignature,
		AccountSignatureKey: s.account.AccountSignatureKey, DeviceSignature: s.account.DeviceSignature}
	d.FacebookUUID = s.fbUUID
	return d
}

// apply sets the fields a re-save updates.
func (s deviceSpec) apply(d *wmstore.Device) {
	d.LID, d.Platform, d.BusinessName, d.PushName, d.LIDMigrationTimestamp, d.CompanionMetaNonce =
		s.lid, s.platform, s.business, s.push, s.migrationTS, s.metaNonce
}

func (g *gen) containerOp() op {
	i := g.pick(len(deviceJIDs))
	jid := deviceJIDs[i]
	switch k := g.pick(10); {
	case k < 4 || len(g.saved) == 0:
		spec := g.deviceSpec()
		fresh := !g.saved[i] || g.chance(0.3)
		if spec.account.AccountSignature != nil && len(spec.account.AccountSignature) == 64 {
			g.saved[i] = true
		}
		return op{"PutDevice", fmt.Sprintf("PutDevice(%s, fresh=%v)", jid, fresh), func(ctx context.Context, w *world) (string, error) {
			d := w.handles[jid.String()]
			if fresh || d == nil {
				d = spec.build(w.c, jid)
			} else {
				// A re-save: the names and LID change; the keys changed here must not.
				spec.apply(d)
				d.NoiseKey = keys.NewKeyPairFromPrivateKey(spec.noise)
				d.RegistrationID = spec.regID
			}
			if err := w.c.PutDevice(ctx, d); err != nil {
				return "", err
			}
			w.handles[jid.String()] = d
			return "ok", nil
		}}
	case k < 6:
		return op{"GetDevice", fmt.Sprintf("GetDevice(%s)", jid), func(ctx context.Context, w *world) (string, error) {
			d, err := w.c.GetDevice(ctx, jid)
			return fmtDevice(d), err
		}}
	case k < 7:
		return op{"GetAllDevices", "GetAllDevices()", func(ctx context.Context, w *world) (string, error) {
			all, err := w.c.GetAllDevices(ctx)
			out := make([]string, len(all))
			for i, d := range all {
				out[i] = fmtDevice(d)
			}
			return strings.Join(out, "\n    "), err
		}}
	case k < 8:
		return op{"GetFirstDevice", "GetFirstDevice()", func(ctx context.Context, w *world) (string, error) {
			d, err := w.c.GetFirstDevice(ctx)
			return fmtDevice(d), err
		}}
	case k < 9:
		return op{"NewDevice", "NewDevice()", func(_ context.Context, w *world) (string, error) {
			d := w.c.NewDevice()
			return fmt.Sprintf("id=%v initialized=%v container=%v keys=%v", d.ID, d.Initialized, d.Container != nil,
				d.NoiseKey != nil && d.IdentityKey != nil && d.SignedPreKey != nil && d.SignedPreKey.KeyID == 1 && len(d.AdvSecretKey) == 32), nil
		}}
	default:
		delete(g.saved, i)
		return op{"DeleteDevice", fmt.Sprintf("DeleteDevice(%s)", jid), func(ctx context.Context, w *world) (string, error) {
			d := w.handles[jid.String()]
			if d == nil {
				j := jid
				d = &wmstore.Device{ID: &j}
			}
			if err := w.c.DeleteDevice(ctx, d); err != nil {
				return "", err
			}
			delete(w.handles, jid.String())
			delete(w.preKeys, jid.String())
			return "ok", w.afterDelete(ctx, jid)
		}}
	}
}

// fmtDevice is the comparable content of a device.
func fmtDevice(d *wmstore.Device) string {
	if d == nil {
		return "<nil>"
	}
	if d.ID == nil {
		return fmt.Sprintf("unsaved device initialized=%v", d.Initialized)
	}
	return fmt.Sprintf("id=%s lid=%+v reg=%d noise=%x identity=%x signed=%d/%x/%x adv=%x account=%x/%x/%x/%x platform=%q business=%q push=%q fb=%s lidts=%d nonce=%q init=%v deleted=%v stores=%v",
		d.ID, d.LID, d.RegistrationID, d.NoiseKey.Priv[:], d.IdentityKey.Priv[:], d.SignedPreKey.KeyID, d.SignedPreKey.Priv[:], d.SignedPreKey.Signature[:],
		d.AdvSecretKey, d.Account.Details, d.Account.AccountSignature, d.Account.AccountSignatureKey, d.Account.DeviceSignature,
		d.Platform, d.BusinessName, d.PushName, d.FacebookUUID, d.LIDMigrationTimestamp, d.CompanionMetaNonce, d.Initialized, d.Deleted,
		d.Identities != nil && d.Sessions != nil && d.PreKeys != nil && d.SenderKeys != nil && d.AppStateKeys != nil && d.AppState != nil &&
			d.Contacts != nil && d.ChatSettings != nil && d.MsgSecrets != nil && d.PrivacyTokens != nil && d.NCTSalt != nil && d.EventBuffer != nil && d.LIDs != nil && d.Container != nil)
}

// Result formatting: nil and empty byte slices differ (whatsmeow tells a missing
// session or plaintext by nil).

func fb(b []byte) string {
	if b == nil {
		return "nil"
	}
	return "[" + hex.EncodeToString(b) + "]"
}

func fj(j types.JID) string { return fmt.Sprintf("%+v", j) }

func ft(t time.Time) string {
	switch {
	case t.IsZero():
		return "zero"
	case t == wmstore.MutedForever:
		return "forever"
	}
	return fmt.Sprintf("%d@%s", t.UnixNano(), t.Location())
}

func sortedLines(lines []string) string {
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

// deviceOp is a store operation on device i. inTxn restricts it to what may run in a
// DoDecryptionTxn that rolls back (see the file comment).
func (g *gen) deviceOp(i int, rollback bool) op {
	jid := deviceJIDs[i].String()
	on := func(method, desc string, fn func(ctx context.Context, w *world, d *wmstore.Device) (string, error)) op {
		return op{method, fmt.Sprintf("[%s] %s", jid, desc), func(ctx context.Context, w *world) (string, error) {
			d := w.handles[jid]
			if d == nil {
				return "no device handle", nil
			}
			return fn(ctx, w, d)
		}}
	}
	for {
		switch g.pick(72) {
		// IdentityStore
		case 0, 1:
			addr, key := g.address(), identityKeys[g.pick(len(identityKeys))]
			return on("PutIdentity", fmt.Sprintf("PutIdentity(%s, %x)", addr, key[:4]), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Identities.PutIdentity(ctx, addr, key)
			})
		case 2:
			phone := g.signalUser()
			return on("DeleteAllIdentities", fmt.Sprintf("DeleteAllIdentities(%s)", phone), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Identities.DeleteAllIdentities(ctx, phone)
			})
		case 3:
			addr := g.address()
			return on("DeleteIdentity", fmt.Sprintf("DeleteIdentity(%s)", addr), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Identities.DeleteIdentity(ctx, addr)
			})
		case 4, 5:
			addr := g.address()
			return on("IsTrustedIdentity", fmt.Sprintf("IsTrustedIdentity(%s)", addr), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				// Asking with each key of the pool tells which one the store holds, if any.
				var out []string
				for _, k := range identityKeys {
					ok, err := d.Identities.IsTrustedIdentity(ctx, addr, k)
					if err != nil {
						return "", err
					}
					out = append(out, fmt.Sprint(ok))
				}
				return strings.Join(out, ","), nil
			})
		// SessionStore
		case 6, 7:
			addr := g.address()
			return on("GetSession", fmt.Sprintf("GetSession(%s)", addr), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				s, err := d.Sessions.GetSession(ctx, addr)
				return fb(s), err
			})
		case 8:
			addr := g.address()
			return on("HasSession", fmt.Sprintf("HasSession(%s)", addr), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				ok, err := d.Sessions.HasSession(ctx, addr)
				return fmt.Sprint(ok), err
			})
		case 9:
			var addrs []string
			for range g.pick(5) {
				addrs = append(addrs, g.address())
			}
			return on("GetManySessions", fmt.Sprintf("GetManySessions(%v)", addrs), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				m, err := d.Sessions.GetManySessions(ctx, addrs)
				if m == nil {
					return "nil map", err
				}
				var lines []string
				for k, v := range m {
					lines = append(lines, k+"="+fb(v))
				}
				return sortedLines(lines), err
			})
		case 10, 11:
			addr, sess := g.address(), g.blob(true)
			return on("PutSession", fmt.Sprintf("PutSession(%s, %s)", addr, fb(sess)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Sessions.PutSession(ctx, addr, sess)
			})
		case 12:
			m := map[string][]byte{}
			for range g.pick(4) {
				m[g.address()] = g.blob(true)
			}
			return on("PutManySessions", fmt.Sprintf("PutManySessions(%d)", len(m)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Sessions.PutManySessions(ctx, m)
			})
		case 13:
			phone := g.signalUser()
			return on("DeleteAllSessions", fmt.Sprintf("DeleteAllSessions(%s)", phone), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Sessions.DeleteAllSessions(ctx, phone)
			})
		case 14:
			addr := g.address()
			return on("DeleteSession", fmt.Sprintf("DeleteSession(%s)", addr), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Sessions.DeleteSession(ctx, addr)
			})
		case 15, 16:
			if rollback {
				continue
			}
			pn, lid := g.pnJID(), g.lidJID()
			return on("MigratePNToLID", fmt.Sprintf("MigratePNToLID(%s, %s)", pn, lid), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.Sessions.MigratePNToLID(ctx, pn, lid)
			})
		// PreKeyStore
		case 17:
			count := uint32(g.pick(5))
			return on("GetOrGenPreKeys", fmt.Sprintf("GetOrGenPreKeys(%d)", count), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				ks, err := d.PreKeys.GetOrGenPreKeys(ctx, count)
				return w.fmtPreKeys(jid, ks, true), err
			})
		case 18:
			return on("GenOnePreKey", "GenOnePreKey()", func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				k, err := d.PreKeys.GenOnePreKey(ctx)
				return w.fmtPreKeys(jid, []*keys.PreKey{k}, true), err
			})
		case 19, 20:
			id := uint32(g.pick(12))
			return on("GetPreKey", fmt.Sprintf("GetPreKey(%d)", id), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				k, err := d.PreKeys.GetPreKey(ctx, id)
				return w.fmtPreKeys(jid, []*keys.PreKey{k}, false), err
			})
		case 21:
			id := uint32(g.pick(12))
			return on("RemovePreKey", fmt.Sprintf("RemovePreKey(%d)", id), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.PreKeys.RemovePreKey(ctx, id)
			})
		case 22:
			id := uint32(g.pick(12))
			return on("MarkPreKeysAsUploaded", fmt.Sprintf("MarkPreKeysAsUploaded(%d)", id), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.PreKeys.MarkPreKeysAsUploaded(ctx, id)
			})
		case 23:
			return on("UploadedPreKeyCount", "UploadedPreKeyCount()", func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				n, err := d.PreKeys.UploadedPreKeyCount(ctx)
				return fmt.Sprint(n), err
			})
		// SenderKeyStore
		case 24, 25:
			group, user, key := groupJIDs[g.pick(2)].String(), g.address(), g.nonNil()
			return on("PutSenderKey", fmt.Sprintf("PutSenderKey(%s, %s, %s)", group, user, fb(key)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.SenderKeys.PutSenderKey(ctx, group, user, key)
			})
		case 26:
			group, user := groupJIDs[g.pick(2)].String(), g.address()
			return on("GetSenderKey", fmt.Sprintf("GetSenderKey(%s, %s)", group, user), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				k, err := d.SenderKeys.GetSenderKey(ctx, group, user)
				return fb(k), err
			})
		// AppStateSyncKeyStore
		case 27:
			id := g.syncID()
			key := wmstore.AppStateSyncKey{Data: g.nonNil(), Fingerprint: g.nonNil(), Timestamp: int64(g.pick(6))}
			return on("PutAppStateSyncKey", fmt.Sprintf("PutAppStateSyncKey(%x, ts=%d)", id, key.Timestamp), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.AppStateKeys.PutAppStateSyncKey(ctx, id, key)
			})
		case 28:
			id := g.syncID()
			return on("GetAppStateSyncKey", fmt.Sprintf("GetAppStateSyncKey(%x)", id), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				k, err := d.AppStateKeys.GetAppStateSyncKey(ctx, id)
				if k == nil {
					return "nil", err
				}
				return fmt.Sprintf("%s %s %d", fb(k.Data), fb(k.Fingerprint), k.Timestamp), err
			})
		case 29:
			return on("GetLatestAppStateSyncKeyID", "GetLatestAppStateSyncKeyID()", func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				id, err := d.AppStateKeys.GetLatestAppStateSyncKeyID(ctx)
				return fb(id), err
			})
		// AppStateStore
		case 30:
			name, version, hash := appStates[g.pick(2)], uint64(g.pick(6)), [128]byte(g.bytes(128))
			return on("PutAppStateVersion", fmt.Sprintf("PutAppStateVersion(%s, %d)", name, version), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.AppState.PutAppStateVersion(ctx, name, version, hash)
			})
		case 31:
			name := appStates[g.pick(2)]
			return on("GetAppStateVersion", fmt.Sprintf("GetAppStateVersion(%s)", name), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				v, h, err := d.AppState.GetAppStateVersion(ctx, name)
				return fmt.Sprintf("%d %x", v, h[:]), err
			})
		case 32:
			if g.chance(0.7) {
				continue // rarer: it drops every MAC of the state
			}
			name := appStates[g.pick(2)]
			return on("DeleteAppStateVersion", fmt.Sprintf("DeleteAppStateVersion(%s)", name), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.AppState.DeleteAppStateVersion(ctx, name)
			})
		case 33, 34:
			name, version := appStates[g.pick(2)], uint64(1+g.pick(4))
			var muts []wmstore.AppStateMutationMAC
			for range g.pick(4) {
				v := g.bytes(32)
				if g.chance(0.03) {
					v = g.bytes(16) // refused by both (CHECK)
				}
				muts = append(muts, wmstore.AppStateMutationMAC{IndexMAC: g.indexMAC(), ValueMAC: v})
			}
			return on("PutAppStateMutationMACs", fmt.Sprintf("PutAppStateMutationMACs(%s, %d, %d)", name, version, len(muts)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.AppState.PutAppStateMutationMACs(ctx, name, version, muts)
			})
		case 35:
			name := appStates[g.pick(2)]
			var macs [][]byte
			for range g.pick(3) {
				if g.chance(0.1) {
					macs = append(macs, nil)
				} else {
					macs = append(macs, g.indexMAC())
				}
			}
			return on("DeleteAppStateMutationMACs", fmt.Sprintf("DeleteAppStateMutationMACs(%s, %d)", name, len(macs)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.AppState.DeleteAppStateMutationMACs(ctx, name, macs)
			})
		case 36, 37:
			name, mac := appStates[g.pick(2)], g.indexMAC()
			return on("GetAppStateMutationMAC", fmt.Sprintf("GetAppStateMutationMAC(%s, %x)", name, mac[:4]), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				v, err := d.AppState.GetAppStateMutationMAC(ctx, name, mac)
				return fb(v), err
			})
		// ContactStore
		case 38, 39, 40:
			user, name := g.userJID(), names[g.pick(len(names))]
			switch g.pick(3) {
			case 0:
				return on("PutPushName", fmt.Sprintf("PutPushName(%s, %q)", user, name), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
					changed, prev, err := w.contacts(d).PutPushName(ctx, user, name)
					return fmt.Sprintf("%v %q", changed, prev), err
				})
			case 1:
				return on("PutBusinessName", fmt.Sprintf("PutBusinessName(%s, %q)", user, name), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
					changed, prev, err := w.contacts(d).PutBusinessName(ctx, user, name)
					return fmt.Sprintf("%v %q", changed, prev), err
				})
			}
			first := names[g.pick(len(names))]
			return on("PutContactName", fmt.Sprintf("PutContactName(%s, %q, %q)", user, first, name), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				return "ok", w.contacts(d).PutContactName(ctx, user, first, name)
			})
		case 41:
			var entries []wmstore.ContactEntry
			for range g.pick(5) {
				entries = append(entries, wmstore.ContactEntry{JID: g.userJID(), FirstName: names[g.pick(4)], FullName: names[g.pick(4)]})
			}
			return on("PutAllContactNames", fmt.Sprintf("PutAllContactNames(%v)", entries), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				return "ok", w.contacts(d).PutAllContactNames(ctx, slices.Clone(entries))
			})
		case 42:
			var entries []wmstore.RedactedPhoneEntry
			for range g.pick(4) {
				entries = append(entries, wmstore.RedactedPhoneEntry{JID: g.userJID(), RedactedPhone: redacted[g.pick(len(redacted))]})
			}
			return on("PutManyRedactedPhones", fmt.Sprintf("PutManyRedactedPhones(%v)", entries), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				return "ok", w.contacts(d).PutManyRedactedPhones(ctx, slices.Clone(entries))
			})
		case 43:
			user := g.userJID()
			if g.chance(0.2) {
				return on("GetAllContacts", "GetAllContacts()", func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
					all, err := w.contacts(d).GetAllContacts(ctx)
					var lines []string
					for k, v := range all {
						lines = append(lines, fmt.Sprintf("%s=%+v", fj(k), v))
					}
					return sortedLines(lines), err
				})
			}
			return on("GetContact", fmt.Sprintf("GetContact(%s)", user), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				info, err := w.contacts(d).GetContact(ctx, user)
				return fmt.Sprintf("%+v", info), err
			})
		// ChatSettingsStore
		case 44, 45:
			chat := g.userJID()
			switch g.pick(3) {
			case 0:
				var until time.Time
				switch g.pick(5) {
				case 0:
					until = wmstore.MutedForever
				case 1:
					until = time.Time{}
				case 2:
					until = wmstore.MutedForever.Local() // not ==, stored as seconds
				case 3:
					until = time.Unix(-int64(g.pick(100000)), 0) // before 1970: reads back as forever
				default:
					until = time.Unix(int64(1_700_000_000+g.pick(1_000_000)), int64(g.pick(1000))).UTC()
				}
				return on("PutMutedUntil", fmt.Sprintf("PutMutedUntil(%s, %s)", chat, ft(until)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
					return "ok", d.ChatSettings.PutMutedUntil(ctx, chat, until)
				})
			case 1:
				v := g.chance(0.5)
				return on("PutPinned", fmt.Sprintf("PutPinned(%s, %v)", chat, v), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
					return "ok", d.ChatSettings.PutPinned(ctx, chat, v)
				})
			}
			v := g.chance(0.5)
			return on("PutArchived", fmt.Sprintf("PutArchived(%s, %v)", chat, v), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.ChatSettings.PutArchived(ctx, chat, v)
			})
		case 46:
			chat := g.userJID()
			return on("GetChatSettings", fmt.Sprintf("GetChatSettings(%s)", chat), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				s, err := d.ChatSettings.GetChatSettings(ctx, chat)
				return fmt.Sprintf("found=%v pinned=%v archived=%v muted=%s", s.Found, s.Pinned, s.Archived, ft(s.MutedUntil)), err
			})
		// MsgSecretStore
		case 47, 56, 57:
			var ins []wmstore.MessageSecretInsert
			for range g.pick(4) {
				ins = append(ins, wmstore.MessageSecretInsert{Chat: g.pairJID(), Sender: g.pairJID(), ID: msgIDs[g.pick(2)], Secret: g.nonNil()})
			}
			if g.chance(0.5) {
				return on("PutMessageSecrets", fmt.Sprintf("PutMessageSecrets(%v)", ins), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
					return "ok", d.MsgSecrets.PutMessageSecrets(ctx, ins)
				})
			}
			chat, sender, id, secret := g.pairJID(), g.pairJID(), msgIDs[g.pick(2)], g.nonNil()
			return on("PutMessageSecret", fmt.Sprintf("PutMessageSecret(%s, %s, %s, %s)", chat, sender, id, fb(secret)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.MsgSecrets.PutMessageSecret(ctx, chat, sender, id, secret)
			})
		case 48, 49, 58:
			chat, sender, id := g.pairJID(), g.pairJID(), msgIDs[g.pick(2)]
			return on("GetMessageSecret", fmt.Sprintf("GetMessageSecret(%s, %s, %s)", chat, sender, id), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				secret, real, err := d.MsgSecrets.GetMessageSecret(ctx, chat, sender, id)
				return fb(secret) + " " + fj(real), err
			})
		// PrivacyTokenStore
		case 50, 59:
			var list []wmstore.PrivacyToken
			for range 1 + g.pick(3) {
				tok := wmstore.PrivacyToken{User: g.pairJID(), Token: g.nonNil(), Timestamp: time.Unix(int64(1000*(1+g.pick(4))), int64(g.pick(1000)))}
				if g.chance(0.5) { // else none: the saved one is kept
					tok.SenderTimestamp = time.Unix(int64(g.pick(3)*500), 0)
				}
				list = append(list, tok)
			}
			return on("PutPrivacyTokens", fmt.Sprintf("PutPrivacyTokens(%v)", list), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.PrivacyTokens.PutPrivacyTokens(ctx, list...)
			})
		case 51:
			user := g.pairJID()
			return on("GetPrivacyToken", fmt.Sprintf("GetPrivacyToken(%s)", user), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				tok, err := d.PrivacyTokens.GetPrivacyToken(ctx, user)
				if tok == nil {
					return "nil", err
				}
				return fmt.Sprintf("%s %s %s sender=%s", fj(tok.User), fb(tok.Token), ft(tok.Timestamp), ft(tok.SenderTimestamp)), err
			})
		// EventBuffer (DoDecryptionTxn is txnOp)
		case 52:
			hash := g.hash()
			return on("GetBufferedEvent", fmt.Sprintf("GetBufferedEvent(%x)", hash[:4]), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				ev, err := d.EventBuffer.GetBufferedEvent(ctx, hash)
				if ev == nil {
					return "nil", err
				}
				return fmt.Sprintf("%s server=%s insert=%d", fb(ev.Plaintext), ft(ev.ServerTime), ev.InsertTime.UnixMilli()), err
			})
		case 53:
			hash, plaintext, server := g.hash(), g.blob(true), time.Unix(int64(1_700_000_000+g.pick(1000)), int64(g.pick(1000)))
			// Inserted 0 to 10 days ago, or 15 to 20: far from the 14-day cutoff.
			age := time.Duration(g.pick(10*24)) * time.Hour
			if g.chance(0.4) {
				age += 15 * 24 * time.Hour
			}
			return on("PutBufferedEvent", fmt.Sprintf("PutBufferedEvent(%x, %s, age=%s)", hash[:4], fb(plaintext), age), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				// The insert time is in milliseconds; one op's clock serves both worlds.
				return "ok", w.putEventAt(ctx, d, hash, plaintext, server, eventClock.Add(-age))
			})
		case 54:
			hash := g.hash()
			return on("ClearBufferedEventPlaintext", fmt.Sprintf("ClearBufferedEventPlaintext(%x)", hash[:4]), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.EventBuffer.ClearBufferedEventPlaintext(ctx, hash)
			})
		case 55:
			return on("DeleteOldBufferedHashes", "DeleteOldBufferedHashes()", func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.EventBuffer.DeleteOldBufferedHashes(ctx)
			})
		// AppStateSyncKeyStore, continued
		case 60:
			return on("GetAllAppStateSyncKeys", "GetAllAppStateSyncKeys()", func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				all, err := d.AppStateKeys.GetAllAppStateSyncKeys(ctx)
				if all == nil {
					return "nil", err
				}
				out := make([]string, len(all))
				for i, k := range all {
					out[i] = fmt.Sprintf("%s %s %d", fb(k.Data), fb(k.Fingerprint), k.Timestamp)
				}
				return strings.Join(out, "; "), err
			})
		// PrivacyTokenStore, continued
		case 61:
			// Around the tokens' timestamps (1000 to 4000 s): equal to one keeps it.
			cutoff := time.Unix(int64(500*g.pick(10)), int64(g.pick(2)*999_999_999))
			return on("DeleteExpiredPrivacyTokens", fmt.Sprintf("DeleteExpiredPrivacyTokens(%s)", ft(cutoff)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				n, err := d.PrivacyTokens.DeleteExpiredPrivacyTokens(ctx, cutoff)
				return fmt.Sprint(n), err
			})
		// NCTSaltStore
		case 62:
			salt := g.nonNil()
			return on("PutNCTSalt", fmt.Sprintf("PutNCTSalt(%s)", fb(salt)), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.NCTSalt.PutNCTSalt(ctx, salt)
			})
		case 63, 64:
			return on("GetNCTSalt", "GetNCTSalt()", func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				salt, err := d.NCTSalt.GetNCTSalt(ctx)
				return fb(salt), err
			})
		case 65:
			return on("DeleteNCTSalt", "DeleteNCTSalt()", func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.NCTSalt.DeleteNCTSalt(ctx)
			})
		// EventBuffer: the retry buffer of sent messages
		case 66, 67:
			chat, id, format, plaintext := g.outgoingChat(), g.outgoingID(), []string{"wa", "fb", ""}[g.pick(3)], g.nonNil()
			// Inserted 0 to 6 days ago, or 8 to 10: far from the 7-day cutoff.
			age := time.Duration(g.pick(6*24)) * time.Hour
			if g.chance(0.4) {
				age += 8 * 24 * time.Hour
			}
			return on("AddOutgoingEvent", fmt.Sprintf("AddOutgoingEvent(%s, %q, %q, %s, age=%s)", chat, id, format, fb(plaintext), age), func(ctx context.Context, w *world, d *wmstore.Device) (string, error) {
				return "ok", w.addOutgoingAt(ctx, d, chat, id, format, plaintext, eventClock.Add(-age))
			})
		case 68, 69, 70:
			chat, alt, id := g.outgoingChat(), g.outgoingChat(), g.outgoingID()
			if g.chance(0.5) {
				alt = pairOf(chat) // how whatsmeow asks: the chat and its other JID
			}
			return on("GetOutgoingEvent", fmt.Sprintf("GetOutgoingEvent(%s, %s, %q)", chat, alt, id), func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				format, plaintext, err := d.EventBuffer.GetOutgoingEvent(ctx, chat, alt, id)
				return fmt.Sprintf("%q %s", format, fb(plaintext)), err
			})
		case 71:
			return on("DeleteOldOutgoingEvents", "DeleteOldOutgoingEvents()", func(ctx context.Context, _ *world, d *wmstore.Device) (string, error) {
				return "ok", d.EventBuffer.DeleteOldOutgoingEvents(ctx)
			})
		}
	}
}

// eventClock is the "now" buffered events are aged from: fixed per run, so both
// worlds store the same insert times, and close to the real now both stores'
// DeleteOldBufferedHashes cut off from.
var eventClock = time.UnixMilli(time.Now().UnixMilli())

// fmtPreKeys prints prekey ids and whether each key is the one this world generated
// for its id (recording the keys of fresh ones when gen is set).
func (w *world) fmtPreKeys(jid string, ks []*keys.PreKey, gen bool) string {
	if w.preKeys[jid] == nil {
		w.preKeys[jid] = map[uint32][32]byte{}
	}
	known := w.preKeys[jid]
	var out []string
	for _, k := range ks {
		if k == nil {
			out = append(out, "nil")
			continue
		}
		if *k.Pub != *keys.NewKeyPairFromPrivateKey(*k.Priv).Pub {
			out = append(out, fmt.Sprintf("%d:bad-pub", k.KeyID))
			continue
		}
		prev, ok := known[k.KeyID]
		switch {
		case ok && prev == *k.Priv:
			out = append(out, fmt.Sprintf("%d:known", k.KeyID))
		case gen:
			known[k.KeyID] = *k.Priv
			out = append(out, fmt.Sprintf("%d:new", k.KeyID))
		default:
			out = append(out, fmt.Sprintf("%d:unknown", k.KeyID))
		}
	}
	return strings.Join(out, ",")
}

// txnOp is a DoDecryptionTxn running a few store operations, committed or rolled back.
func (g *gen) txnOp() op {
	i := g.savedDevice()
	rollback := g.chance(0.3)
	var inner []op
	for range 1 + g.pick(4) {
		inner = append(inner, g.deviceOp(i, rollback))
	}
	descs := make([]string, len(inner))
	for j, o := range inner {
		descs[j] = o.desc
	}
	jid := deviceJIDs[i].String()
	return op{"DoDecryptionTxn", fmt.Sprintf("DoDecryptionTxn(rollback=%v){\n    %s}", rollback, strings.Join(descs, "\n    ")),
		func(ctx context.Context, w *world) (string, error) {
			d := w.handles[jid]
			if d == nil {
				return "no device handle", nil
			}
			var results []string
			errRollback := errors.New("rollback")
			err := d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
				results = results[:0] // a retried txn starts over
				for _, o := range inner {
					res, err := o.run(ctx, w)
					if err != nil {
						res = "error"
					}
					results = append(results, res)
				}
				if rollback {
					return errRollback
				}
				return nil
			})
			if rollback && errors.Is(err, errRollback) {
				err = nil
			}
			return strings.Join(results, " | "), err
		}}
}

// lidOp is an operation on the LID map.
func (g *gen) lidOp() op {
	on := func(method, desc string, fn func(ctx context.Context, m wmstore.LIDStore) (string, error)) op {
		return op{method, desc, func(ctx context.Context, w *world) (string, error) {
			m, err := w.lids(ctx)
			if err != nil {
				return "", err
			}
			return fn(ctx, m)
		}}
	}
	mapping := func() (types.JID, types.JID) {
		lid, pn := types.NewJID(g.lid(), types.HiddenUserServer), types.NewJID(g.pn(), types.DefaultUserServer)
		if g.chance(0.7) {
			// Mostly the same pairs, so that users are often known under both JIDs
			// (message secrets and privacy tokens are looked up under either).
			i := g.pick(len(pnUsers))
			lid.User, pn.User = lidUsers[i], pnUsers[i]
		}
		if g.chance(0.05) {
			lid, pn = pn, lid // invalid: refused or skipped
		}
		return lid, pn
	}
	switch g.pick(6) {
	case 0:
		lid, pn := mapping()
		return on("PutLIDMapping", fmt.Sprintf("PutLIDMapping(%s, %s)", lid, pn), func(ctx context.Context, m wmstore.LIDStore) (string, error) {
			return "ok", m.PutLIDMapping(ctx, lid, pn)
		})
	case 1:
		var list []wmstore.LIDMapping
		for range g.pick(5) {
			lid, pn := mapping()
			list = append(list, wmstore.LIDMapping{LID: lid, PN: pn})
		}
		return on("PutManyLIDMappings", fmt.Sprintf("PutManyLIDMappings(%v)", list), func(ctx context.Context, m wmstore.LIDStore) (string, error) {
			return "ok", m.PutManyLIDMappings(ctx, slices.Clone(list))
		})
	case 2:
		lid := g.lidJID()
		if g.chance(0.05) {
			lid = g.pnJID()
		}
		return on("GetPNForLID", fmt.Sprintf("GetPNForLID(%s)", lid), func(ctx context.Context, m wmstore.LIDStore) (string, error) {
			pn, err := m.GetPNForLID(ctx, lid)
			return fj(pn), err
		})
	case 3:
		pn := g.pnJID()
		if g.chance(0.05) {
			pn = g.lidJID()
		}
		return on("GetLIDForPN", fmt.Sprintf("GetLIDForPN(%s)", pn), func(ctx context.Context, m wmstore.LIDStore) (string, error) {
			lid, err := m.GetLIDForPN(ctx, pn)
			return fj(lid), err
		})
	default:
		var pns []types.JID
		for range g.pick(5) {
			pns = append(pns, g.userJID())
		}
		return on("GetManyLIDsForPNs", fmt.Sprintf("GetManyLIDsForPNs(%v)", pns), func(ctx context.Context, m wmstore.LIDStore) (string, error) {
			res, err := m.GetManyLIDsForPNs(ctx, pns)
			if res == nil {
				return "nil map", err
			}
			var lines []string
			for k, v := range res {
				lines = append(lines, fj(k)+"="+fj(v))
			}
			return sortedLines(lines), err
		})
	}
}
