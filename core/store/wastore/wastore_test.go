package wastore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

func openDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newContainer(t *testing.T, db *store.DB, tenant, session string) *Container {
	t.Helper()
	c, err := New(db, tenant, session, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pairedDevice saves a new device with the given JID, as pairing does.
func pairedDevice(t *testing.T, c *Container, jid types.JID) *wmstore.Device {
	t.Helper()
	d := c.NewDevice()
	d.ID = &jid
	d.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("details"), AccountSignature: bytes.Repeat([]byte{1}, 64),
		AccountSignatureKey: bytes.Repeat([]byte{2}, 32), DeviceSignature: bytes.Repeat([]byte{3}, 64)}
	d.PushName = "Gateway"
	if err := c.PutDevice(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var (
	alicePN  = types.NewJID("15551230001", types.DefaultUserServer)
	aliceLID = types.NewJID("100000000000001", types.HiddenUserServer)
	group    = types.NewJID("120363000000001", types.GroupServer)
	mac32    = bytes.Repeat([]byte{0xaa}, 32)
	hash32   = [32]byte{0xee}
)

// fillEveryKind writes something of every kind of device state through d's stores.
func fillEveryKind(t *testing.T, d *wmstore.Device, tag string) {
	t.Helper()
	ctx := context.Background()
	must(t, d.Identities.PutIdentity(ctx, "15551230001:0", [32]byte{7}))
	must(t, d.Sessions.PutSession(ctx, "15551230001:0", []byte("session-"+tag)))
	_, err := d.PreKeys.GetOrGenPreKeys(ctx, 3)
	must(t, err)
	must(t, d.SenderKeys.PutSenderKey(ctx, group.String(), "15551230001:0", []byte("sender-key-"+tag)))
	must(t, d.AppStateKeys.PutAppStateSyncKey(ctx, []byte{1, 2}, wmstore.AppStateSyncKey{Data: []byte("key-" + tag), Fingerprint: []byte{9}, Timestamp: 5}))
	must(t, d.AppState.PutAppStateVersion(ctx, "regular", 3, [128]byte{4}))
	must(t, d.AppState.PutAppStateMutationMACs(ctx, "regular", 3, []wmstore.AppStateMutationMAC{{IndexMAC: mac32, ValueMAC: bytes.Repeat([]byte{0xbb}, 32)}}))
	_, _, err = d.Contacts.PutPushName(ctx, alicePN, "Alice "+tag)
	must(t, err)
	must(t, d.ChatSettings.PutPinned(ctx, group, true))
	must(t, d.MsgSecrets.PutMessageSecret(ctx, group, alicePN, "MSG1", []byte("secret-"+tag)))
	must(t, d.PrivacyTokens.PutPrivacyTokens(ctx, wmstore.PrivacyToken{User: alicePN, Token: []byte("token-" + tag), Timestamp: time.Unix(1000, 0), SenderTimestamp: time.Unix(900, 0)}))
	must(t, d.NCTSalt.PutNCTSalt(ctx, []byte("salt-"+tag)))
	must(t, d.EventBuffer.PutBufferedEvent(ctx, hash32, []byte("plain-"+tag), time.Unix(2000, 0)))
	must(t, d.EventBuffer.AddOutgoingEvent(ctx, aliceLID, "SENT1", "wa", []byte("sent-"+tag)))
}

// keysBelow returns every key starting with prefix.
func keysBelow(t *testing.T, db *store.DB, prefix []byte) []string {
	t.Helper()
	var out []string
	must(t, db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			out = append(out, string(it.Item().Key()))
		}
		return nil
	}))
	return out
}

