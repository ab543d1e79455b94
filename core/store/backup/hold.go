package backup

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Hold is the marker `wagate restore` writes into a restored store (sys/restore_hold):
// while it is there, the gateway boots with every session stopped and webhook
// deliveries paused, so that a restored copy never drives a number the original may
// still drive. POST /api/admin/resume (or `wagate restore --resume`) removes it.
type Hold struct {
	// RestoredAt is when the store was restored.
	RestoredAt time.Time `json:"restoredAt"`
	// From names the backup files, in the order they were loaded.
	From []string `json:"from"`
	// Version is the version of the last backup loaded: since of the next incremental.
	Version uint64 `json:"version"`
	// Sessions counts the sessions held stopped.
	Sessions int `json:"sessions"`
}

var holds = store.Table[Hold]{Prefix: store.PrefixSystem, Codec: store.JSONCodec[Hold]{}}

const holdName = "restore_hold"

// SetHold writes the marker.
func SetHold(db *store.DB, h Hold) error {
	return db.Update(func(txn *badger.Txn) error { return holds.Put(txn, h, holdName) })
}

// GetHold returns the marker, if the store has one.
func GetHold(db *store.DB) (Hold, bool, error) {
	var h Hold
	err := db.View(func(txn *badger.Txn) error {
		var err error
		h, err = holds.Get(txn, holdName)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Hold{}, false, nil
	}
	return h, err == nil, err
}

// ClearHold removes the marker (nothing if there is none).
func ClearHold(db *store.DB) error {
	return db.Update(func(txn *badger.Txn) error { return holds.Delete(txn, holdName) })
}
