package wastore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// The retry buffer: messages the device sent, kept so that a retry receipt can be
// answered after a restart (whatsmeow's Client.UseRetryMessageStore; sqlstore's
// whatsmeow_retry_buffer). Each entry has an age index, rti/<insert ms>/<chat>/<id>,
// so that DeleteOldOutgoingEvents reads only what it deletes: whatsmeow calls it after
// every AddOutgoingEvent.

// outgoingRecord is a sent message: its format ("wa" or "fb") and serialized protobuf.
type outgoingRecord struct {
	Format    string `json:"format"`
	Plaintext []byte `json:"plaintext"`
	InsertMS  int64  `json:"insert_ms"` // Unix milliseconds
}

var outgoing = store.Table[outgoingRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[outgoingRecord]{}}

// outgoingRetention is how long sent messages are kept for retry receipts, as in
// sqlstore.
const outgoingRetention = 7 * 24 * time.Hour

// AddOutgoingEvent keeps the message id sent to chatJID (the JID as given, device
// included), replacing one kept under the same chat and id, with the current time. As
// with sqlstore's NOT NULL columns, the chat must be a JID and plaintext not nil.
func (s *deviceStore) AddOutgoingEvent(ctx context.Context, chatJID types.JID, id types.MessageID, format string, plaintext []byte) error {
	if chatJID.Server == "" || plaintext == nil {
		return fmt.Errorf("%w: outgoing event without chat or plaintext", ErrInvalidValue)
	}
	chat, msg := text(chatJID.String()), text(id)
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		parts := s.parts(kindOutgoing, chat, msg)
		old, err := outgoing.Get(txn, parts...)
		switch {
		case err == nil:
			if err := txn.Delete(s.key(kindOutTime, num64(uint64(old.InsertMS)), chat, msg)); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		rec := outgoingRecord{Format: format, Plaintext: plaintext, InsertMS: s.c.now().UnixMilli()}
		if err := outgoing.Put(txn, rec, parts...); err != nil {
			return err
		}
		return txn.Set(s.key(kindOutTime, num64(uint64(rec.InsertMS)), chat, msg), nil)
	}, nil)
}

// GetOutgoingEvent returns the format and plaintext of message id kept under chatJID
// or altChatJID (either may be the empty JID, which matches nothing); of both, the one
// under the lower JID, as SQLite returns them. None is an error wrapping
// sql.ErrNoRows, as sqlstore returns it: whatsmeow asks only for a message it must
// resend.
func (s *deviceStore) GetOutgoingEvent(ctx context.Context, chatJID, altChatJID types.JID, id types.MessageID) (string, []byte, error) {
	var chats []string
	for _, j := range []types.JID{chatJID, altChatJID} {
		if j.Server != "" {
			chats = append(chats, j.String())
		}
	}
	var found *outgoingRecord
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		var bestChat string
		for _, chat := range chats {
			if found != nil && chat >= bestChat {
				continue
			}
			rec, err := outgoing.Get(txn, s.parts(kindOutgoing, text(chat), text(id))...)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			found, bestChat = &rec, chat
		}
		return nil
	})
	switch {
	case err != nil:
		return "", nil, err
	case found == nil:
		return "", nil, fmt.Errorf("outgoing event %s in %s: %w", id, chatJID, sql.ErrNoRows)
	}
	return found.Format, nilIfEmpty(found.Plaintext), nil
}

// DeleteOldOutgoingEvents deletes the device's sent messages kept for more than 7 days.
func (s *deviceStore) DeleteOldOutgoingEvents(ctx context.Context) error {
	if _, err := s.deleteAged(ctx, kindOutTime, kindOutgoing, s.c.now().Add(-outgoingRetention).UnixMilli()); err != nil {
		return fmt.Errorf("deleting old outgoing events: %w", err)
	}
	return nil
}

// deleteAged deletes the entries of kind inserted before cutoff (Unix milliseconds)
// and their age index keys, timeKind/<insert ms>/<parts of the entry's key below
// kind>, and returns how many. In a carried transaction everything goes in it;
// otherwise in transactions of deleteBatch entries.
func (s *deviceStore) deleteAged(ctx context.Context, timeKind, kind string, cutoff int64) (int, error) {
	limit, carried := deleteBatch, s.c.carriedTxn(ctx) != nil
	if carried {
		limit = math.MaxInt
	}
	prefix := s.prefix(timeKind, "")
	deleted := 0
	for {
		n := 0
		err := s.c.update(ctx, func(txn *badger.Txn) error {
			n = 0
			ks, err := keysBefore(txn, prefix, cutoff, limit)
			if err != nil {
				return err
			}
			for _, k := range ks {
				if err := txn.Delete(k); err != nil {
					return err
				}
				if err := txn.Delete(s.key(kind, rest(k, prefix)[1:]...)); err != nil {
					return err
				}
			}
			n = len(ks)
			return nil
		}, nil)
		if err != nil {
			return deleted, err
		}
		deleted += n
		if n < limit || carried {
			return deleted, nil
		}
	}
}
