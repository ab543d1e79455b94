package wasm

import (
	"encoding/json"
	"time"
)

// The types below mirror those of the gateway's policy contract (core/policy), which
// docs/plugins.md documents field by field.

// Message is what a hook sees of an outbound message.
type Message struct {
	// ID is the gateway's message id ("msg_...").
	ID string
	// Tenant owns the message.
	Tenant string
	// Session is the session the API request named, empty when it let route choose.
	Session string
	// ChatID is the recipient as the API accepted it ("15551230000@c.us", "...@g.us").
	ChatID string
	// Kind is the message type: text, image, file, voice, video, location, contact,
	// reaction.
	Kind string
	// Text is the body of a text or the caption of media; empty otherwise.
	Text string
	// Attempts counts the provider calls already made for the message.
	Attempts int
	// CreatedAt is when the gateway accepted the message.
	CreatedAt time.Time
}

// Candidate is a session and its statistics.
type Candidate struct {
	// Session is the session's name, unique in the tenant.
	Session string
	// Provider is "sandbox", "whatsmeow" (WhatsApp Web) or "cloudapi" (Meta Cloud API).
	Provider string
	// State is STOPPED, STARTING, SCAN_QR_CODE, WORKING, FAILED or LOGGED_OUT.
	State string
	// QueueDepth is the number of messages waiting in the session's queue.
	QueueDepth int
	// SentMinute, SentHour and SentDay count the messages sent in the last minute, hour
	// and day.
	SentMinute, SentHour, SentDay int
	// LinkedAt is when the number was linked (zero: unknown).
	LinkedAt time.Time
	// LastContact is the last message exchanged with the message's chat through this
	// session (zero: never).
	LastContact time.Time
	// LastSentAt is when the session last sent anything (zero: never).
	LastSentAt time.Time
}

// Error is a failed send, as the failover hook sees it.
type Error struct {
	// Code is snake_case: "timeout", "rate_limited", "banned", "logged_out", ...
	Code string
	// Message is the human-readable text.
	Message string
	// Retryable is true when the same send may succeed later on the same session.
	Retryable bool
}

// RouteInput is the route hook's input.
type RouteInput struct {
	// Now is the time of the call.
	Now     time.Time
	Message Message
	// Candidates are the sessions that may send the message, by session name; never
	// empty.
	Candidates []Candidate
}

// FailoverInput is the failover hook's input.
type FailoverInput struct {
	Now     time.Time
	Message Message
	// Session is the session whose send failed.
	Session Candidate
	Error   Error
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Candidates are the sessions a reroute may name; may be empty.
	Candidates []Candidate
}

// RateInput is the rate hook's input.
type RateInput struct {
	Now     time.Time
	Message Message
	// Session is the session about to send the message.
	Session Candidate
}

// Event is a webhook event, as webhooks carry it.
type Event struct {
	// ID is unique per event; a transform must not change it.
	ID string `json:"id"`
	// Timestamp is when the event happened, in Unix milliseconds.
	Timestamp int64 `json:"timestamp"`
	// Event is the event's name ("message", "message.ack", ...).
	Event string `json:"event"`
	// Session is the session's name, empty for tenant-wide events.
	Session string `json:"session"`
	// Tenant owns the event; a transform must not change it.
	Tenant string `json:"tenant"`
	// Payload is the event's body: valid JSON of at most 1 MiB.
	Payload json.RawMessage `json:"payload"`

	// The session's context (WAHA's webhook fields), empty on tenant-wide events.
	// Read-only: the host keeps its own, whatever the transform returns in them.

	// Me is the session's own account, nil until it is linked.
	Me *Me `json:"me,omitempty"`
	// Engine is the session's provider: "sandbox", "whatsmeow" or "cloudapi".
	Engine string `json:"engine,omitempty"`
	// Environment describes the gateway.
	Environment *Environment `json:"environment,omitempty"`
	// Metadata is the session's metadata (config.metadata).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Me is a session's own account (WAHA's MeInfo).
type Me struct {
	ID       string `json:"id"`
	PushName string `json:"pushName"`
}

// Environment is the gateway (WAHA's WAHAEnvironment, whose browser is always null
// here).
type Environment struct {
	Version string `json:"version"`
	Engine  string `json:"engine"`
	Tier    string `json:"tier"`
}

// TransformInput is the transform hook's input.
type TransformInput struct {
	// Now is the time of the call.
	Now   time.Time
	Event Event
}

// RouteDecision is the route hook's answer.
type RouteDecision struct {
	// Session names the chosen candidate; empty is no opinion. A session that is not a
	// candidate fails the call.
	Session string
}

// FailoverAction is what the failover hook decided.
type FailoverAction uint8

// Failover actions.
const (
	FailoverNoOpinion FailoverAction = 0 // let the next policy decide
	FailoverRetry     FailoverAction = 1 // send again through the same session after Delay
	FailoverReroute   FailoverAction = 2 // send through Session (a candidate) instead
	FailoverFail      FailoverAction = 3 // give up with Reason
)

// FailoverDecision is the failover hook's answer; the zero value is no opinion.
type FailoverDecision struct {
	Action FailoverAction
	// Delay is the wait before a retry: 0 to 24h, in milliseconds.
	Delay time.Duration
	// Session is the candidate a reroute names.
	Session string
	// Reason says why the message fails: at most 256 bytes of UTF-8; empty becomes
	// "failed_by_policy".
	Reason string
}

// Retry is the failover decision "send again after delay".
func Retry(delay time.Duration) FailoverDecision {
	return FailoverDecision{Action: FailoverRetry, Delay: delay}
}

// Reroute is the failover decision "send through session instead".
func Reroute(session string) FailoverDecision {
	return FailoverDecision{Action: FailoverReroute, Session: session}
}

// Fail is the failover decision "give up" with reason.
func Fail(reason string) FailoverDecision {
	return FailoverDecision{Action: FailoverFail, Reason: reason}
}

// RateAction is what the rate hook decided.
type RateAction uint8

// Rate actions.
const (
	RateNoOpinion RateAction = 0 // let the next policy (then the default rule) decide
	RateAllow     RateAction = 1 // this policy lets the message go now
	RateDelay     RateAction = 2 // send no earlier than Delay from now
	RateReject    RateAction = 3 // do not send; the message fails with Reason
)

// RateDecision is the rate hook's answer; the zero value is no opinion.
type RateDecision struct {
	Action RateAction
	// Delay is how long to wait: 1ms to 24h, in milliseconds.
	Delay time.Duration
	// Reason says why the message is rejected: at most 256 bytes of UTF-8; empty
	// becomes "rejected_by_policy".
	Reason string
}

// Allow is the rate decision "send now".
func Allow() RateDecision { return RateDecision{Action: RateAllow} }

// Delay is the rate decision "wait d".
func Delay(d time.Duration) RateDecision { return RateDecision{Action: RateDelay, Delay: d} }

// Reject is the rate decision "do not send" with reason.
func Reject(reason string) RateDecision { return RateDecision{Action: RateReject, Reason: reason} }

// TransformResult is the transform hook's answer.
type TransformResult struct {
	// Drop, when true, stops the event: it is not delivered to webhooks.
	Drop bool
	// Event is the event to deliver (or to hand to the next transform).
	Event Event
}

// Keep is the transform result that delivers ev.
func Keep(ev Event) TransformResult { return TransformResult{Event: ev} }

// Drop is the transform result that drops the event.
func Drop() TransformResult { return TransformResult{Drop: true} }
