package policy

import (
	"time"

	"github.com/wagate/wagate/core/event"
)

// Message is what a hook sees of an outbound message. Strings are shared with the
// caller: a hook must not keep them past the call without copying (Go strings are
// immutable, so keeping them is safe; keeping the containing slices is not).
type Message struct {
	// ID is the gateway's message id ("msg_...").
	ID string
	// Tenant owns the message.
	Tenant string
	// Session is the session the API request named, empty when the request let the
	// route policy choose.
	Session string
	// ChatID is the recipient as the API accepted it ("15551230000@c.us", "...@g.us").
	ChatID string
	// Kind is the message type: text, image, file, voice, video, location, contact,
	// reaction.
	Kind string
	// Text is the body of a text message or the caption of media; empty otherwise. Its
	// length in bytes is len(Text).
	Text string
	// Attempts counts the provider calls already made for this message (0 before the
	// first send).
	Attempts int
	// CreatedAt is when the gateway accepted the message.
	CreatedAt time.Time
}

// Candidate is a session and the statistics a rule needs about it. It is a route and
// failover candidate, and the session the rate hook is asked about.
type Candidate struct {
	// Session is the session's name, unique within the tenant.
	Session string
	// Provider is the session's adapter: "sandbox", "whatsmeow" (WhatsApp Web, multi
	// device) or "cloudapi" (Meta Cloud API). Others may be added.
	Provider string
	// State is the session's state as core/session names it: STOPPED, STARTING,
	// SCAN_QR_CODE, WORKING, FAILED, LOGGED_OUT.
	State string
	// QueueDepth is the number of messages waiting in the session's queue.
	QueueDepth int
	// SentMinute, SentHour and SentDay count the messages the session sent in the last
	// minute, hour and day (sliding windows ending now).
	SentMinute, SentHour, SentDay int
	// LinkedAt is when the number was linked to this session; zero if unknown. Now minus
	// LinkedAt is the age of the number, which warm-up rules use.
	LinkedAt time.Time
	// LastContact is the last time this session exchanged a message with the message's
	// chat (either direction); zero if never.
	LastContact time.Time
	// LastSentAt is when the session last sent any message; zero if never.
	LastSentAt time.Time

	// The fields below serve pacing rules (plugins/antiban). The native runtime and Lua
	// see them; ABI version 1 (WASM, go-plugin) does not carry them.

	// LastInbound is the last time the message's chat wrote to this session; zero if
	// it never did (as far as the gateway recorded: inbound messages are recorded per
	// session and chat since pacing exists).
	LastInbound time.Time
	// ChatSentHour counts the messages this session sent to the message's chat in the
	// last hour (each message once: its retries do not count again).
	ChatSentHour int
	// FirstContact is true when the message would open a conversation the chat did not
	// start: the chat never wrote to this session and the session sent it nothing in
	// the last 24 hours.
	FirstContact bool
	// FirstContactsDay counts the first contacts the session made in the last 24
	// hours: distinct chats, each counted when its first message was allowed.
	FirstContactsDay int
	// PausedUntil is when a restriction WhatsApp placed on the number ends, zero when
	// none is known; PauseReason names it: "temporary_ban" (nothing can be sent) or
	// "reachout_timelock" (new contacts cannot be messaged).
	PausedUntil time.Time
	PauseReason string
}

// Error is a failed send as the failover hook sees it: flattened, so that it crosses a
// process or sandbox boundary unchanged.
type Error struct {
	// Code is snake_case: "timeout", "rate_limited", "banned", "logged_out",
	// "auth_failed", "invalid_recipient", "not_connected", "unsupported",
	// "provider_error", ... (ErrorOf makes one from a provider error).
	Code string
	// Message is the human-readable error text.
	Message string
	// Retryable is true when the same send may succeed if tried again later on the same
	// session.
	Retryable bool
}

// RouteInput is the route hook's input.
type RouteInput struct {
	// Now is the time of the call. Hooks use it (and wagate.now() / now_ms(), which
	// return it during a call) instead of a clock, so decisions are reproducible.
	Now     time.Time
	Message Message
	// Candidates are the sessions that may send the message: the tenant's sessions
	// that can send now, in a stable order (by session name). Never empty: the chain
	// answers no opinion without calling anyone when there is no candidate.
	Candidates []Candidate
}

// FailoverInput is the failover hook's input.
type FailoverInput struct {
	Now     time.Time
	Message Message
	// Session is the session whose send failed, with its statistics.
	Session Candidate
	// Error is the failure.
	Error Error
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Candidates are the sessions a reroute may name (as for route; the failed session
	// is among them if it can still send). May be empty.
	Candidates []Candidate
}

// RateInput is the rate hook's input.
type RateInput struct {
	Now     time.Time
	Message Message
	// Session is the session about to send the message, with its statistics.
	Session Candidate
}

// TransformInput is the transform hook's input.
type TransformInput struct {
	Now time.Time
	// Event is the event about to be delivered, as webhooks would carry it.
	Event event.Envelope
}