// TestPersistsAcrossReopen writes every kind of state, closes Badger, reopens it and
// reads everything back through a new container.
func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	c := newContainer(t, db, "acme", "main")
	jid := types.NewADJID("15559990001", 0, 4)
	d := pairedDevice(t, c, jid)
	d.LID = types.NewADJID("100000000000009", types.LIDDomain, 4)
	d.CompanionMetaNonce = "nonce"
	must(t, d.Save(ctx))
	fillEveryKind(t, d, "a")
	preKeys, err := d.PreKeys.GetOrGenPreKeys(ctx, 3)
	must(t, err)
	must(t, d.PreKeys.MarkPreKeysAsUploaded(ctx, 2))
	must(t, c.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN))
	must(t, d.EventBuffer.ClearBufferedEventPlaintext(ctx, hash32))
	must(t, db.Close())

	db = openDB(t, dir)
	defer db.Close()
	c = newContainer(t, db, "acme", "main")
	got, err := c.GetDevice(ctx, jid)
	must(t, err)
	if got == nil {
		t.Fatal("device gone after reopen")
	}
	if *got.NoiseKey.Priv != *d.NoiseKey.Priv || *got.IdentityKey.Priv != *d.IdentityKey.Priv ||
		*got.SignedPreKey.Priv != *d.SignedPreKey.Priv || *got.SignedPreKey.Signature != *d.SignedPreKey.Signature ||
		got.RegistrationID != d.RegistrationID || !bytes.Equal(got.AdvSecretKey, d.AdvSecretKey) ||
		got.LID != d.LID || got.PushName != "Gateway" || got.CompanionMetaNonce != "nonce" || !bytes.Equal(got.Account.DeviceSignature, d.Account.DeviceSignature) {
		t.Errorf("device read back differs:\n got %+v\nwant %+v", got, d)
	}
	checks := []struct {
		name string
		got  func() (any, error)
		want any
	}{
		{"identity trusted", func() (any, error) { return got.Identities.IsTrustedIdentity(ctx, "15551230001:0", [32]byte{7}) }, true},
		{"identity other key", func() (any, error) { return got.Identities.IsTrustedIdentity(ctx, "15551230001:0", [32]byte{8}) }, false},
		{"session", func() (any, error) {
			s, err := got.Sessions.GetSession(ctx, "15551230001:0")
			return string(s), err
		}, "session-a"},
		{"prekey 3", func() (any, error) {
			k, err := got.PreKeys.GetPreKey(ctx, 3)
			if k == nil {
				return nil, err
			}
			return *k.Priv == *preKeys[2].Priv, err
		}, true},
		{"uploaded prekeys", func() (any, error) { return got.PreKeys.UploadedPreKeyCount(ctx) }, 2},
		{"sender key", func() (any, error) {
			k, err := got.SenderKeys.GetSenderKey(ctx, group.String(), "15551230001:0")
			return string(k), err
		}, "sender-key-a"},
		{"sync key", func() (any, error) {
			k, err := got.AppStateKeys.GetAppStateSyncKey(ctx, []byte{1, 2})
			if k == nil {
				return nil, err
			}
			return fmt.Sprintf("%s/%d", k.Data, k.Timestamp), err
		}, "key-a/5"},
		{"all sync keys", func() (any, error) {
			ks, err := got.AppStateKeys.GetAllAppStateSyncKeys(ctx)
			if len(ks) != 1 {
				return len(ks), err
			}
			return fmt.Sprintf("%s/%d", ks[0].Data, ks[0].Timestamp), err
		}, "key-a/5"},
		{"version", func() (any, error) {
			v, h, err := got.AppState.GetAppStateVersion(ctx, "regular")
			return fmt.Sprint(v, h[0]), err
		}, "3 4"},
		{"mac", func() (any, error) {
			v, err := got.AppState.GetAppStateMutationMAC(ctx, "regular", mac32)
			return fmt.Sprintf("%x", v), err
		}, strings.Repeat("bb", 32)},
		{"contact", func() (any, error) {
			info, err := got.Contacts.GetContact(ctx, alicePN)
			return info.PushName, err
		}, "Alice a"},
		{"chat", func() (any, error) {
			s, err := got.ChatSettings.GetChatSettings(ctx, group)
			return s.Pinned, err
		}, true},
		{"secret by LID", func() (any, error) {
			s, sender, err := got.MsgSecrets.GetMessageSecret(ctx, group, aliceLID, "MSG1")
			return string(s) + " " + sender.String(), err
		}, "secret-a " + alicePN.String()},
		{"privacy token", func() (any, error) {
			tok, err := got.PrivacyTokens.GetPrivacyToken(ctx, alicePN)
			if tok == nil {
				return nil, err
			}
			return fmt.Sprint(string(tok.Token), " ", tok.SenderTimestamp.Unix()), err
		}, "token-a 900"},
		{"nct salt", func() (any, error) {
			salt, err := got.NCTSalt.GetNCTSalt(ctx)
			return string(salt), err
		}, "salt-a"},
		{"outgoing event by PN", func() (any, error) {
			format, plaintext, err := got.EventBuffer.GetOutgoingEvent(ctx, alicePN, aliceLID, "SENT1")
			return format + " " + string(plaintext), err
		}, "wa sent-a"},
		{"buffered event cleared", func() (any, error) {
			ev, err := got.EventBuffer.GetBufferedEvent(ctx, hash32)
			if ev == nil {
				return nil, err
			}
			return fmt.Sprint(ev.Plaintext == nil, ev.ServerTime.Unix()), err
		}, "true 2000"},
		{"lid map", func() (any, error) {
			pn, err := got.LIDs.GetPNForLID(ctx, aliceLID)
			return pn, err
		}, alicePN},
	}
	for _, tc := range checks {
		v, err := tc.got()
		if err != nil || v != tc.want {
			t.Errorf("%s after reopen: got %v (err %v), want %v", tc.name, v, err, tc.want)
		}
	}
}

