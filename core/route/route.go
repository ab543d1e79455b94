// Package route keeps what routing and pacing know about each chat: the session that
// last talked with the contact (it wrote to us, or we sent to it), and when the contact
// last wrote to each session. The route itself is a policy (plugins/sticky by default),
// fed these records by core/steer.
package route

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

var contacts = store.Table[Contact]{Prefix: store.PrefixContact, Codec: contactCodec{}}

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

// Router keeps the contact records. Safe for concurrent use.
type Router struct {
	db *store.DB
}

// New returns a router over db's contact records (ctc/<tenant>/<chat>).
func New(db *store.DB) *Router { return &Router{db: db} }

// Chat is everything recorded about one chat of a tenant.
type Chat struct {
	// Last is the sticky record: the session that last exchanged a message with the
	// chat, and when (zero when none).
	Last Contact
	// Inbound is, per session, when the chat last wrote to it.
	Inbound map[string]time.Time
}

// Chat reads a chat's sticky record and inbound times in one transaction: what route,
// pace and failover need about a chat, read once per question rather than once per
// candidate session. Zero on a store error.
func (r *Router) Chat(tenant, chat string) Chat {
	var c Chat
	_ = r.db.View(func(txn *badger.Txn) error {
		if v, err := contacts.Get(txn, tenant, chat); err == nil {
			c.Last = v
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return inbound.Scan(txn, func(rest []string, at time.Time) error {
			if len(rest) == 1 {
				if c.Inbound == nil {
					c.Inbound = map[string]time.Time{}
				}
				c.Inbound[rest[0]] = at
			}
			return nil
		}, tenant, chat, inboundPart)
	})
	return c
}

// Last returns a chat's sticky record (zero when none, or on a store error).
func (r *Router) Last(tenant, chat string) Contact { return r.Chat(tenant, chat).Last }

// Grain is how stale the times of a chat's records may get before a send writes them
// again: a send through the chat's sticky session within Grain of the recorded times
// writes nothing. The sticky session itself is always exact.
//
// Every send used to rewrite both records (two keys of the eight a sent message cost,
// and in cluster mode two shared writes that conflicted between nodes); a chat in
// conversation is sent to many times a minute. Readers (Candidate.LastContact for the
// policies, the contact view's lastOutbound) see times up to Grain old.
const Grain = time.Minute

// Record makes session the sticky one for chat, inside txn (the transaction that
// records a message sent), and records when session last sent to chat
// (ctc/<tenant>/<chat>/out/<session>); both only when they change or are older than
// Grain. It reads both records in txn first, so that messages of one group commit see
// each other's writes.
func (r *Router) Record(txn *badger.Txn, tenant, chat, session string) error {
	now := time.Now().UTC()
	last, err := contacts.Get(txn, tenant, chat)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || last.Session != session || now.Sub(last.At) >= Grain {
		if err := contacts.Put(txn, Contact{Session: session, At: now}, tenant, chat); err != nil {
			return err
		}
	}
	out, err := inbound.Get(txn, tenant, chat, outboundPart, session)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err != nil || now.Sub(out) >= Grain {
		return inbound.Put(txn, now, tenant, chat, outboundPart, session)
	}
	return nil
}

// RecordInbound makes session the sticky one for a contact that wrote to it, and
// records when the contact last wrote to that session (Inbound).
func (r *Router) RecordInbound(tenant, chat, session string) error {
	return r.db.Update(func(txn *badger.Txn) error {
		now := time.Now().UTC()
		if err := contacts.Put(txn, Contact{Session: session, At: now}, tenant, chat); err != nil {
			return err
		}
		return inbound.Put(txn, now, tenant, chat, inboundPart, session)
	})
}

// inbound holds when a contact last wrote to a session, below the contact's sticky
// record: ctc/<tenant>/<chat id>/in/<session>. Pacing reads it (a contact that wrote
// is in a conversation; one that never did is a first contact).
var inbound = store.Table[time.Time]{Prefix: store.PrefixContact, Codec: timeCodec{}}

const (
	inboundPart  = "in"
	outboundPart = "out"
)

// Inbound returns when chat last wrote to session; zero when it never did since
// inbound times are recorded, or on a store error.
func (r *Router) Inbound(tenant, chat, session string) time.Time {
	return r.Chat(tenant, chat).Inbound[session]
}

// Talk is, per session, when a chat last wrote to it and when it last sent to the chat.
type Talk struct {
	// LastInbound is when the chat last wrote to the session; zero when never (since
	// inbound times are recorded).
	LastInbound time.Time
	// LastOutbound is when the session last sent to the chat (the message was accepted
	// by the transport); zero when never since outbound times are recorded.
	LastOutbound time.Time
}

// Contact is everything recorded about one chat of a tenant, for the contact↔session
// view: the sticky record and, per session that talked with the chat, when it last
// received from and sent to it. One transaction, one prefix scan.
func (r *Router) Contact(tenant, chat string) (Contact, map[string]Talk, error) {
	var last Contact
	talk := map[string]Talk{}
	err := r.db.View(func(txn *badger.Txn) error {
		if v, err := contacts.Get(txn, tenant, chat); err == nil {
			last = v
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return inbound.Scan(txn, func(rest []string, at time.Time) error {
			if len(rest) != 2 {
				return nil
			}
			t := talk[rest[1]]
			switch rest[0] {
			case inboundPart:
				t.LastInbound = at
			case outboundPart:
				t.LastOutbound = at
			default:
				return nil
			}
			talk[rest[1]] = t
			return nil
		}, tenant, chat)
	})
	return last, talk, err
}
