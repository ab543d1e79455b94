package cloudapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// CustomerServiceWindow is how long after a contact's last message a business may send
// it anything; past it, only a template (Meta answers 131047 otherwise).
const CustomerServiceWindow = 24 * time.Hour

// WindowOpen reports whether a contact whose last inbound message was at last may
// still be sent a free-form message at now. A zero last (never wrote) is closed.
func WindowOpen(last, now time.Time) bool {
	return !last.IsZero() && now.Sub(last) < CustomerServiceWindow
}

// InboundStore persists when each contact last wrote to each session: the start of the
// contact's customer-service window. The gateway supplies StoreInbound (Badger, at
// cai/<tenant>/<session>/<chat id>); tests use NewMemoryInboundStore.
//
// Implementations must be safe for concurrent use; the provider calls them without
// holding any lock of its own.
type InboundStore interface {
	// RecordInbound raises the last inbound time of each chat of last (canonical chat
	// id -> time) to the time given, keeping a later one already recorded: webhooks may
	// arrive out of order.
	RecordInbound(ctx context.Context, tenant, session string, last map[string]time.Time) error
	// LastInbound returns when chat last wrote to the session; ok is false when it
	// never did (since the gateway started receiving this session's webhooks).
	LastInbound(ctx context.Context, tenant, session, chat string) (t time.Time, ok bool, err error)
}

// MemoryInboundStore is an InboundStore in memory, for tests and for a gateway
// without storage. The zero value is not usable; call NewMemoryInboundStore.
type MemoryInboundStore struct {
	mu   sync.Mutex
	last map[[3]string]time.Time
}

// NewMemoryInboundStore returns an empty MemoryInboundStore.
func NewMemoryInboundStore() *MemoryInboundStore {
	return &MemoryInboundStore{last: make(map[[3]string]time.Time)}
}

// RecordInbound implements InboundStore.
func (m *MemoryInboundStore) RecordInbound(ctx context.Context, tenant, session string, last map[string]time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for chat, t := range last {
		k := [3]string{tenant, session, chat}
		if t.After(m.last[k]) {
			m.last[k] = t
		}
	}
	return nil
}

// LastInbound implements InboundStore.
func (m *MemoryInboundStore) LastInbound(ctx context.Context, tenant, session, chat string) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.last[[3]string{tenant, session, chat}]
	return t, ok, nil
}

// inboundTable holds Unix milliseconds at cai/<tenant>/<session>/<chat id>.
var inboundTable = store.Table[int64]{Prefix: store.PrefixCloudInbound, Codec: store.JSONCodec[int64]{}}

// StoreInbound is the InboundStore of a running gateway: the times live in its Badger
// store at cai/<tenant>/<session>/<chat id> (Unix milliseconds), encrypted and backed
// up with the rest, and deleted with the session.
type StoreInbound struct{ DB *store.DB }

// RecordInbound implements InboundStore, in one transaction.
func (s StoreInbound) RecordInbound(ctx context.Context, tenant, session string, last map[string]time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.DB.Update(func(txn *badger.Txn) error {
		for chat, t := range last {
			ms := t.UnixMilli()
			cur, err := inboundTable.Get(txn, tenant, session, chat)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			case cur >= ms:
				continue
			}
			if err := inboundTable.Put(txn, ms, tenant, session, chat); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastInbound implements InboundStore.
func (s StoreInbound) LastInbound(ctx context.Context, tenant, session, chat string) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	var ms int64
	err := s.DB.View(func(txn *badger.Txn) error {
		var err error
		ms, err = inboundTable.Get(txn, tenant, session, chat)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return time.UnixMilli(ms), true, nil
}

var (
	_ InboundStore = (*MemoryInboundStore)(nil)
	_ InboundStore = StoreInbound{}
)