// TestDeleteDeviceRemovesEveryKey checks that no key of a deleted device remains, and
// that another device's keys, in the same container and in another session, and the
// container's LID map are untouched.
func TestDeleteDeviceRemovesEveryKey(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	other := newContainer(t, db, "acme", "second")
	gone := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	kept := pairedDevice(t, c, types.NewADJID("15559990001", 0, 12)) // same user: JID prefixes overlap
	elsewhere := pairedDevice(t, other, types.NewADJID("15559990001", 0, 1))
	for i, d := range []*wmstore.Device{gone, kept, elsewhere} {
		fillEveryKind(t, d, fmt.Sprint(i))
	}
	must(t, c.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN))

	goneKeys := keysBelow(t, db, store.ScanPrefix(store.PrefixWhatsmeow, "acme", "main", levelDevice, text(gone.ID.String())))
	kinds := map[string]bool{}
	for _, k := range goneKeys {
		_, parts := store.KeyParts([]byte(k))
		kinds[parts[4]] = true
	}
	for _, kind := range []string{kindRecord, kindIdentity, kindSession, kindPreKey, kindSenderKey, kindSyncKey, kindVersion,
		kindMAC, kindContact, kindChat, kindSecret, kindToken, kindEvent, kindEventTime, kindNCTSalt, kindOutgoing, kindOutTime} {
		if !kinds[kind] {
			t.Fatalf("before the delete the device has no %s key: the test would prove nothing (keys: %v)", kind, goneKeys)
		}
	}
	all := keysBelow(t, db, []byte("wam/"))
	must(t, gone.Delete(ctx))

	if left := keysBelow(t, db, store.ScanPrefix(store.PrefixWhatsmeow, "acme", "main", levelDevice, text("15559990001:1@s.whatsapp.net"))); len(left) > 0 {
		t.Errorf("keys of the deleted device remain: %v", left)
	}
	want := slices.DeleteFunc(all, func(k string) bool { return slices.Contains(goneKeys, k) })
	if got := keysBelow(t, db, []byte("wam/")); !slices.Equal(got, want) {
		t.Errorf("other keys changed by the delete:\n got %v\nwant %v", got, want)
	}
	if d, err := c.GetDevice(ctx, types.NewADJID("15559990001", 0, 1)); d != nil || err != nil {
		t.Errorf("GetDevice after delete: %v, %v", d, err)
	}
	all2, err := c.GetAllDevices(ctx)
	must(t, err)
	if len(all2) != 1 || all2[0].ID.String() != kept.ID.String() {
		t.Errorf("devices after delete: %v", all2)
	}
}

