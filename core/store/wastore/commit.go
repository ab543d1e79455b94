package wastore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"weak"

	"github.com/dgraph-io/badger/v4"
)

// committer group-commits the write transactions of every Container on one Badger DB,
// the way core/queue shares one commit among concurrent Enqueue calls. With
// store.sync_writes on, every Badger commit waits for a disk sync of its own (Badger
// syncs its write-ahead log once per transaction, even when it writes several
// together), so sessions receiving at the same time would take turns at the disk.
// Instead:
//
//   - A transaction that starts while no commit is under way runs and commits alone,
//     as it would without the committer: one message at a time costs nothing more.
//   - One that starts while a commit is under way waits for it. Then every transaction
//     that waited runs in one Badger transaction, one after the other in arrival order,
//     each seeing the writes of those before it, and they commit together: one sync.
//     That is what running and committing them one by one in that order would have
//     done, all at once.
//   - When the shared commit conflicts with a concurrent writer, they all run again,
//     together, in a new transaction. When one of them fails (an error, a panic) or
//     the commit fails otherwise, nothing of theirs is written and each runs again
//     alone, in a transaction of its own, with the outcome that gives it.
//
// A transaction waits only for the commits under way when it starts, then for its
// batch; never for a batch whose functions are running. So a function that, inside its
// transaction, writes through the store with another context does not deadlock: its
// write runs alone or in a batch of its own. The functions of a batch run in the
// goroutine of its first transaction: a function must not wait for another goroutine
// that is itself writing to the store (whatsmeow's decryption functions do not).
type committer struct {
	mu sync.Mutex
	// inflight counts the commits under way.
	inflight int
	// waiting holds the transactions that started during one: the next batch.
	waiting []*pendingTxn
	// replicas holds the replicators of the DB's replicated sessions (replica.go):
	// their transactions do not go through the committer.
	replicas replicaSet
}

// maxBatch bounds the transactions that share one commit, far below what a Badger
// transaction can hold (ErrTxnTooBig would make each run again alone).
const maxBatch = 64

// pendingTxn is a transaction waiting for a batch.
type pendingTxn struct {
	ctx context.Context
	// run writes the transaction into txn and returns what to run once it commits.
	run  func(txn *badger.Txn) ([]func(), error)
	turn chan turn
}

// turn is what a waiting transaction is told to do.
type turn struct {
	// batch, when not nil, is the batch to run and commit: the transaction is its first.
	batch []*pendingTxn
	// alone: run alone. Neither: the batch committed, with the transaction in it.
	alone bool
}

// committers holds the committer of each open Badger DB. An entry goes with its DB.
var committers = struct {
	mu sync.Mutex
	m  map[weak.Pointer[badger.DB]]*committer
}{m: map[weak.Pointer[badger.DB]]*committer{}}

// committerOf returns the committer of db.
func committerOf(db *badger.DB) *committer {
	key := weak.Make(db)
	committers.mu.Lock()
	defer committers.mu.Unlock()
	if cm, ok := committers.m[key]; ok {
		return cm
	}
	cm := &committer{}
	committers.m[key] = cm
	runtime.AddCleanup(db, func(key weak.Pointer[badger.DB]) {
		committers.mu.Lock()
		delete(committers.m, key)
		committers.mu.Unlock()
	}, key)
	return cm
}

// do runs run in a read-write transaction of db and commits it, retrying from scratch
// on conflict, alone or in a batch (see committer). The functions run returns run once
// its writes are committed.
func (cm *committer) do(ctx context.Context, db *badger.DB, run func(txn *badger.Txn) ([]func(), error)) error {
	cm.mu.Lock()
	if cm.inflight == 0 {
		cm.mu.Unlock()
		return cm.alone(ctx, db, run)
	}
	p := &pendingTxn{ctx: ctx, run: run, turn: make(chan turn, 1)}
	cm.waiting = append(cm.waiting, p)
	cm.mu.Unlock()
	t := <-p.turn
	switch {
	case t.batch != nil:
		return cm.lead(db, t.batch)
	case t.alone:
		return cm.alone(ctx, db, run)
	}
	return nil
}

