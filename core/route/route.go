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
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

var contacts = store.Table[Contact]{Prefix: store.PrefixContact, Codec: store.JSONCodec[Contact]{}}

// Contact is the sticky record of a chat: the session that last exchanged a message
// with it, and when.
type Contact struct {
	Session string    `json:"session"`
	At      time.Time `json:"at,omitzero"`
}

// UnmarshalJSON also reads the first format, a bare session name (no time).
func (c *Contact) UnmarshalJSON(b []byte) error {
	var name string
	if json.Unmarshal(b, &name) == nil {
		*c = Contact{Session: name}
		return nil
	}
	type plain Contact
	return json.Unmarshal(b, (*plain)(c))
}

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
	last := r.Last(tenant, chat).Session
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

// Last returns a chat's sticky record (zero when none, or on a store error).
func (r *Router) Last(tenant, chat string) Contact {
	var c Contact
	_ = r.db.View(func(txn *badger.Txn) error {
		v, err := contacts.Get(txn, tenant, chat)
		if err == nil {
			c = v
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	return c
}

// Record makes session the sticky one for chat, inside txn (the transaction that
// records a message sent). A blind write: it cannot conflict.
func (r *Router) Record(txn *badger.Txn, tenant, chat, session string) error {
	return contacts.Put(txn, Contact{Session: session, At: time.Now().UTC()}, tenant, chat)
}

// RecordInbound makes session the sticky one for a contact that wrote to it, and
// records when the contact last wrote to that session (Inbound).
func (r *Router) RecordInbound(tenant, chat, session string) error {
	return r.db.Update(func(txn *badger.Txn) error {
		if err := r.Record(txn, tenant, chat, session); err != nil {
			return err
		}
		return inbound.Put(txn, time.Now().UTC(), tenant, chat, inboundPart, session)
	})
}

// inbound holds when a contact last wrote to a session, below the contact's sticky
// record: ctc/<tenant>/<chat id>/in/<session>. Pacing reads it (a contact that wrote
// is in a conversation; one that never did is a first contact).
var inbound = store.Table[time.Time]{Prefix: store.PrefixContact, Codec: store.JSONCodec[time.Time]{}}

const inboundPart = "in"

// Inbound returns when chat last wrote to session; zero when it never did since
// inbound times are recorded, or on a store error.
func (r *Router) Inbound(tenant, chat, session string) time.Time {
	var at time.Time
	_ = r.db.View(func(txn *badger.Txn) error {
		v, err := inbound.Get(txn, tenant, chat, inboundPart, session)
		if err == nil {
			at = v
		}
		return nil
	})
	return at
}

// Forget drops the tenant's round-robin position (tenant deleted).
func (r *Router) Forget(tenant string) {
	r.mu.Lock()
	delete(r.next, tenant)
	r.mu.Unlock()
}
