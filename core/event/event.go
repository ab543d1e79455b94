// Package event is the in-process event bus. Everything that happens (session status, QR
// codes, inbound messages, acks) is published once as an Envelope; webhooks, SSE and
// WebSocket subscribers and metrics read from it.
//
// Publish never blocks on a subscriber: each subscriber has a bounded buffer, and a
// subscriber whose buffer is full is dropped (its channel closed, Err set to ErrSlowSubscriber) so that one
// slow reader cannot hold up the gateway or the other readers. The one exception is the
// tap (Bus.SetTap), the durable webhook outbox, which takes every event and may make the
// publisher wait rather than lose one.
//
//	sub, err := bus.Subscribe(event.Filter{Tenant: "acme", Events: []string{"message.*"}})
//	if err != nil { ... } // ErrTooManySubscribers
//	defer sub.Close()
//	for env := range sub.C() { ... }
//	if err := sub.Err(); err != nil { ... } // why the channel closed
package event

import (
	"encoding/json"
	"time"
)

// Event names. Lowercase, dotted; a filter may use "message.*" or "*".
const (
	SessionStatus = "session.status"
	SessionQR     = "session.qr"
	Message       = "message"
	MessageAck    = "message.ack"
	// MessageFailover: a message left a lost session, moved to its fallback or
	// refused ({id, chatId, from, to | refused, reason}).
	MessageFailover = "message.failover"
)

// Messages beyond "message", in WAHA's names (core/provider/messages.go).
const (
	// MessageAny: every message a session receives, "message" and the kinds below
	// alike, with the payload of "message".
	MessageAny = "message.any"
	// MessageReaction: a reaction to a message ({...message, reaction: {text, messageId}}).
	MessageReaction = "message.reaction"
	// MessageEdited: the sender edited a message ({...message, body, editedMessageId}).
	MessageEdited = "message.edited"
	// MessageRevoked: the sender deleted a message for everyone
	// ({revokedMessageId, after, before}).
	MessageRevoked = "message.revoked"
	// PollVote: someone voted on the session's poll
	// (provider.PollVoteEvent: {vote: {id, from, to, fromMe, selectedOptions, timestamp}, poll: {id, from, to, fromMe}}).
	PollVote = "poll.vote"
)

// Contacts (core/provider/contacts.go). WAHA has no event for them; the name is ours.
const (
	// ContactUpdate: a contact changed their push name, picture or about
	// (provider.ContactUpdate: {id, change, pushname | pictureId, removed | about, timestamp}).
	ContactUpdate = "contact.update"
)

// Names lists every event name of the constants of this package: the catalogue in
// docs/api.md must have a row for each and no other (core/api's TestEventCatalogue),
// and every event-name constant here must be in it (TestEventNamesListsEveryConstant).
// A new event gets its constant (in its area's block), a line here and a row there.
var Names = []string{
	SessionStatus,
	SessionQR,
	Message,
	MessageAck,
	MessageFailover,
	MessageAny,
	MessageReaction,
	MessageEdited,
	MessageRevoked,
	PollVote,
	ContactUpdate,
	PresenceUpdate,
	GroupJoin,
	GroupLeave,
	GroupParticipants,
	GroupUpdate,
	LabelUpsert,
	LabelDeleted,
	LabelChatAdded,
	LabelChatDeleted,
	CallReceived,
	CallAccepted,
	CallRejected,
	CampaignStatus,
	CampaignProgress,
	OptOutAdded,
}

// Campaigns (core/campaign). Ours: WAHA has no campaigns.
const (
	// CampaignStatus: a campaign changed status
	// (campaign.StatusEvent: {id, name, status, previous, reason?}).
	CampaignStatus = "campaign.status"
	// CampaignProgress: a running campaign's counts, at most once a second
	// (campaign.ProgressEvent: {id, name, status, counts}).
	CampaignProgress = "campaign.progress"
)

// Audiences (core/audience, docs/campaigns.md). Tenant-wide, or of the session a stop
// word reached.
const (
	// OptOutAdded: a chat joined the tenant's opt-out list (audience.OptOut: {chatId,
	// reason, session?, at}).
	OptOutAdded = "optout.added"
)

// Calls (core/provider/calls.go), in WAHA's names.
const (
	// CallReceived: someone is calling the session (provider.CallReceived: {id, from, timestamp, isVideo, isGroup}).
	CallReceived = "call.received"
	// CallAccepted: the call was answered on another device of the account (provider.CallAccepted).
	CallAccepted = "call.accepted"
	// CallRejected: the call was rejected, or ended unanswered (provider.CallRejected).
	CallRejected = "call.rejected"
)

// Labels (core/provider/labels.go), in WAHA's names.
const (
	// LabelUpsert: a label was created or edited (provider.LabelUpsert: {id, name, color, colorHex}).
	LabelUpsert = "label.upsert"
	// LabelDeleted: a label was deleted (provider.LabelDeleted: {id, name, color, colorHex}).
	LabelDeleted = "label.deleted"
	// LabelChatAdded: a label was put on a chat (provider.LabelChatAdded: {labelId, chatId, label}).
	LabelChatAdded = "label.chat.added"
	// LabelChatDeleted: a label was taken off a chat (provider.LabelChatDeleted: {labelId, chatId, label}).
	LabelChatDeleted = "label.chat.deleted"
)