// alone runs run in transactions of its own until one commits without conflict.
func (cm *committer) alone(ctx context.Context, db *badger.DB, run func(txn *badger.Txn) ([]func(), error)) error {
	var err error
	for range maxAttempts {
		if err = ctx.Err(); err != nil {
			return err
		}
		txn := db.NewTransaction(true)
		var after []func()
		after, err = run(txn)
		if err != nil {
			txn.Discard()
			return err
		}
		err = cm.commit(txn)
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		for _, f := range after {
			f()
		}
		return nil
	}
	return err
}

// lead runs a batch that holds the caller's transaction, and returns the caller's
// outcome. The others learn theirs through their turn.
func (cm *committer) lead(db *badger.DB, batch []*pendingTxn) error {
	defer cm.kick() // those beyond maxBatch, should no commit of this batch hand them over
	own := batch[0]
	// A transaction whose context ended runs alone, to fail there.
	var live []*pendingTxn
	for _, p := range batch {
		switch {
		case p.ctx.Err() == nil:
			live = append(live, p)
		case p != own:
			p.turn <- turn{alone: true}
		}
	}
	if len(live) < 2 {
		for _, p := range live {
			if p != own {
				p.turn <- turn{alone: true}
			}
		}
		return cm.alone(own.ctx, db, own.run)
	}
	afters := make([][]func(), len(live))
	var err error
	for range maxAttempts {
		if err = cm.runBatch(db, live, afters); !errors.Is(err, badger.ErrConflict) {
			break
		}
	}
	if err != nil {
		for _, p := range live {
			if p != own {
				p.turn <- turn{alone: true}
			}
		}
		return cm.alone(own.ctx, db, own.run)
	}
	ownIn := false
	for i, p := range live {
		for _, f := range afters[i] {
			f()
		}
		if p == own {
			ownIn = true
		} else {
			p.turn <- turn{}
		}
	}
	if !ownIn {
		return cm.alone(own.ctx, db, own.run)
	}
	return nil
}

// runBatch runs the transactions of batch in one Badger transaction, the functions
// each returns to run after the commit in afters, and commits it.
func (cm *committer) runBatch(db *badger.DB, batch []*pendingTxn, afters [][]func()) error {
	txn := db.NewTransaction(true)
	for i, p := range batch {
		var err error
		if afters[i], err = runRecovered(p.run, txn); err != nil {
			txn.Discard()
			return err
		}
	}
	return cm.commit(txn)
}

// runRecovered runs run, turning a panic into an error: the transaction whose function
// panicked runs again alone, in its own goroutine, and panics there.
func runRecovered(run func(txn *badger.Txn) ([]func(), error), txn *badger.Txn) (after []func(), err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wastore: transaction function panicked: %v", r)
		}
	}()
	return run(txn)
}

// commit commits txn, counted as under way meanwhile; after the last commit under way,
// the transactions that waited for it go as the next batch.
func (cm *committer) commit(txn *badger.Txn) error {
	cm.mu.Lock()
	cm.inflight++
	cm.mu.Unlock()
	err := txn.Commit()
	cm.mu.Lock()
	cm.inflight--
	cm.mu.Unlock()
	cm.kick()
	return err
}

// kick hands the transactions waiting, up to maxBatch, to the first of them as a batch
// when no commit is under way. It runs after every commit and every batch, so none
// waits once the commits it waited for are done.
func (cm *committer) kick() {
	cm.mu.Lock()
	var next []*pendingTxn
	if cm.inflight == 0 && len(cm.waiting) > 0 {
		n := min(len(cm.waiting), maxBatch)
		next = cm.waiting[:n:n]
		cm.waiting = append([]*pendingTxn(nil), cm.waiting[n:]...)
	}
	cm.mu.Unlock()
	if next != nil {
		next[0].turn <- turn{batch: next}
	}
}
