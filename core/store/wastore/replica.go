package wastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// A Replicator keeps a copy of one session's whatsmeow state elsewhere (cluster mode:
// core/cluster/wamsync, in JetStream), written through: the store hands it the writes
// of each transaction of the session before committing the transaction locally.
//
// With a replicator registered for a session (SetReplicator), every write transaction
// of the session's containers, DoDecryptionTxn included, goes like this:
//
//  1. It runs in a Badger transaction of its own, one at a time per session: the
//     session's transactions are serialized (never batched with other sessions'), so
//     they cannot conflict with each other and reach the replica in commit order.
//  2. Its writes (every key it set or deleted, below wam/<tenant>/<session>/) are
//     passed to Replicate, in key order.
//  3. Only when Replicate returns nil is the Badger transaction committed and the call
//     returned to whatsmeow. Otherwise it is discarded and whatsmeow gets the error:
//     the local copy never holds a write the replica does not have.
//
// Reads stay local. A transaction function must write through the context it was given
// only: a write with another context waits for the transaction it runs in, until its
// context ends or lockWait passes, and fails with ErrReplicaBusy.
//
// Replicate reports, with its error, how many of the writes (a prefix of the list) the
// replica holds after all: 0 when it refused or failed cleanly; n > 0 when a
// transaction too big for one atomic write landed in part (those n are then committed
// locally too, so that both copies stay equal, and the call fails); -1 when it cannot
// tell (a lost acknowledgement it could not resolve): the session's replicated writes
// then all fail with ErrReplicaBroken until SetReplicator is called again, after the
// local copy was made equal to the replica (Restore). The keys and values of writes
// belong to the Badger transaction: Replicate must not keep them after it returns.
type Replicator interface {
	Replicate(ctx context.Context, writes []Write) (int, error)
}

// Write is one key a transaction set or deleted: the whole Badger key
// (wam/<tenant>/<session>/...) and, unless Delete, its new value. It is the store's
// Write: the same capture serves store.CommitHook.
type Write = store.Write

// Errors of replication.
var (
	// ErrReplicaBroken: the session's replica may differ from the local copy (see
	// Replicator); its writes are refused until the replicator is set again.
	ErrReplicaBroken = errors.New("wastore: replica may differ from the local copy")
	// ErrReplicationUnsupported: this Badger version keeps a transaction's writes where
	// wastore cannot read them (see pendingWrites); replication cannot be turned on.
	ErrReplicationUnsupported = errors.New("wastore: replication is not supported with this Badger version")
	// ErrReplicaBusy: a transaction of a replicated session waited lockWait for the
	// one before it (a transaction function that writes with another context waits
	// for itself).
	ErrReplicaBusy = errors.New("wastore: the session's previous transaction did not finish")
	// ErrSessionReplicated: Restore of a session that has a replicator registered,
	// that is a session that runs.
	ErrSessionReplicated = errors.New("wastore: the session is replicated (running); stop it before restoring")
)

// SetReplicator registers r as the replicator of session (of tenant) on db, for every
// container of the session, existing or future; nil removes it. Register it before
// whatsmeow starts on the session and remove it only after whatsmeow has stopped: once
// removed, writes are local only. A DB with no replicator registered pays one atomic
// load per transaction.
func SetReplicator(db *store.DB, tenant, session string, r Replicator) error {
	if r != nil && !pendingOK {
		return ErrReplicationUnsupported
	}
	committerOf(db.Badger()).replicas.set(tenant+"/"+session, r)
	return nil
}

// replicaSet holds the replicators of one DB's sessions, by "<tenant>/<session>".
type replicaSet struct {
	// n counts the entries, read without the lock: with none, a lookup is one load.
	n  atomic.Int32
	mu sync.RWMutex
	m  map[string]*replica
}

func (rs *replicaSet) set(key string, r Replicator) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r == nil {
		delete(rs.m, key)
	} else {
		if rs.m == nil {
			rs.m = map[string]*replica{}
		}
		rs.m[key] = &replica{r: r, turn: make(chan struct{}, 1)}
	}
	rs.n.Store(int32(len(rs.m)))
}

func (rs *replicaSet) get(tenant, session string) *replica {
	if rs.n.Load() == 0 {
		return nil
	}
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	return rs.m[tenant+"/"+session]
}

// replica is one session's registered replicator.
type replica struct {
	r Replicator
	// turn, a semaphore of one, serializes the session's write transactions.
	turn chan struct{}
	// broken is set once the replica may differ from the local copy; guarded by turn.
	broken error
}

// lockWait bounds how long a replicated transaction waits for the one before it:
// longer than any replication takes (wamsync's default bound per batch is 5 s).
const lockWait = time.Minute

// replicated reports whether the container's session has a replicator.
func (c *Container) replicated() bool { return c.commits.replicas.get(c.tenant, c.session) != nil }

// commit runs run in a read-write transaction and commits it: through the session's
// replicator when it has one, through the DB's committer otherwise.
func (c *Container) commit(ctx context.Context, run func(txn *badger.Txn) ([]func(), error)) error {
	if rp := c.commits.replicas.get(c.tenant, c.session); rp != nil {
		return rp.commit(ctx, c.db.Badger(), run)
	}
	return c.commits.do(ctx, c.db.Badger(), run)
}

