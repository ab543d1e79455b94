package wastore

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
)

// TestSQLStoreQuirks pins the sqlstore behaviours wastore does not copy (the list is in
// docs/whatsmeow.md), each next to wastore's answer. When a whatsmeow bump changes one
// of them, this test fails: decide then whether wastore follows, and whether the
// conformance suite's adjustments of the reference can go.
func TestSQLStoreQuirks(t *testing.T) {
	ctx := context.Background()
	ref := newSQLWorld(t)
	refC := ref.c.(*sqlstore.Container)
	got := newBadgerWorld(t)
	jid := types.NewADJID("15559990001", 0, 1)
	newDevice := func(w *world) *wmstore.Device {
		spec := (&gen{r: rand.New(rand.NewPCG(1, 2))}).deviceSpec()
		spec.account.AccountSignature = make([]byte, 64)
		d := spec.build(w.c, jid)
		must(t, w.c.PutDevice(ctx, d))
		return d
	}
	refD, gotD := newDevice(ref), newDevice(got)
	pn1 := types.NewJID("15551230001", types.DefaultUserServer)

	t.Run("contact cache keeps not found", func(t *testing.T) {
		user := types.NewJID("15551230009", types.DefaultUserServer)
		for _, d := range []*wmstore.Device{refD, gotD} {
			_, _, err := d.Contacts.PutBusinessName(ctx, user, "") // no change: caches "not found"
			must(t, err)
			must(t, d.Contacts.PutManyRedactedPhones(ctx, []wmstore.RedactedPhoneEntry{{JID: user}})) // saves a row
		}
		cached, _ := refD.Contacts.GetContact(ctx, user)
		table, _ := sqlstore.NewSQLStore(refC, jid).GetContact(ctx, user)
		ours, _ := gotD.Contacts.GetContact(ctx, user)
		if cached.Found || !table.Found || !ours.Found {
			t.Errorf("sqlstore cache found=%v, table found=%v, wastore found=%v; want false, true, true", cached.Found, table.Found, ours.Found)
		}
	})

	t.Run("DeleteIdentity matches with LIKE", func(t *testing.T) {
		for _, d := range []*wmstore.Device{refD, gotD} {
			must(t, d.Identities.PutIdentity(ctx, "12a45:1", [32]byte{1}))
			must(t, d.Identities.DeleteIdentity(ctx, "12_45:1")) // '_' is LIKE's any character
		}
		refTrusted, _ := refD.Identities.IsTrustedIdentity(ctx, "12a45:1", [32]byte{2})
		ourTrusted, _ := gotD.Identities.IsTrustedIdentity(ctx, "12a45:1", [32]byte{2})
		if !refTrusted || ourTrusted {
			t.Errorf("after DeleteIdentity(12_45:1), 12a45:1 unknown: sqlstore %v, wastore %v; want true, false", refTrusted, ourTrusted)
		}
	})

	t.Run("empty PutPrivacyTokens", func(t *testing.T) {
		if err := refD.PrivacyTokens.PutPrivacyTokens(ctx); err == nil {
			t.Error("sqlstore accepts an empty PutPrivacyTokens now")
		}
		must(t, gotD.PrivacyTokens.PutPrivacyTokens(ctx))
	})

	t.Run("migration memo set before the transaction", func(t *testing.T) {
		pn := types.NewJID("15551230007", types.DefaultUserServer)
		lid := types.NewJID("100000000000007", types.HiddenUserServer)
		rollback := errors.New("rollback")
		for _, d := range []*wmstore.Device{refD, gotD} {
			must(t, d.Sessions.PutSession(ctx, "15551230007:0", []byte{1}))
			err := d.EventBuffer.DoDecryptionTxn(ctx, func(ctx context.Context) error {
				must(t, d.Sessions.MigratePNToLID(ctx, pn, lid))
				return rollback
			})
			if !errors.Is(err, rollback) {
				t.Fatal(err)
			}
			must(t, d.Sessions.MigratePNToLID(ctx, pn, lid))
		}
		refMigrated, _ := refD.Sessions.HasSession(ctx, "100000000000007_1:0")
		ourMigrated, _ := gotD.Sessions.HasSession(ctx, "100000000000007_1:0")
		if refMigrated || !ourMigrated {
			t.Errorf("migration retried after a rollback: sqlstore %v, wastore %v; want false, true", refMigrated, ourMigrated)
		}
	})

	t.Run("privacy tokens and writes after DeleteDevice", func(t *testing.T) {
		for w, d := range map[*world]*wmstore.Device{ref: refD, got: gotD} {
			tok := wmstore.PrivacyToken{User: pn1, Token: []byte{1}, Timestamp: time.Unix(1, 0)}
			must(t, d.PrivacyTokens.PutPrivacyTokens(ctx, tok))
			must(t, w.c.DeleteDevice(ctx, d))
			kept, err := d.PrivacyTokens.GetPrivacyToken(ctx, pn1)
			must(t, err)
			if wantKept := w == ref; (kept != nil) != wantKept {
				t.Errorf("%s: privacy token after DeleteDevice: %v", w.name, kept)
			}
			errSession := d.Sessions.PutSession(ctx, "1:0", []byte{1})
			errToken := d.PrivacyTokens.PutPrivacyTokens(ctx, tok)
			wantTokenErr := w == got // sqlstore's privacy token table has no foreign key
			if errSession == nil || (errToken != nil) != wantTokenErr {
				t.Errorf("%s after delete: PutSession %v, PutPrivacyTokens %v", w.name, errSession, errToken)
			}
		}
	})
}
