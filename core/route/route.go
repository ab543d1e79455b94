// Package route picks the session that sends a message when the API request names none:
// "reply from the same number". The session that last talked with the contact (it wrote
// to us, or we sent to it) is sticky while it is WORKING; otherwise the tenant's WORKING
// sessions take turns (round-robin).
//
// This is the built-in default; the policy issue makes routing a per-tenant plugin chain
// with this rule as its fallback.
package route

import (
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

var contacts = store.Table[string]{Prefix: store.PrefixContact, Codec: store.JSONCodec[string]{}}

// Router is the default route. Safe for concurrent use.
type Router struct {
	db *store.DB

	mu   sync.Mutex
	next map[string]int // per tenant: round-robin position
}

// New returns a router over db's contact records (ctc/<tenant>/<chat>).
func New(db *store.DB) *Router { return &Router{db: db, next: make(map[string]int)} }

// Pick returns the session for a message to chat: the sticky session if it is among
// working, else the next of working in turn. ok is false when working is empty.
func (r *Router) Pick(ctx context.Context, tenant, chat string, working []string) (string, bool) {
	if len(working) == 0 {
		return "", false
	}
	var last string
	_ = r.db.View(func(txn *badger.Txn) error {
		v, err := contacts.Get(txn, tenant, chat)
		if err == nil {
			last = v
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	for _, s := range working {
		if s == last {
			return s, true
		}
	}
	sorted := append([]string(nil), working...)
	sort.Strings(sorted)
	r.mu.Lock()
	i := r.next[tenant] % len(sorted)
	r.next[tenant] = i + 1
	r.mu.Unlock()
	return sorted[i], true
}

// Record makes session the sticky one for chat, inside txn (the transaction that
// records a message sent). A blind write: it cannot conflict.
func (r *Router) Record(txn *badger.Txn, tenant, chat, session string) error {
	return contacts.Put(txn, session, tenant, chat)
}

// RecordInbound makes session the sticky one for a contact that wrote to it.
func (r *Router) RecordInbound(tenant, chat, session string) error {
	return r.db.Update(func(txn *badger.Txn) error { return r.Record(txn, tenant, chat, session) })
}

// Forget drops the tenant's round-robin position (tenant deleted).
func (r *Router) Forget(tenant string) {
	r.mu.Lock()
	delete(r.next, tenant)
	r.mu.Unlock()
}
