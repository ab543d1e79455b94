package wastore

import (
	"context"
	"errors"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// maxAttempts bounds how often a transaction is run again after a Badger conflict,
// like store.DB.Update.
const maxAttempts = 10

type txnKey struct{}

// carried is the read-write transaction of a DoDecryptionTxn, carried in its context:
// every store method called with that context reads and writes through it, so the
// decryption's session, prekey and buffer writes commit together or not at all.
type carried struct {
	db *badger.DB
	// mu serialises use of txn: a Badger transaction is not safe for concurrent use.
	mu  sync.Mutex
	txn *badger.Txn
	// after holds in-memory updates (memo caches) to apply once txn commits.
	after []func()
}

// carriedTxn returns the transaction ctx carries for this container's DB, if any.
func (c *Container) carriedTxn(ctx context.Context) *carried {
	t, _ := ctx.Value(txnKey{}).(*carried)
	if t == nil || t.db != c.db.Badger() {
		return nil
	}
	return t
}

// view runs fn in the carried transaction, or in a read-only one.
func (c *Container) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t := c.carriedTxn(ctx); t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		return fn(t.txn)
	}
	return c.db.View(fn)
}

// update runs fn in the carried transaction, or in a read-write one of its own (see
// committer) that is retried from scratch on conflict. after, when not nil, runs once
// fn's writes are committed: at once for an own transaction, at the carried one's
// commit otherwise.
func (c *Container) update(ctx context.Context, fn func(txn *badger.Txn) error, after func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t := c.carriedTxn(ctx); t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if err := fn(t.txn); err != nil {
			return err
		}
		if after != nil {
			t.after = append(t.after, after)
		}
		return nil
	}
	return c.commit(ctx, func(txn *badger.Txn) ([]func(), error) {
		if err := fn(txn); err != nil {
			return nil, err
		}
		if after == nil {
			return nil, nil
		}
		return []func(){after}, nil
	})
}

// updateMany writes n items with put, all in one transaction like sqlstore's one SQL
// transaction. Outside a carried transaction, a batch too big for one Badger
// transaction (tens of thousands of small items) is written in transactions of
// chunk items instead: atomic per chunk only.
func (c *Container) updateMany(ctx context.Context, n, chunk int, put func(txn *badger.Txn, lo, hi int) error) error {
	err := c.update(ctx, func(txn *badger.Txn) error { return put(txn, 0, n) }, nil)
	if !errors.Is(err, badger.ErrTxnTooBig) || c.carriedTxn(ctx) != nil {
		return err
	}
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		if err := c.update(ctx, func(txn *badger.Txn) error { return put(txn, lo, hi) }, nil); err != nil {
			return err
		}
	}
	return nil
}

// deleteAll deletes every key starting with one of prefixes, then the keys in last,
// in one transaction. Outside a carried transaction, keys too many for one Badger
// transaction are deleted in transactions of their own, last ones last, so that a
// delete cut short can be run again.
func (c *Container) deleteAll(ctx context.Context, prefixes [][]byte, last ...[]byte) error {
	err := c.update(ctx, func(txn *badger.Txn) error {
		for _, p := range prefixes {
			ks, err := keysWithPrefix(txn, p)
			if err != nil {
				return err
			}
			for _, k := range ks {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		for _, k := range last {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if !errors.Is(err, badger.ErrTxnTooBig) || c.carriedTxn(ctx) != nil {
		return err
	}
	for _, p := range prefixes {
		del := c.db.DeletePrefix
		if c.replicated() {
			del = func(p []byte) error { return c.deletePrefixReplicated(ctx, p) }
		}
		if err := del(p); err != nil {
			return err
		}
	}
	return c.update(ctx, func(txn *badger.Txn) error {
		for _, k := range last {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}, nil)
}

// doTxn implements DoDecryptionTxn: fn runs with a context carrying a new read-write
// transaction, committed when fn returns nil and discarded otherwise. When the commit
// conflicts with a concurrent write (badger.ErrConflict), fn runs again, from scratch,
// in a new transaction: fn must not have effects outside the store that cannot be
// repeated. A context that already carries a transaction runs fn in it, as nested
// sqlstore transactions do. See committer for how transactions of concurrent callers
// share a commit.
func (c *Container) doTxn(ctx context.Context, fn func(context.Context) error) error {
	if c.carriedTxn(ctx) != nil {
		return fn(ctx)
	}
	bdb := c.db.Badger()
	return c.commit(ctx, func(txn *badger.Txn) ([]func(), error) {
		t := &carried{db: bdb, txn: txn}
		err := fn(context.WithValue(ctx, txnKey{}, t))
		return t.after, err
	})
}