// TestStaleHandleCannotResurrectDevice: a store handle that outlived DeleteDevice (an
// in-flight handler) fails to write, and writes nothing below the device's prefix.
func TestStaleHandleCannotResurrectDevice(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	stale := *d // the stores stay bound to the deleted device
	must(t, d.Delete(ctx))

	writes := map[string]error{
		"PutIdentity":   stale.Identities.PutIdentity(ctx, "1:0", [32]byte{}),
		"PutSession":    stale.Sessions.PutSession(ctx, "1:0", []byte{1}),
		"GenOnePreKey":  func() error { _, err := stale.PreKeys.GenOnePreKey(ctx); return err }(),
		"PutSenderKey":  stale.SenderKeys.PutSenderKey(ctx, "g", "1:0", []byte{1}),
		"PutSyncKey":    stale.AppStateKeys.PutAppStateSyncKey(ctx, []byte{1}, wmstore.AppStateSyncKey{Data: []byte{1}, Fingerprint: []byte{1}}),
		"PutVersion":    stale.AppState.PutAppStateVersion(ctx, "regular", 1, [128]byte{}),
		"PutPushName":   func() error { _, _, err := stale.Contacts.PutPushName(ctx, alicePN, "A"); return err }(),
		"PutPinned":     stale.ChatSettings.PutPinned(ctx, group, true),
		"PutSecret":     stale.MsgSecrets.PutMessageSecret(ctx, group, alicePN, "M", []byte{1}),
		"PutTokens":     stale.PrivacyTokens.PutPrivacyTokens(ctx, wmstore.PrivacyToken{User: alicePN, Token: []byte{1}}),
		"PutBuffered":   stale.EventBuffer.PutBufferedEvent(ctx, hash32, []byte{1}, time.Now()),
		"PutNCTSalt":    stale.NCTSalt.PutNCTSalt(ctx, []byte{1}),
		"AddOutgoing":   stale.EventBuffer.AddOutgoingEvent(ctx, alicePN, "M", "wa", []byte{1}),
		"ContactNames":  stale.Contacts.PutAllContactNames(ctx, []wmstore.ContactEntry{{JID: alicePN, FirstName: "A"}}),
		"ManySessions":  stale.Sessions.PutManySessions(ctx, map[string][]byte{"1:0": {1}}),
		"RedactedPhone": stale.Contacts.PutManyRedactedPhones(ctx, []wmstore.RedactedPhoneEntry{{JID: alicePN}}),
	}
	for name, err := range writes {
		if !errors.Is(err, ErrNoDevice) {
			t.Errorf("%s through a deleted device's store: %v, want ErrNoDevice", name, err)
		}
	}
	if left := keysBelow(t, db, store.ScanPrefix(store.PrefixWhatsmeow, "acme", "main", levelDevice)); len(left) > 0 {
		t.Errorf("writes through a stale handle left keys: %v", left)
	}
}

func TestTenantAndSessionDeleteRemoveWhatsmeowState(t *testing.T) {
	if !slices.Contains(store.TenantPrefixes, store.PrefixWhatsmeow) || !slices.Contains(store.SessionPrefixes, store.PrefixWhatsmeow) {
		t.Fatal("wam/ must be in store.TenantPrefixes and store.SessionPrefixes")
	}
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	for _, ts := range [][2]string{{"acme", "main"}, {"acme", "second"}, {"acme2", "main"}} {
		c := newContainer(t, db, ts[0], ts[1])
		fillEveryKind(t, pairedDevice(t, c, types.NewADJID("15559990001", 0, 1)), ts[0])
		must(t, c.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN))
	}
	// What core/session does when a session is deleted:
	must(t, db.DeletePrefix(store.ScanPrefix(store.PrefixWhatsmeow, "acme", "second")))
	if left := keysBelow(t, db, []byte("wam/acme/second/")); len(left) > 0 {
		t.Errorf("session delete left %v", left)
	}
	if len(keysBelow(t, db, []byte("wam/acme/main/"))) == 0 {
		t.Error("session delete took another session's state")
	}
	must(t, db.DeleteTenant("acme"))
	if left := keysBelow(t, db, []byte("wam/acme/")); len(left) > 0 {
		t.Errorf("tenant delete left %v", left)
	}
	if len(keysBelow(t, db, []byte("wam/acme2/"))) == 0 {
		t.Error("tenant delete took tenant acme2's state")
	}
}

