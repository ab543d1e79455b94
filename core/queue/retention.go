package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/store"
)

// Retention: the two sweeps the gateway's retention schedule (core/store/retention)
// runs over what this package owns. Both delete in transactions of at most batch
// messages of their own, each re-reading what it deletes, so a sweep never holds up
// the committer for long and never deletes a record that changed after it was picked
// (a retry request re-queuing a failed message, a new enqueue reusing an expired
// idempotency key: Badger's conflict detection reruns the sweep's transaction, which
// then sees the change and keeps the record).

// final reports whether a message has reached a status it leaves only through a retry
// request: sent, delivered, read or failed.
func (s Status) final() bool {
	return s == StatusSent || s == StatusDelivered || s == StatusRead || s == StatusFailed || s == StatusReceived
}

// lastChange is when a message last changed status.
func (m Message) lastChange() time.Time {
	t := m.CreatedAt
	if n := len(m.History); n > 0 && m.History[n-1].At.After(t) {
		t = m.History[n-1].At
	}
	return t
}

// SweepFinal deletes the records of messages whose status is final (sent, delivered,
// read, failed) and that last changed before cutoff, with their chat index entries; a
// message that still has a queue entry is kept. At most batch messages go per
// transaction (0 means 1000). It returns how many it deleted, and stops early, with
// ctx's error, when ctx ends.
//
// Message ids are ULIDs, so a tenant's keys are in creation order and a message created
// after cutoff cannot have last changed before it: the sweep reads values only of
// messages created before cutoff and skips each tenant's newer keys with one seek.
func (q *Queue) SweepFinal(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	deleted := 0
	var from []byte
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		keys, next, err := q.oldMessageKeys(cutoff, from, batch)
		if err != nil {
			return deleted, fmt.Errorf("queue: listing old messages: %w", err)
		}
		if len(keys) > 0 {
			n := 0
			err := q.db.Update(func(txn *badger.Txn) error {
				n = 0
				for _, k := range keys {
					ok, err := deleteIfFinal(txn, k, cutoff)
					if err != nil {
						return err
					}
					if ok {
						n++
					}
				}
				return nil
			})
			if err != nil {
				return deleted, fmt.Errorf("queue: deleting old messages: %w", err)
			}
			deleted += n
		}
		if next == nil {
			return deleted, nil
		}
		from = next
	}
}

// oldMessageKeys returns up to limit keys of message records created before cutoff,
// from key from on (nil: the start), and the key to go on from (nil when done).
func (q *Queue) oldMessageKeys(cutoff time.Time, from []byte, limit int) (keys [][]byte, next []byte, err error) {
	prefix := []byte(string(store.PrefixMessage) + "/")
	if from == nil {
		from = prefix
	}
	err = q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
		defer it.Close()
		for it.Seek(from); it.ValidForPrefix(prefix); {
			k := it.Item().Key()
			_, parts := store.KeyParts(k)
			if len(parts) != 2 {
				it.Next()
				continue
			}
			if at, ok := ids.Time(parts[1]); ok && !at.Before(cutoff) {
				// The rest of this tenant is newer: on to the next tenant, whose keys
				// start after msg/<tenant>0 ('0' follows '/').
				it.Seek([]byte(string(store.PrefixMessage) + "/" + parts[0] + "0"))
				continue
			}
			if len(keys) == limit {
				next = it.Item().KeyCopy(nil)
				return nil
			}
			keys = append(keys, it.Item().KeyCopy(nil))
			it.Next()
		}
		return nil
	})
	return keys, next, err
}

// deleteIfFinal deletes the message record at key, and its chat and provider id index
// entries, if its status is final, it last changed before cutoff and it has no queue
// entry.
func deleteIfFinal(txn *badger.Txn, key []byte, cutoff time.Time) (bool, error) {
	_, parts := store.KeyParts(key)
	tenant, id := parts[0], parts[1]
	m, err := messages.Get(txn, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !m.Status.final() || !m.lastChange().Before(cutoff) {
		return false, nil
	}
	if validID(m.Session) {
		if _, err := txn.Get(store.Key(store.PrefixQueue, tenant, m.Session, id)); err == nil {
			return false, nil // still queued (an entry the dispatcher has yet to drop)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return false, err
		}
		if validID(m.ChatID) {
			if err := chatIndex.Delete(txn, tenant, m.Session, m.ChatID, id); err != nil {
				return false, err
			}
		}
		if err := deleteProviderID(txn, tenant, m); err != nil {
			return false, err
		}
	}
	return true, messages.Delete(txn, tenant, id)
}

// SweepIdempotency deletes the Idempotency-Key records that expired before now, at
// most batch per transaction (0 means 1000). It returns how many it deleted. Expired
// records are already ignored by Enqueue; this reclaims their space.
func (q *Queue) SweepIdempotency(ctx context.Context, now time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	prefix := []byte(string(store.PrefixIdempotency) + "/")
	from := prefix
	deleted := 0
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		var keys [][]byte
		var next []byte
		err := q.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Prefix: prefix})
			defer it.Close()
			for it.Seek(from); it.ValidForPrefix(prefix); it.Next() {
				expired := false
				if err := it.Item().Value(func(b []byte) error {
					rec, err := idems.Codec.Decode(b)
					expired = err == nil && !now.Before(rec.ExpiresAt)
					return nil // an undecodable record is left alone
				}); err != nil {
					return err
				}
				if !expired {
					continue
				}
				if len(keys) == batch {
					next = it.Item().KeyCopy(nil)
					return nil
				}
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			return deleted, fmt.Errorf("queue: listing expired idempotency keys: %w", err)
		}
		if len(keys) > 0 {
			n := 0
			err := q.db.Update(func(txn *badger.Txn) error {
				n = 0
				for _, k := range keys {
					_, parts := store.KeyParts(k)
					rec, err := idems.Get(txn, parts...)
					if errors.Is(err, store.ErrNotFound) || (err == nil && now.Before(rec.ExpiresAt)) {
						continue // gone, or renewed by an enqueue since the scan
					}
					if err != nil {
						return err
					}
					if err := txn.Delete(k); err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return deleted, fmt.Errorf("queue: deleting expired idempotency keys: %w", err)
			}
			deleted += n
		}
		if next == nil {
			return deleted, nil
		}
		from = next
	}
}