// Groups (core/provider/groups.go), in WAHA's names.
const (
	// GroupJoin: the session joined, created or was added to a group
	// (provider.GroupJoin: {timestamp, group}).
	GroupJoin = "group.v2.join"
	// GroupLeave: the session left or was removed from a group
	// (provider.GroupLeave: {timestamp, group: {id}}).
	GroupLeave = "group.v2.leave"
	// GroupParticipants: others joined, left, were promoted or demoted
	// (provider.GroupParticipantsChange: {group: {id}, type, timestamp, participants, author?}).
	GroupParticipants = "group.v2.participants"
	// GroupUpdate: a group's subject, description or settings changed
	// (provider.GroupUpdate: {timestamp, group: {id, ...changed}, author?}).
	GroupUpdate = "group.v2.update"
)

// Presence (core/provider/presence.go), in WAHA's names.
const (
	// PresenceUpdate: a contact's presence or chat state changed
	// (provider.PresenceUpdate: {id, presences: [{participant, lastKnownPresence, lastSeen}]}).
	PresenceUpdate = "presence.update"
)

// Envelope is the one shape of every event, on webhooks, SSE and WebSocket alike.
type Envelope struct {
	// ID is unique per event ("evt_" + 26 chars), usable as a dedup key.
	ID string `json:"id"`
	// Timestamp is when the event happened, in Unix milliseconds.
	Timestamp int64 `json:"timestamp"`
	// Event is the event name, e.g. "message.ack".
	Event string `json:"event"`
	// Session is the session name, empty for tenant-wide events.
	Session string `json:"session"`
	// Tenant is the owning tenant's id.
	Tenant string `json:"tenant"`
	// Payload is the event-specific body, already JSON.
	Payload json.RawMessage `json:"payload"`

	// The session's context, as WAHA's webhooks carry it (WAHAWebhook): set on every
	// event of a session as it is published (Bus.SetStamp), left out of tenant-wide
	// events. Stamps share their values between events: never modify them.

	// Me is the session's own account when it is known (once linked).
	Me *Me `json:"me,omitempty"`
	// Engine is the session's provider: "sandbox", "whatsmeow" or "cloudapi" (WAHA's
	// WEBJS, NOWEB, GOWS name its own engines).
	Engine string `json:"engine,omitempty"`
	// Environment describes the gateway (WAHA's WAHAEnvironment).
	Environment *Environment `json:"environment,omitempty"`
	// Metadata is the session's metadata (config.metadata at create or update).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Me is a session's own account, WAHA's MeInfo.
type Me struct {
	// ID is the account's chat id, e.g. "15551234567@c.us".
	ID string `json:"id"`
	// PushName is the account's profile name, "" when the transport does not say.
	PushName string `json:"pushName"`
}

// Environment is WAHA's WAHAEnvironment: what GET /api/server/version answers and
// every session event carries.
type Environment struct {
	// Version is the gateway's build version.
	Version string `json:"version"`
	// Engine is the provider: the session's on events, the default one on
	// /api/server/version.
	Engine string `json:"engine"`
	// Tier is "OSS": wagate has one edition, every feature in it (WAHA: CORE, PLUS).
	Tier string `json:"tier"`
	// Browser is the browser WAHA's WEBJS engine drives; null: no provider of
	// wagate runs a browser.
	Browser *string `json:"browser"`
}

// Tier is Environment.Tier.
const Tier = "OSS"

// New builds an envelope with a fresh id and the current time, encoding payload as JSON.
// Payloads are the gateway's own types, so an encoding error is a programming error and
// panics rather than being silently dropped.
func New(name, tenant, session string, payload any) Envelope {
	var b []byte
	if a, ok := payload.(Appender); ok {
		b, ok = a.AppendJSON(nil)
		if !ok {
			b = nil
		}
	}
	if b == nil {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			panic("event: payload of " + name + " does not encode: " + err.Error())
		}
	}
	return Envelope{
		ID:        NewID(),
		Timestamp: time.Now().UnixMilli(),
		Event:     name,
		Session:   session,
		Tenant:    tenant,
		Payload:   b,
	}
}

// Appender is a payload that writes its own JSON, for the hottest events (message.ack is
// published at every status change of every message): AppendJSON appends exactly what
// encoding/json would write for the payload and reports true, or reports false and New
// falls back to encoding/json (for values it does not write plainly, see PlainJSON).
type Appender interface {
	AppendJSON(b []byte) ([]byte, bool)
}

// PlainJSON reports whether encoding/json writes s between quotes unchanged: printable
// ASCII without '"', '\\' and the characters it escapes for HTML ('<', '>', '&').
func PlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
