package store

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/dgraph-io/badger/v4"
)

// Write is one key a write transaction set or deleted: the whole Badger key and, unless
// Delete, its new value. Both belong to the transaction: a hook must not keep them after
// it returns.
type Write struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// A CommitHook takes over the commit of every write transaction that writes a key under
// one of the prefixes it was registered for (SetCommitHook). Cluster mode registers one
// (core/cluster/statesync) to publish the shared key families before they are committed
// locally; a single node registers none.
//
// A transaction is seen by the hook when it is committed through DB.Update or DB.Commit:
// fn runs, then the transaction's writes under the hook's prefixes (in key order) are
// passed to Commit together with the still open transaction, and Commit decides: it
// commits txn (txn.Commit, possibly after adding writes of its own to it) and returns
// nil, or returns an error and leaves txn uncommitted (it is discarded). An error that
// wraps badger.ErrConflict makes DB.Update run fn again, as a local conflict does.
// Transactions with no write under the prefixes are committed as before, at the cost of
// one pass over their writes. Writers that commit a *badger.Txn themselves or use
// Badger's WriteBatch bypass the hook.
type CommitHook interface {
	Commit(txn *badger.Txn, writes []Write) error
}

// commitHook is a registered CommitHook and its prefixes, each with its '/'.
type commitHook struct {
	h        CommitHook
	prefixes [][]byte
}

// hookSlot holds a DB's registered hook (nil: none).
type hookSlot = atomic.Pointer[commitHook]

// ErrPendingWritesUnsupported: this Badger version keeps a transaction's writes where
// PendingWrites cannot read them; no commit hook can be registered.
var ErrPendingWritesUnsupported = errors.New("store: reading a transaction's writes is not supported with this Badger version")

// SetCommitHook registers h for the keys under prefixes (each p/...); nil removes it.
// Register it before the services write; transactions already past fn when it changes
// commit under the hook they loaded.
func (db *DB) SetCommitHook(prefixes []Prefix, h CommitHook) error {
	if h == nil {
		db.hook.Store(nil)
		return nil
	}
	if !PendingWritesSupported {
		return ErrPendingWritesUnsupported
	}
	ch := &commitHook{h: h}
	for _, p := range prefixes {
		ch.prefixes = append(ch.prefixes, []byte(string(p)+"/"))
	}
	db.hook.Store(ch)
	return nil
}

// Commit commits txn, a read-write transaction of db, through the commit hook when one
// is registered and txn writes under its prefixes: what DB.Update does after fn. A
// writer that runs its own transactions (a group committer) calls it instead of
// txn.Commit so that its writes of shared keys are seen too. The caller still discards
// txn.
func (db *DB) Commit(txn *badger.Txn) error {
	h := db.hook.Load()
	if h == nil {
		return txn.Commit()
	}
	return h.commit(txn)
}

// update is one try of Update.
func (db *DB) update(fn func(txn *badger.Txn) error) error {
	h := db.hook.Load()
	if h == nil {
		return db.bdb.Update(fn)
	}
	txn := db.bdb.NewTransaction(true)
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	return h.commit(txn)
}

func (h *commitHook) commit(txn *badger.Txn) error {
	var writes []Write
	for _, e := range pendingMap(txn) {
		if !h.covers(e.Key) {
			continue
		}
		writes = append(writes, entryWrite(e))
	}
	if len(writes) == 0 {
		return txn.Commit()
	}
	slices.SortFunc(writes, func(a, b Write) int { return bytes.Compare(a.Key, b.Key) })
	return h.h.Commit(txn, writes)
}

func (h *commitHook) covers(key []byte) bool {
	for _, p := range h.prefixes {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// A Badger transaction keeps its writes in an unexported map, pendingWrites
// map[string]*Entry, and marks a delete in an unexported Entry field, meta, with bit
// bitDelete (badger v4's txn.go and value.go). Badger has no API that lists a
// transaction's writes, and the services write through *badger.Txn, so PendingWrites
// reads them there. PendingWritesSupported says whether this Badger has those fields
// with those types (checked once); without them SetCommitHook (and wastore's
// replication) refuse, and TestPendingWrites fails on a Badger bump that moves them.
var (
	pendingField, metaField = func() (pw, meta reflect.StructField) {
		pw, _ = reflect.TypeFor[badger.Txn]().FieldByName("pendingWrites")
		meta, _ = reflect.TypeFor[badger.Entry]().FieldByName("meta")
		return pw, meta
	}()
	// PendingWritesSupported: PendingWrites works with this Badger version.
	PendingWritesSupported = pendingField.Type == reflect.TypeFor[map[string]*badger.Entry]() &&
		metaField.Type == reflect.TypeFor[byte]()
)

// badgerBitDelete is Badger's bitDelete: the meta bit of a delete entry.
const badgerBitDelete = 1 << 0

func pendingMap(txn *badger.Txn) map[string]*badger.Entry {
	return *(*map[string]*badger.Entry)(unsafe.Add(unsafe.Pointer(txn), pendingField.Offset))
}

func entryWrite(e *badger.Entry) Write {
	meta := *(*byte)(unsafe.Add(unsafe.Pointer(e), metaField.Offset))
	w := Write{Key: e.Key, Delete: meta&badgerBitDelete != 0}
	if !w.Delete {
		w.Value = e.Value
	}
	return w
}

// PendingWrites returns the writes txn holds so far (the last write of each key), in
// key order. Only when PendingWritesSupported.
func PendingWrites(txn *badger.Txn) []Write {
	m := pendingMap(txn)
	out := make([]Write, 0, len(m))
	for _, e := range m {
		out = append(out, entryWrite(e))
	}
	slices.SortFunc(out, func(a, b Write) int { return bytes.Compare(a.Key, b.Key) })
	return out
}
