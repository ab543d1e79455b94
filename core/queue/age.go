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
// two seeks per session with messages waiting, keys only, no values read. The seeks
// start at the session's scan floor: from the session's first key, each would walk over
// every entry deleted since the last compaction (a metric scrape cost 40% of the CPU
// of a 20,000-message drain that way).
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
	err := q.db.View(func(txn *badger.Txn) error {
		for _, k := range keys {
			if t := oldestIn(txn, k, q.floorOf(k)); !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
				oldest = t
			}
		}
		return nil
	})
	if err != nil || oldest.IsZero() {
		return 0
	}
	return max(now.Sub(oldest), 0)
}

// oldestIn returns when the oldest message still waiting for session k was accepted,
// zero when none waits: the first key at or after floor among its normal ids, and among
// its low-priority ids. The iterator is bounded by the session's prefix: a Badger seek
// walks over deleted keys until it finds live ones (two, keys only), and unbounded it
// would cross into the next sessions' deleted entries.
func oldestIn(txn *badger.Txn, k sessionKey, floor string) time.Time {
	prefix := store.ScanPrefix(store.PrefixQueue, k.tenant, k.session)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var oldest time.Time
	consider := func(key []byte) {
		if t, ok := ids.Time(string(key[len(prefix):])); ok && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	if it.Seek(append(append([]byte{}, prefix...), floor...)); it.ValidForPrefix(prefix) {
		consider(it.Item().Key())
	}
	low := ids.Message + "_" + ids.Low
	lowPrefix := append(append([]byte{}, prefix...), low...)
	if it.Seek(append(append([]byte{}, prefix...), max(floor, low)...)); it.ValidForPrefix(lowPrefix) {
		consider(it.Item().Key())
	}
	return oldest
}

// Backlog is what waits in one session's queue.
type Backlog struct {
	// Waiting counts the messages queued or sending.
	Waiting int `json:"waiting"`
	// Oldest is when the oldest of them was accepted; absent when none waits.
	Oldest *time.Time `json:"oldest,omitempty"`
	// OldestAgeSeconds is how long it has waited, 0 when none waits.
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
}

// Backlog returns what waits in a session's queue now: two key seeks, no values read.
func (q *Queue) Backlog(tenant, session string, now time.Time) (Backlog, error) {
	waiting, _ := q.Depth(tenant, session)
	b := Backlog{Waiting: waiting}
	if waiting == 0 {
		return b, nil
	}
	err := q.db.View(func(txn *badger.Txn) error {
		k := sessionKey{tenant, session}
		if t := oldestIn(txn, k, q.floorOf(k)); !t.IsZero() {
			b.Oldest, b.OldestAgeSeconds = &t, max(now.Sub(t), 0).Seconds()
		}
		return nil
	})
	return b, err
}
