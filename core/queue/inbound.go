package queue

import (
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
)

// Received messages in a chat's history.
//
// A message a session receives is kept beside the ones it sent: a Message record with
// Inbound set, status "received", From (and Participant in a group) its author and
// ProviderID the transport's id, under a gateway id taken when the gateway received
// it. Its chat index entry is the one outbound messages use, and ids are ULIDs, so
// GET /api/{session}/chats/{chatId}/messages lists both directions in the order the
// gateway saw them (a sent message by when it was accepted). Retention deletes
// received messages like final outbound ones, from when they were received.
//
// Reactions, edits and revokes are events about another message, not messages of the
// history: they are not recorded (the message they change keeps its first text). Media
// is recorded without its bytes, as the event carries it.
//
// Recording goes through the committer without waiting, like acks: the event loop of
// a session never waits on the disk for it, and a crash can lose the last received
// messages from the history (never from the webhooks, whose outbox is written on its
// own path).

// StatusReceived is the status of a message the session received.
const StatusReceived Status = "received"

// RecordsHistory reports whether a received message of kind k is recorded.
func RecordsHistory(k provider.Kind) bool {
	return k != provider.KindReaction && k != provider.KindEdit && k != provider.KindRevoke
}

// received is a RecordReceived call.
type received struct {
	tenant string
	m      Message
}

func (r *received) size() int        { return 1 }
func (r *received) finish(err error) {}

func (r *received) apply(q *Queue, txn *badger.Txn) error {
	if err := messages.Put(txn, r.m, r.tenant, r.m.ID); err != nil {
		return err
	}
	return chatIndex.Put(txn, struct{}{}, r.tenant, r.m.Session, r.m.ChatID, r.m.ID)
}

// RecordReceived adds a message the session received to its chat's history (see
// above), unless its kind is not recorded. It does not wait for the write.
func (q *Queue) RecordReceived(tenant, session string, in provider.Inbound) error {
	if !RecordsHistory(in.Kind) || !validID(session) || in.ChatID.IsZero() {
		return nil
	}
	now := q.opts.Now().UTC()
	at := in.Timestamp
	if at.IsZero() {
		at = now
	}
	m := Message{
		ID: ids.New(ids.Message), Session: session, ChatID: in.ChatID.String(), Type: in.Kind, Text: in.Text,
		Inbound: true, From: in.From.String(), FromMe: in.FromMe, ProviderID: in.ProviderID,
		Status: StatusReceived, History: []Change{{Status: StatusReceived, At: now}}, CreatedAt: now, Timestamp: at,
	}
	if !in.Participant.IsZero() {
		m.Participant = in.Participant.String()
	}
	if in.Media != nil || in.Location != nil || len(in.Contacts) > 0 || in.Poll != nil || in.Event != nil || len(in.Mentions) > 0 || in.Preview != nil {
		m.Payload = &Payload{Media: in.Media, Location: in.Location, Contacts: slices.Clone(in.Contacts), Poll: in.Poll, Event: in.Event, Mentions: in.Mentions,
			Preview: in.Preview}
	}
	if !validID(m.ChatID) {
		return fmt.Errorf("queue: received message in chat %q: not a storable chat id", m.ChatID)
	}
	select {
	case q.in <- &received{tenant: tenant, m: m}:
	case <-q.stop:
		return ErrClosed
	}
	return nil
}
