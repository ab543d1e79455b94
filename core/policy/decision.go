package policy

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/wagate/wagate/core/event"
)

// Limits on what a hook may answer. An answer outside them is a bad output.
const (
	// MaxReasonLen bounds a fail or reject reason, in bytes of UTF-8.
	MaxReasonLen = 256
	// MaxDelay bounds a retry or rate delay.
	MaxDelay = 24 * time.Hour
	// MaxEventSize bounds a transformed event's payload, in bytes of JSON.
	MaxEventSize = 1 << 20
)

// RouteDecision is the route hook's answer.
type RouteDecision struct {
	// Session names the chosen candidate; empty means no opinion.
	Session string
}

// FailoverAction is what the failover hook decided. The values are the ABI's.
type FailoverAction uint8

// Failover actions.
const (
	// FailoverNoOpinion: let the next policy in the chain decide.
	FailoverNoOpinion FailoverAction = 0
	// FailoverRetry: send again through the same session after Delay.
	FailoverRetry FailoverAction = 1
	// FailoverReroute: send through Session (one of the candidates) instead.
	FailoverReroute FailoverAction = 2
	// FailoverFail: give up; the message fails with Reason.
	FailoverFail FailoverAction = 3
)

// String returns the action's name as used in Lua ("retry", ...).
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

// FailoverDecision is the failover hook's answer. The zero value is no opinion.
type FailoverDecision struct {
	Action FailoverAction
	// Delay is the wait before a retry (0 to MaxDelay).
	Delay time.Duration
	// Session is the candidate a reroute names.
	Session string
	// Reason says why a message fails (at most MaxReasonLen bytes; empty becomes
	// "failed_by_policy").
	Reason string
}

// RateAction is what the rate hook decided. The values are the ABI's.
type RateAction uint8

// Rate actions.
const (
	// RateNoOpinion: let the next policy decide; when none does, the default rule does.
	RateNoOpinion RateAction = 0
	// RateAllow: this policy lets the message go now. The chain goes on (a later policy
	// may still delay or reject), but the default rule is not consulted.
	RateAllow RateAction = 1
	// RateDelay: send no earlier than Delay from now.
	RateDelay RateAction = 2
	// RateReject: do not send; the message fails with Reason.
	RateReject RateAction = 3
)

// String returns the action's name as used in Lua ("allow", ...).
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

// RateDecision is the rate hook's answer. The zero value is no opinion.
type RateDecision struct {
	Action RateAction
	// Delay is how long to wait before sending (1ms to MaxDelay).
	Delay time.Duration
	// Reason says why a message is rejected (at most MaxReasonLen bytes; empty becomes
	// "rejected_by_policy").
	Reason string
}

// TransformResult is the transform hook's answer.
type TransformResult struct {
	// Drop, when true, stops the chain: the event is not delivered to webhooks.
	Drop bool
	// Event is the event to deliver (or to hand to the next transform). ID and Tenant
	// must be unchanged and Payload must be valid JSON of at most MaxEventSize bytes.
	Event event.Envelope
}

// Keep returns the result that passes ev on unchanged.
func Keep(ev event.Envelope) TransformResult { return TransformResult{Event: ev} }

// Drop returns the result that drops the event.
func Drop() TransformResult { return TransformResult{Drop: true} }

// Reasons the chain substitutes for empty ones.
const (
	reasonFailed   = "failed_by_policy"
	reasonRejected = "rejected_by_policy"
)

// checkRoute validates d against the candidates.
func checkRoute(d RouteDecision, cands []Candidate) error {
	if d.Session == "" {
		return nil
	}
	for i := range cands {
		if cands[i].Session == d.Session {
			return nil
		}
	}
	return fmt.Errorf("%w: session %q is not a candidate", ErrBadOutput, Clip(d.Session, 64))
}

// Clip shortens s to at most n bytes (on a UTF-8 boundary), marking a cut with "...",
// so that what a plugin controls cannot blow up a log line or a report.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// checkFailover validates d and fills its default reason.
func checkFailover(d *FailoverDecision, cands []Candidate) error {
	switch d.Action {
	case FailoverNoOpinion:
		return nil
	case FailoverRetry:
		return checkDelay(d.Delay, 0)
	case FailoverReroute:
		return checkRoute(RouteDecision{Session: d.Session}, cands)
	case FailoverFail:
		if d.Reason == "" {
			d.Reason = reasonFailed
		}
		return checkReason(d.Reason)
	}
	return fmt.Errorf("%w: unknown failover action %d", ErrBadOutput, d.Action)
}

// checkRate validates d and fills its default reason.
func checkRate(d *RateDecision) error {
	switch d.Action {
	case RateNoOpinion, RateAllow:
		return nil
	case RateDelay:
		return checkDelay(d.Delay, time.Millisecond)
	case RateReject:
		if d.Reason == "" {
			d.Reason = reasonRejected
		}
		return checkReason(d.Reason)
	}
	return fmt.Errorf("%w: unknown rate action %d", ErrBadOutput, d.Action)
}

func checkDelay(d, lowest time.Duration) error {
	if d < lowest || d > MaxDelay {
		return fmt.Errorf("%w: delay %s outside [%s, %s]", ErrBadOutput, d, lowest, MaxDelay)
	}
	return nil
}

func checkReason(r string) error {
	if len(r) > MaxReasonLen {
		return fmt.Errorf("%w: reason of %d bytes (at most %d)", ErrBadOutput, len(r), MaxReasonLen)
	}
	if !utf8.ValidString(r) {
		return fmt.Errorf("%w: reason is not UTF-8", ErrBadOutput)
	}
	return nil
}

// carryContext gives a transform's output the session context of its input (me,
// engine, environment, metadata): a transform sees it and cannot change it, whatever
// its runtime carries back (docs/plugins.md).
func carryContext(out *event.Envelope, in event.Envelope) {
	out.Me, out.Engine, out.Environment, out.Metadata = in.Me, in.Engine, in.Environment, in.Metadata
}

// checkTransform validates r against the event it transformed.
func checkTransform(r TransformResult, in event.Envelope) error {
	if r.Drop {
		return nil
	}
	ev := r.Event
	switch {
	case ev.ID != in.ID:
		return fmt.Errorf("%w: event id changed", ErrBadOutput)
	case ev.Tenant != in.Tenant:
		return fmt.Errorf("%w: event tenant changed", ErrBadOutput)
	case ev.Event == "":
		return fmt.Errorf("%w: event name empty", ErrBadOutput)
	case len(ev.Payload) > MaxEventSize:
		return fmt.Errorf("%w: payload of %d bytes (at most %d)", ErrBadOutput, len(ev.Payload), MaxEventSize)
	case !json.Valid(ev.Payload):
		return fmt.Errorf("%w: payload is not JSON", ErrBadOutput)
	}
	return nil
}
