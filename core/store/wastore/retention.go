package wastore

import (
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// SweepEventBuffers deletes, in the whatsmeow state of every session in db, the
// buffered decrypted events inserted more than 14 days before now (the window in which
// WhatsApp redelivers a message, BufferRetention), with their age index, in
// transactions of at most 1000 keys. It returns how many events it deleted.
//
// DeleteOldBufferedHashes does the same for one container, and whatsmeow calls it
// itself, but only after handling a message and at most every 12 hours: the buffer of a
// session that stopped receiving (stopped, logged out on the phone, quiet) would be kept
// forever. The gateway's retention schedule calls this instead. Sessions are found by
// seeking from one session's keys to the next, so the cost is a seek per session plus
// the age-index keys it deletes.
func SweepEventBuffers(ctx context.Context, db *store.DB, now time.Time) (int, error) {
	cutoff := now.Add(-BufferRetention).UnixMilli()
	deleted := 0
	prefix := []byte(string(store.PrefixWhatsmeow) + "/")
	from := prefix
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		var tenant, session string
		if err := db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
			defer it.Close()
			it.Seek(from)
			if it.ValidForPrefix(prefix) {
				if _, parts := store.KeyParts(it.Item().Key()); len(parts) >= 2 {
					tenant, session = parts[0], parts[1]
				}
			}
			return nil
		}); err != nil {
			return deleted, err
		}
		if tenant == "" {
			return deleted, nil
		}
		c, err := New(db, tenant, session, nil)
		if err != nil {
			return deleted, err
		}
		n, err := c.deleteOldEvents(ctx, cutoff)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("session %s of tenant %s: %w", session, tenant, err)
		}
		// On to the next session: its keys start after wam/<tenant>/<session>0 ('0'
		// follows '/').
		from = []byte(string(store.PrefixWhatsmeow) + "/" + tenant + "/" + session + "0")
	}
}

// BufferRetention is how long a buffered decrypted event is kept: the WhatsApp servers
// buffer events for 14 days.
const BufferRetention = bufferRetention

// deleteOldEvents deletes the buffered events of every device of c inserted before
// cutoff (Unix milliseconds) and returns how many.
func (c *Container) deleteOldEvents(ctx context.Context, cutoff int64) (int, error) {
	var recs []deviceRecord
	if err := c.view(ctx, func(txn *badger.Txn) error {
		var err error
		recs, err = c.deviceRecords(txn)
		return err
	}); err != nil {
		return 0, err
	}
	deleted := 0
	for _, rec := range recs {
		jid, err := types.ParseJID(rec.JID)
		if err != nil {
			return deleted, fmt.Errorf("device %s: %w", rec.JID, err)
		}
		n, err := newDeviceStore(c, jid).deleteAged(ctx, kindEventTime, kindEvent, cutoff)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("deleting old buffered events: %w", err)
		}
	}
	return deleted, nil
}
