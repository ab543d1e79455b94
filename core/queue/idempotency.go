package queue

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// claimKey looks up the idempotency key of it in txn. When the key was seen within its
// TTL it returns the first message's Result (Replayed, with Mismatch when the request
// differs) and seen; otherwise it records the key for it.Message.ID.
func (q *Queue) claimKey(txn *badger.Txn, tenant string, it Item, now time.Time) (Result, bool, error) {
	k := idemKey(it.IdempotencyKey)
	rec, err := idems.Get(txn, tenant, k)
	if err == nil && now.Before(rec.ExpiresAt) {
		if rec.Fingerprint != "" && it.Fingerprint != "" && rec.Fingerprint != it.Fingerprint {
			return Result{ID: rec.MessageID, Replayed: true, Mismatch: true}, true, nil
		}
		orig, err := messages.Get(txn, tenant, rec.MessageID)
		status := orig.Status
		if err != nil {
			status = StatusQueued
		}
		return Result{ID: rec.MessageID, Status: status, Replayed: true}, true, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Result{}, false, err
	}
	err = idems.Put(txn, idemRecord{MessageID: it.Message.ID, ExpiresAt: now.Add(q.opts.IdempotencyTTL), Fingerprint: it.Fingerprint}, tenant, k)
	return Result{}, false, err
}

// ClaimKeys does for items what Enqueue does with their idempotency keys, without
// queueing anything: one Result per item, Replayed (and Mismatch) for a key seen
// within the TTL, else the item's own id, queued. Cluster mode accepts a send this way
// before it publishes it to the cluster's send stream (core/cluster/relay): the keys
// are shared state, so two nodes given one key agree on which message it names.
func (q *Queue) ClaimKeys(ctx context.Context, tenant string, items []Item) ([]Result, error) {
	results := make([]Result, len(items))
	err := q.db.Update(func(txn *badger.Txn) error {
		now := q.opts.Now().UTC()
		for i, it := range items {
			results[i] = Result{ID: it.Message.ID, Status: StatusQueued}
			if it.IdempotencyKey == "" {
				continue
			}
			res, seen, err := q.claimKey(txn, tenant, it, now)
			if err != nil {
				return err
			}
			if seen {
				results[i] = res
			}
		}
		return nil
	})
	return results, err
}

// ForgetKeys removes the idempotency records that ClaimKeys wrote for items whose
// messages could not be published, so that a retry is not answered with a message
// that does not exist.
func (q *Queue) ForgetKeys(tenant string, items []Item) error {
	return q.db.Update(func(txn *badger.Txn) error {
		for _, it := range items {
			if it.IdempotencyKey == "" {
				continue
			}
			k := idemKey(it.IdempotencyKey)
			if rec, err := idems.Get(txn, tenant, k); err == nil && rec.MessageID == it.Message.ID {
				if err := idems.Delete(txn, tenant, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
