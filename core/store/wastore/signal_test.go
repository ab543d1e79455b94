package wastore

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/libsignal/ecc"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/util/optional"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// TestSignalRoundTrip runs the Signal protocol, as whatsmeow does, between two devices
// kept in wastore (two sessions of one gateway): a prekey message decrypted in a
// DoDecryptionTxn, the store closed and reopened, then a reply.
func TestSignalRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	aliceJID, bobJID := types.NewADJID("15551230001", 0, 1), types.NewADJID("15551230002", 0, 2)
	alice := pairedDevice(t, newContainer(t, db, "acme", "alice"), aliceJID)
	bob := pairedDevice(t, newContainer(t, db, "acme", "bob"), bobJID)
	ser := wmstore.SignalProtobufSerializer

	// Alice starts a session from Bob's prekey bundle, as whatsmeow does from the
	// server's answer.
	pks, err := bob.PreKeys.GetOrGenPreKeys(ctx, 1)
	must(t, err)
	pk := pks[0]
	bundle := prekey.NewBundle(bob.RegistrationID, uint32(bobJID.Device), optional.NewOptionalUint32(pk.KeyID), bob.SignedPreKey.KeyID,
		ecc.NewDjbECPublicKey(*pk.Pub), ecc.NewDjbECPublicKey(*bob.SignedPreKey.Pub), *bob.SignedPreKey.Signature,
		identity.NewKey(ecc.NewDjbECPublicKey(*bob.IdentityKey.Pub)))
	aliceBuilder := session.NewBuilderFromSignal(alice, bobJID.SignalAddress(), ser)
	must(t, aliceBuilder.ProcessBundle(ctx, bundle))
	aliceCipher := session.NewCipher(aliceBuilder, bobJID.SignalAddress())
	first, err := aliceCipher.Encrypt(ctx, []byte("hello bob"))
	must(t, err)

	// Bob decrypts in a decryption transaction, buffering the plaintext.
	pkm, err := protocol.NewPreKeySignalMessageFromBytes(first.Serialize(), ser.PreKeySignalMessage, ser.SignalMessage)
	must(t, err)
	bobCipher := session.NewCipher(session.NewBuilderFromSignal(bob, aliceJID.SignalAddress(), ser), aliceJID.SignalAddress())
	hash := [32]byte{1}
	must(t, bob.EventBuffer.DoDecryptionTxn(ctx, func(txn context.Context) error {
		pt, err := bobCipher.DecryptMessage(txn, pkm)
		if err != nil {
			return err
		}
		if string(pt) != "hello bob" {
			t.Errorf("bob decrypted %q", pt)
		}
		// Not committed yet: outside the transaction, the prekey is still there.
		if k, _ := bob.PreKeys.GetPreKey(ctx, pk.KeyID); k == nil {
			t.Error("prekey removal visible before commit")
		}
		return bob.EventBuffer.PutBufferedEvent(txn, hash, pt, time.Now())
	}))
	if k, _ := bob.PreKeys.GetPreKey(ctx, pk.KeyID); k != nil {
		t.Error("used one-time prekey not removed")
	}

	// Restart: reopen the store, load the devices again.
	must(t, db.Close())
	db = openDB(t, dir)
	defer db.Close()
	alice, err = newContainer(t, db, "acme", "alice").GetDevice(ctx, aliceJID)
	must(t, err)
	bob, err = newContainer(t, db, "acme", "bob").GetDevice(ctx, bobJID)
	must(t, err)
	if ev, _ := bob.EventBuffer.GetBufferedEvent(ctx, hash); ev == nil || string(ev.Plaintext) != "hello bob" {
		t.Errorf("buffered event after reopen: %+v", ev)
	}

	// Bob replies on the established session; Alice decrypts.
	bobCipher = session.NewCipher(session.NewBuilderFromSignal(bob, aliceJID.SignalAddress(), ser), aliceJID.SignalAddress())
	reply, err := bobCipher.Encrypt(ctx, []byte("hello alice"))
	must(t, err)
	if reply.Type() != protocol.WHISPER_TYPE {
		t.Fatalf("reply is message type %d, want a plain Signal message: bob's session was lost", reply.Type())
	}
	sm, err := protocol.NewSignalMessageFromBytes(reply.Serialize(), ser.SignalMessage)
	must(t, err)
	aliceCipher = session.NewCipher(session.NewBuilderFromSignal(alice, bobJID.SignalAddress(), ser), bobJID.SignalAddress())
	pt, err := aliceCipher.Decrypt(ctx, sm)
	must(t, err)
	if string(pt) != "hello alice" {
		t.Errorf("alice decrypted %q", pt)
	}
	if ok, _ := alice.Identities.IsTrustedIdentity(ctx, bobJID.SignalAddress().String(), [32]byte{}); ok {
		t.Error("alice did not save bob's identity")
	}
}