func TestDecryptionTxnCommitsOrRollsBackAsOne(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	fail := errors.New("handler failed")
	for _, commit := range []bool{false, true} {
		addr := fmt.Sprintf("15551230001:%d", map[bool]int{false: 1, true: 2}[commit])
		err := d.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
			must(t, d.Sessions.PutSession(txn, addr, []byte("new")))
			must(t, d.EventBuffer.PutBufferedEvent(txn, [32]byte{byte(len(addr)), map[bool]byte{false: 1, true: 2}[commit]}, []byte("pt"), time.Now()))
			// The carried transaction reads its own writes; the store does not, yet.
			if s, _ := d.Sessions.GetSession(txn, addr); string(s) != "new" {
				t.Errorf("inside the txn GetSession = %q", s)
			}
			if s, _ := d.Sessions.GetSession(ctx, addr); s != nil {
				t.Errorf("outside the txn, before commit, GetSession = %q", s)
			}
			// A nested DoDecryptionTxn runs in the same transaction.
			return d.EventBuffer.DoDecryptionTxn(txn, func(inner context.Context) error {
				if s, _ := d.Sessions.GetSession(inner, addr); string(s) != "new" {
					t.Errorf("nested txn GetSession = %q", s)
				}
				if !commit {
					return fail
				}
				return nil
			})
		})
		s, _ := d.Sessions.GetSession(ctx, addr)
		switch {
		case commit && (err != nil || string(s) != "new"):
			t.Errorf("committed txn: err %v, session %q", err, s)
		case !commit && (!errors.Is(err, fail) || s != nil):
			t.Errorf("rolled back txn: err %v, session %q", err, s)
		}
	}
}

// TestDecryptionTxnRetriesOnConflict: a write by someone else to a key the
// transaction read, committed while it runs, makes its commit conflict; the function
// runs again and its second run commits.
func TestDecryptionTxnRetriesOnConflict(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	const addr = "15551230001:0"
	must(t, d.Sessions.PutSession(ctx, addr, []byte("v1")))
	var runs []string
	err := d.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
		s, err := d.Sessions.GetSession(txn, addr)
		must(t, err)
		runs = append(runs, string(s))
		if len(runs) == 1 {
			// A concurrent writer commits v2 between this read and the commit.
			must(t, d.Sessions.PutSession(ctx, addr, []byte("v2")))
		}
		return d.Sessions.PutSession(txn, addr, append(s, '+'))
	})
	must(t, err)
	s, _ := d.Sessions.GetSession(ctx, addr)
	if !slices.Equal(runs, []string{"v1", "v2"}) || string(s) != "v2+" {
		t.Errorf("runs saw %q, final session %q; want [v1 v2] and v2+", runs, s)
	}
}

// TestMigrationMemoFollowsCommit: MigratePNToLID is memoized once its transaction
// commits; one rolled back is run again (sqlstore would skip it, its memo set).
func TestMigrationMemoFollowsCommit(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	pnAddr, lidAddr := "15551230001:3", "100000000000001_1:3"
	must(t, d.Sessions.PutSession(ctx, pnAddr, []byte("s")))
	rollback := errors.New("rollback")
	err := d.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
		must(t, d.Sessions.MigratePNToLID(txn, alicePN, aliceLID))
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if has, _ := d.Sessions.HasSession(ctx, lidAddr); has {
		t.Fatal("rolled back migration is visible")
	}
	must(t, d.Sessions.MigratePNToLID(ctx, alicePN, aliceLID))
	if has, _ := d.Sessions.HasSession(ctx, lidAddr); !has {
		t.Fatal("migration after a rolled back one did not run")
	}
	// Memoized now: a PN session added later stays where it is, as in sqlstore.
	must(t, d.Sessions.PutSession(ctx, pnAddr, []byte("later")))
	must(t, d.Sessions.MigratePNToLID(ctx, alicePN, aliceLID))
	if has, _ := d.Sessions.HasSession(ctx, pnAddr); !has {
		t.Error("memoized MigratePNToLID ran again")
	}
}

