package goplugin

import (
	"encoding/json"
	"fmt"
	"time"
)

// The types below mirror core/policy's (docs/plugins.md describes every field); the
// SDK has its own copies so that a plugin does not link the gateway. Times cross the
// process boundary as Unix milliseconds: a time here is exact to the millisecond, in
// UTC, and the zero time.Time means never / unknown.

// Message is what every hook but transform sees of the outbound message. Strings may be
// kept; the input's slices must not be kept past the call.
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
	// Attempts counts the provider calls already made for this message.
	Attempts int
	// CreatedAt is when the gateway accepted the message.
	CreatedAt time.Time
}

// Candidate is a session and the statistics a rule needs about it.
type Candidate struct {
	// Session is the session's name, unique within the tenant.
	Session string
	// Provider is the session's adapter: "sandbox", "whatsmeow", "cloudapi", ...
	Provider string
	// State is the session's state: STOPPED, STARTING, SCAN_QR_CODE, WORKING, FAILED,
	// LOGGED_OUT.
	State string
	// QueueDepth is the number of messages waiting in the session's queue.
	QueueDepth int
	// SentMinute, SentHour and SentDay count the messages sent in the last minute,
	// hour and day.
	SentMinute, SentHour, SentDay int
	// LinkedAt is when the number was linked; zero if unknown.
	LinkedAt time.Time
	// LastContact is the last message exchanged with this message's chat through this
	// session; zero if never.
	LastContact time.Time
	// LastSentAt is when the session last sent anything; zero if never.
	LastSentAt time.Time
}

// Error is a failed send as the failover hook sees it.
type Error struct {
	// Code is snake_case: "timeout", "rate_limited", "banned", "logged_out", ...
	Code string
	// Message is the human-readable error text.
	Message string
	// Retryable is true when the same send may succeed later on the same session.
	Retryable bool
}

// RouteInput is the route hook's input.
type RouteInput struct {
	// Now is the time of the call: compute ages and waits from it, never from a clock.
	Now     time.Time
	Message Message
	// Candidates are the sessions that may send the message, by session name; never
	// empty.
	Candidates []Candidate
}

// RouteDecision is the route hook's answer.
type RouteDecision struct {
	// Session names the chosen candidate; empty means no opinion.
	Session string
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
	// Candidates are the sessions a reroute may name. May be empty.
	Candidates []Candidate
}

// FailoverAction is what the failover hook decided.
type FailoverAction uint8

// Failover actions (the values are the ABI's).
const (
	FailoverNoOpinion FailoverAction = 0
	FailoverRetry     FailoverAction = 1
	FailoverReroute   FailoverAction = 2
	FailoverFail      FailoverAction = 3
)

// FailoverDecision is the failover hook's answer. The zero value is no opinion.
type FailoverDecision struct {
	Action FailoverAction
	// Delay is the wait before a retry, 0 to 24h; it crosses the boundary in whole
	// milliseconds (truncated).
	Delay time.Duration
	// Session is the candidate a reroute names.
	Session string
	// Reason says why the message fails (at most 256 bytes; empty becomes
	// "failed_by_policy").
	Reason string
}

// RateInput is the rate hook's input.
type RateInput struct {
	Now     time.Time
	Message Message
	// Session is the session about to send, with its statistics.
	Session Candidate
}

// RateAction is what the rate hook decided.
type RateAction uint8

// Rate actions (the values are the ABI's).
const (
	RateNoOpinion RateAction = 0
	RateAllow     RateAction = 1
	RateDelay     RateAction = 2
	RateReject    RateAction = 3
)

// RateDecision is the rate hook's answer. The zero value is no opinion.
type RateDecision struct {
	Action RateAction
	// Delay is how long to wait before sending, 1ms to 24h, in whole milliseconds.
	Delay time.Duration
	// Reason says why the message is rejected (at most 256 bytes; empty becomes
	// "rejected_by_policy").
	Reason string
}

// Event is an event envelope, as webhooks carry it.
type Event struct {
	ID string `json:"id"`
	// Timestamp is when the event happened, Unix milliseconds.
	Timestamp int64  `json:"timestamp"`
	Event     string `json:"event"`
	Session   string `json:"session"`
	Tenant    string `json:"tenant"`
	// Payload is the event's JSON payload.
	Payload json.RawMessage `json:"payload"`

	// The session's context (WAHA's webhook fields), empty on tenant-wide events. A
	// transform reads it; what it returns in them is ignored (the host keeps its own).

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
	Now   time.Time
	Event Event
}

// TransformResult is the transform hook's answer.
type TransformResult struct {
	// Drop, when true, drops the event: it is not delivered.
	Drop bool
	// Event is the event to deliver: ID and Tenant unchanged, Payload valid JSON of at
	// most 1 MiB.
	Event Event
}

// Keep returns the result that passes ev on unchanged.
func Keep(ev Event) TransformResult { return TransformResult{Event: ev} }

// Drop returns the result that drops the event.
func Drop() TransformResult { return TransformResult{Drop: true} }

// String returns the action's name ("retry", ...).
func (a FailoverAction) String() string {
	switch a {
	case FailoverNoOpinion:
		return "no_opinion"
	case FailoverRetry:
		return "retry"
	case FailoverReroute:
		return "reroute"
	case FailoverFail:
		return "fail"
	}
	return fmt.Sprintf("failover_action(%d)", uint8(a))
}

// String returns the action's name ("allow", ...).
func (a RateAction) String() string {
	switch a {
	case RateNoOpinion:
		return "no_opinion"
	case RateAllow:
		return "allow"
	case RateDelay:
		return "delay"
	case RateReject:
		return "reject"
	}
	return fmt.Sprintf("rate_action(%d)", uint8(a))
}