// commit implements the steps of Replicator's documentation.
func (rp *replica) commit(ctx context.Context, db *badger.DB, run func(txn *badger.Txn) ([]func(), error)) error {
	wait := time.NewTimer(lockWait)
	select {
	case rp.turn <- struct{}{}:
		wait.Stop()
	case <-ctx.Done():
		wait.Stop()
		return ctx.Err()
	case <-wait.C:
		return ErrReplicaBusy
	}
	defer func() { <-rp.turn }()
	if rp.broken != nil {
		return rp.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	txn := db.NewTransaction(true)
	defer txn.Discard()
	after, err := run(txn)
	if err != nil {
		return err
	}
	writes := pendingWrites(txn)
	if len(writes) > 0 {
		n, err := rp.r.Replicate(ctx, writes)
		if err != nil {
			if n < 0 {
				rp.broken = fmt.Errorf("%w: %w", ErrReplicaBroken, err)
				return rp.broken
			}
			if n > 0 {
				if aerr := apply(db, writes[:n]); aerr != nil {
					rp.broken = fmt.Errorf("%w: committing the replicated part locally: %w", ErrReplicaBroken, aerr)
					return rp.broken
				}
			}
			return fmt.Errorf("wastore: replicating %d writes: %w", len(writes), err)
		}
	}
	err = txn.Commit()
	if errors.Is(err, badger.ErrConflict) {
		// A writer outside the session's containers (a sweep, a restore) wrote a key
		// this transaction read. The replica has these writes: make the local copy
		// equal to it.
		err = apply(db, writes)
	}
	if err != nil {
		rp.broken = fmt.Errorf("%w: replicated, not committed locally: %w", ErrReplicaBroken, err)
		return rp.broken
	}
	for _, f := range after {
		f()
	}
	return nil
}

// apply writes writes to db as they are, in transactions as big as Badger takes.
func apply(db *badger.DB, writes []Write) error {
	for len(writes) > 0 {
		txn := db.NewTransaction(true)
		n := 0
		for _, w := range writes {
			var err error
			if w.Delete {
				err = txn.Delete(w.Key)
			} else {
				err = txn.Set(w.Key, w.Value)
			}
			if errors.Is(err, badger.ErrTxnTooBig) && n > 0 {
				break
			}
			if err != nil {
				txn.Discard()
				return err
			}
			n++
		}
		if err := txn.Commit(); err != nil {
			return err
		}
		writes = writes[n:]
	}
	return nil
}

// deletePrefixReplicated deletes every key below prefix in replicated transactions of
// at most deleteChunk keys: what a DeletePrefix does, through the replicator.
func (c *Container) deletePrefixReplicated(ctx context.Context, prefix []byte) error {
	const deleteChunk = 1000
	for {
		var n int
		err := c.update(ctx, func(txn *badger.Txn) error {
			var keys [][]byte
			err := scan(txn, prefix, false, func(item *badger.Item) (bool, error) {
				keys = append(keys, item.KeyCopy(nil))
				return len(keys) < deleteChunk, nil
			})
			n = len(keys)
			for _, k := range keys {
				if err == nil {
					err = txn.Delete(k)
				}
			}
			return err
		}, nil)
		if err != nil || n < deleteChunk {
			return err
		}
	}
}

// Restore makes the whatsmeow state of session (of tenant) in db exactly want, keyed
// by the part of each key after wam/<tenant>/<session>/: keys missing or different are
// written, keys want lacks are deleted. A new owner of a session calls it with the
// replica's copy before starting the session (wamsync's Hydrate). It is not atomic: a
// restore cut short is run again before the session starts. It refuses a session with
// a replicator registered. It returns how many keys it wrote and deleted.
func Restore(ctx context.Context, db *store.DB, tenant, session string, want map[string][]byte) (written, deleted int, err error) {
	if committerOf(db.Badger()).replicas.get(tenant, session) != nil {
		return 0, 0, ErrSessionReplicated
	}
	prefix := SessionPrefix(tenant, session)
	seen := make(map[string]bool, len(want))
	var writes []Write
	err = db.View(func(txn *badger.Txn) error {
		return scan(txn, prefix, true, func(item *badger.Item) (bool, error) {
			rest := string(item.Key()[len(prefix):])
			v, ok := want[rest]
			if !ok {
				writes = append(writes, Write{Key: item.KeyCopy(nil), Delete: true})
				return true, nil
			}
			seen[rest] = true
			return true, item.Value(func(have []byte) error {
				if !bytes.Equal(have, v) {
					writes = append(writes, Write{Key: item.KeyCopy(nil), Value: v})
				}
				return nil
			})
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("wastore: restoring session %s of tenant %s: %w", session, tenant, err)
	}
	for rest, v := range want {
		if !seen[rest] {
			writes = append(writes, Write{Key: append(slices.Clip(prefix), rest...), Value: v})
		}
	}
	for _, w := range writes {
		if w.Delete {
			deleted++
		} else {
			written++
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if err := apply(db.Badger(), writes); err != nil {
		return 0, 0, fmt.Errorf("wastore: restoring session %s of tenant %s: %w", session, tenant, err)
	}
	return written, deleted, nil
}

// SessionPrefix is the prefix of every key of session's whatsmeow state,
// wam/<tenant>/<session>/.
func SessionPrefix(tenant, session string) []byte {
	return store.ScanPrefix(store.PrefixWhatsmeow, tenant, session)
}

// pendingOK says whether replication can read a transaction's writes
// (store.PendingWritesSupported); pendingWrites reads them (store.PendingWrites).
var pendingOK = store.PendingWritesSupported

func pendingWrites(txn *badger.Txn) []Write { return store.PendingWrites(txn) }