// TestBatchesBiggerThanOneTransaction: batches too big for one Badger transaction are
// written in several.
func TestBatchesBiggerThanOneTransaction(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	must(t, d.AppState.PutAppStateVersion(ctx, "regular", 1, [128]byte{}))
	const n = 40000
	muts := make([]wmstore.AppStateMutationMAC, n)
	for i := range muts {
		im := make([]byte, 32)
		copy(im, fmt.Sprint(i))
		muts[i] = wmstore.AppStateMutationMAC{IndexMAC: im, ValueMAC: bytes.Repeat([]byte{byte(i)}, 32)}
	}
	must(t, d.AppState.PutAppStateMutationMACs(ctx, "regular", 1, muts))
	for _, i := range []int{0, n / 2, n - 1} {
		v, err := d.AppState.GetAppStateMutationMAC(ctx, "regular", muts[i].IndexMAC)
		if err != nil || !bytes.Equal(v, muts[i].ValueMAC) {
			t.Errorf("MAC %d: %x, %v", i, v, err)
		}
	}
	must(t, d.AppState.DeleteAppStateVersion(ctx, "regular"))
	if v, _ := d.AppState.GetAppStateMutationMAC(ctx, "regular", muts[0].IndexMAC); v != nil {
		t.Error("DeleteAppStateVersion left MACs")
	}
}

func TestNewRefusesBadIDs(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	for _, ids := range [][2]string{{"", "main"}, {"acme", ""}, {"ac/me", "main"}, {"acme", "ma/in"}} {
		if _, err := New(db, ids[0], ids[1], nil); err == nil {
			t.Errorf("New(%q, %q) accepted", ids[0], ids[1])
		}
	}
}

func TestKeyPartEncoding(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "%"},
		{"15551230001:2@s.whatsapp.net", "15551230001:2@s.whatsapp.net"},
		{"100000000000001_1:0", "100000000000001_1:0"},
		{"a/b", "a%2Fb"},
		{"50%", "50%25"},
		{"%", "%25"},
		{"/%/", "%2F%25%2F"},
	}
	for _, tc := range cases {
		got := text(tc.in)
		if got != tc.want {
			t.Errorf("text(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "/") {
			t.Errorf("text(%q) = %q contains the separator", tc.in, got)
		}
		back, err := untext(got)
		if err != nil || back != tc.in {
			t.Errorf("untext(%q) = %q, %v; want %q", got, back, err, tc.in)
		}
		// The prefix property MigratePNToLID and DeleteAllSessions rely on.
		if tc.in != "" && text(tc.in+":x/y") != text(tc.in)+text(":x/y") {
			t.Errorf("text is not byte by byte on %q", tc.in)
		}
	}
	for _, bad := range []string{"%2", "%zz", "a%"} {
		if _, err := untext(bad); err == nil {
			t.Errorf("untext(%q) accepted", bad)
		}
	}
	if bin(nil) != "-" || bin([]byte{0, 255}) != "00ff" {
		t.Errorf("bin: %q %q", bin(nil), bin([]byte{0, 255}))
	}
	if num32(5) >= num32(16) || num64(255) >= num64(256) {
		t.Error("number parts do not sort numerically")
	}
}

