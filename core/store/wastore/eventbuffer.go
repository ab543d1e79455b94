package wastore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// The decrypted event buffer: the plaintext of each decrypted message, saved in the
// decryption's transaction, so that a message whose handling was cut short is not
// decrypted twice. Each entry has an age index, evi/<insert ms>/<hash>, so that
// DeleteOldBufferedHashes reads only what it deletes.

// eventRecord is a buffered event. Plaintext is nil once the event was handled.
type eventRecord struct {
	Plaintext []byte `json:"plaintext"`
	ServerTS  int64  `json:"server_ts"` // Unix seconds
	InsertMS  int64  `json:"insert_ms"` // Unix milliseconds
}

var events = store.Table[eventRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[eventRecord]{}}

// bufferRetention is how long buffered hashes are kept: the WhatsApp servers buffer
// events for 14 days.
const bufferRetention = 14 * 24 * time.Hour

// GetBufferedEvent returns the buffered event of ciphertextHash, nil when there is none.
func (s *deviceStore) GetBufferedEvent(ctx context.Context, ciphertextHash [32]byte) (*wmstore.BufferedEvent, error) {
	var out *wmstore.BufferedEvent
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		rec, err := events.Get(txn, s.parts(kindEvent, bin(ciphertextHash[:]))...)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out = &wmstore.BufferedEvent{Plaintext: nilIfEmpty(rec.Plaintext), ServerTime: time.Unix(rec.ServerTS, 0), InsertTime: time.UnixMilli(rec.InsertMS)}
		return nil
	})
	return out, err
}

// PutBufferedEvent buffers the plaintext of ciphertextHash; one buffered already is an
// error (ErrExists).
func (s *deviceStore) PutBufferedEvent(ctx context.Context, ciphertextHash [32]byte, plaintext []byte, serverTimestamp time.Time) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		hash := bin(ciphertextHash[:])
		ok, err := exists(txn, s.key(kindEvent, hash))
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("%w: buffered event %s", ErrExists, hash)
		}
		rec := eventRecord{Plaintext: plaintext, ServerTS: serverTimestamp.Unix(), InsertMS: s.c.now().UnixMilli()}
		if err := events.Put(txn, rec, s.parts(kindEvent, hash)...); err != nil {
			return err
		}
		return txn.Set(s.key(kindEventTime, num64(uint64(rec.InsertMS)), hash), nil)
	}, nil)
}

// ClearBufferedEventPlaintext drops the plaintext of ciphertextHash once its event is
// handled; the hash stays, so the event is known as processed.
func (s *deviceStore) ClearBufferedEventPlaintext(ctx context.Context, ciphertextHash [32]byte) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		parts := s.parts(kindEvent, bin(ciphertextHash[:]))
		rec, err := events.Get(txn, parts...)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		rec.Plaintext = nil
		return events.Put(txn, rec, parts...)
	}, nil)
}

// deleteBatch is how many entries the deletes of old entries (DeleteOldBufferedHashes,
// DeleteOldOutgoingEvents, DeleteExpiredPrivacyTokens) delete per transaction.
const deleteBatch = 1000

// DeleteOldBufferedHashes deletes the buffered events older than 14 days, of every
// device of the container (sqlstore's query has no device condition either).
func (s *deviceStore) DeleteOldBufferedHashes(ctx context.Context) error {
	cutoff := s.c.now().Add(-bufferRetention).UnixMilli()
	var recs []deviceRecord
	if err := s.c.view(ctx, func(txn *badger.Txn) error {
		var err error
		recs, err = s.c.deviceRecords(txn)
		return err
	}); err != nil {
		return err
	}
	for _, rec := range recs {
		jid, err := types.ParseJID(rec.JID)
		if err != nil {
			return fmt.Errorf("device %s: %w", rec.JID, err)
		}
		if _, err := newDeviceStore(s.c, jid).deleteAged(ctx, kindEventTime, kindEvent, cutoff); err != nil {
			return fmt.Errorf("deleting old buffered events: %w", err)
		}
	}
	return nil
}

// keysBefore returns up to limit age index keys below prefix older than cutoff.
func keysBefore(txn *badger.Txn, prefix []byte, cutoff int64, limit int) ([][]byte, error) {
	var out [][]byte
	err := scan(txn, prefix, false, func(item *badger.Item) (bool, error) {
		ms, err := strconv.ParseUint(rest(item.Key(), prefix)[0], 16, 64)
		if err != nil {
			return false, fmt.Errorf("event age key %q: %w", item.Key(), err)
		}
		if int64(ms) >= cutoff || len(out) >= limit {
			return false, nil
		}
		out = append(out, item.KeyCopy(nil))
		return true, nil
	})
	return out, err
}
