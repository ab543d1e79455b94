package queue

import (
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/store"
)

// oldestAge returns how long the oldest message still waiting (queued, or sending) has
// been in the queue, 0 when none waits. Entry keys are que/<tenant>/<session>/<id>
// with ULID ids in acceptance order, so each session's oldest message is the first key
// of its normal ids or of its low-priority ids (ids.NewLow, which sort after): at most
// two seeks per session with messages waiting, keys only, no values read.
func (q *Queue) oldestAge(now time.Time) time.Duration {
	q.depthMu.Lock()
	keys := make([]sessionKey, 0, len(q.depth))
	for k := range q.depth {
		keys = append(keys, k)
	}
	q.depthMu.Unlock()
	if len(keys) == 0 {
		return 0
	}
	var oldest time.Time
	consider := func(key []byte, prefix []byte) {
		if t, ok := ids.Time(string(key[len(prefix):])); ok && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for _, k := range keys {
			prefix := store.ScanPrefix(store.PrefixQueue, k.tenant, k.session)
			if it.Seek(prefix); it.ValidForPrefix(prefix) {
				consider(it.Item().Key(), prefix)
			}
			low := append(append([]byte{}, prefix...), ids.Message+"_"+ids.Low...)
			if it.Seek(low); it.ValidForPrefix(low) {
				consider(it.Item().Key(), prefix)
			}
		}
		return nil
	})
	if err != nil || oldest.IsZero() {
		return 0
	}
	return max(now.Sub(oldest), 0)
}