// TestJIDsWithSeparator: a part with '/' (not in real JIDs, but nothing stops a
// caller) neither panics nor aliases another key.
func TestJIDsWithSeparator(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	must(t, d.Sessions.PutSession(ctx, "a/b:1", []byte("slash")))
	must(t, d.Sessions.PutSession(ctx, "a:1", []byte("plain")))
	odd := types.NewJID("x/y", types.DefaultUserServer)
	_, _, err := d.Contacts.PutPushName(ctx, odd, "Odd")
	must(t, err)
	all, err := d.Contacts.GetAllContacts(ctx)
	must(t, err)
	if all[odd].PushName != "Odd" || len(all) != 1 {
		t.Errorf("contacts: %v", all)
	}
	s, _ := d.Sessions.GetSession(ctx, "a/b:1")
	if string(s) != "slash" {
		t.Errorf("session a/b:1 = %q", s)
	}
	must(t, d.Sessions.DeleteAllSessions(ctx, "a"))
	if s, _ := d.Sessions.GetSession(ctx, "a/b:1"); string(s) != "slash" {
		t.Error("DeleteAllSessions(a) deleted a/b's session")
	}
}

// TestDeleteOldBufferedHashesInBatches: more old events than one delete transaction
// holds all go; recent ones, and those of the container's other device, stay or go by
// age alone.
func TestDeleteOldBufferedHashesInBatches(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d1 := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	d2 := pairedDevice(t, c, types.NewADJID("15559990002", 0, 1))
	now := time.Now()
	put := func(d *wmstore.Device, i int, age time.Duration) [32]byte {
		h := [32]byte{byte(i), byte(i >> 8), d.ID.User[len(d.ID.User)-1]}
		c.now = func() time.Time { return now.Add(-age) }
		must(t, d.EventBuffer.PutBufferedEvent(ctx, h, []byte{1}, now))
		return h
	}
	const old = 2*deleteBatch + 500
	var oldHashes, recent [][32]byte
	for i := range old {
		oldHashes = append(oldHashes, put(d1, i, 15*24*time.Hour))
	}
	oldHashes = append(oldHashes, put(d2, 1, 20*24*time.Hour))
	recent = append(recent, put(d1, old, 13*24*time.Hour), put(d2, 2, time.Hour))
	c.now = time.Now
	must(t, d1.EventBuffer.DeleteOldBufferedHashes(ctx))
	for _, h := range oldHashes {
		for _, d := range []*wmstore.Device{d1, d2} {
			if ev, _ := d.EventBuffer.GetBufferedEvent(ctx, h); ev != nil {
				t.Fatalf("old event %x survived", h[:3])
			}
		}
	}
	if ev, _ := d1.EventBuffer.GetBufferedEvent(ctx, recent[0]); ev == nil {
		t.Error("13-day-old event deleted")
	}
	if ev, _ := d2.EventBuffer.GetBufferedEvent(ctx, recent[1]); ev == nil {
		t.Error("recent event of the other device deleted")
	}
	evi := 0
	for _, k := range keysBelow(t, db, []byte("wam/acme/main/dev/")) {
		if strings.Contains(k, "/"+kindEventTime+"/") {
			evi++
		}
	}
	if evi != len(recent) {
		t.Errorf("age index keys left: %d, want %d", evi, len(recent))
	}
}

// TestDecryptionTxnsUnderContention: concurrent read-modify-write transactions on one
// key lose no update: every call that returns nil counted once.
func TestDecryptionTxnsUnderContention(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	c := newContainer(t, db, "acme", "main")
	d := pairedDevice(t, c, types.NewADJID("15559990001", 0, 1))
	const addr, workers, each = "15551230001:0", 4, 50
	var mu sync.Mutex
	committed := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := d.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
					s, err := d.Sessions.GetSession(txn, addr)
					if err != nil {
						return err
					}
					n := 0
					if s != nil {
						n = int(binary.BigEndian.Uint32(s))
					}
					return d.Sessions.PutSession(txn, addr, binary.BigEndian.AppendUint32(nil, uint32(n+1)))
				})
				switch {
				case err == nil:
					mu.Lock()
					committed++
					mu.Unlock()
				case !errors.Is(err, badger.ErrConflict):
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	s, err := d.Sessions.GetSession(ctx, addr)
	must(t, err)
	if got := int(binary.BigEndian.Uint32(s)); got != committed || committed == 0 {
		t.Errorf("counter %d after %d committed transactions", got, committed)
	}
}
