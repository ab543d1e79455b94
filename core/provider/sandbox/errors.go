package sandbox

import (
	"errors"
	"fmt"

	"github.com/wagate/wagate/core/provider"
)

// Errors of the sandbox control methods (Network.Link, SetFaults, Faults, Inbound) and of
// the sandbox-specific paths of its providers. Test them with errors.Is; they come wrapped
// with the tenant and session they concern.
var (
	// ErrUnknownSession: no provider was built for this tenant and session (Network.New
	// was never called for it). The HTTP layer maps it to 404.
	ErrUnknownSession = errors.New("sandbox: unknown session")
	// ErrNotPairing: the session is not showing QR codes (not started, already linked,
	// failed). It wraps provider.ErrNotPairing, so errors.Is matches either.
	ErrNotPairing = fmt.Errorf("sandbox: %w", provider.ErrNotPairing)
	// ErrNotWorking: the session is not WORKING (not started, pairing, failed, banned or
	// logged out), so it cannot receive a simulated inbound message. It wraps
	// provider.ErrNotConnected.
	ErrNotWorking = fmt.Errorf("sandbox: session not working: %w", provider.ErrNotConnected)
	// ErrEndlessQR: Link was refused because the session's endless_qr fault is set:
	// pairing never completes while it is.
	ErrEndlessQR = errors.New("sandbox: endless_qr fault is set, pairing never completes")
	// ErrPhoneInUse: the phone number is already linked to another running sandbox
	// session; one number is one session in the simulated network.
	ErrPhoneInUse = errors.New("sandbox: phone number already linked to another session")
	// ErrInvalidPhone: a phone number is not 5 to 15 digits (an optional leading "+" is
	// accepted).
	ErrInvalidPhone = errors.New("sandbox: phone number must be 5 to 15 digits with country code")
	// ErrInvalidFaults: a fault switch is out of range (send_failure_rate outside [0,1],
	// negative send_latency).
	ErrInvalidFaults = errors.New("sandbox: invalid faults")
	// ErrInvalidConfig: the per-session provider config (provider.Spec.Config) is not
	// valid JSON of the sandbox session config.
	ErrInvalidConfig = errors.New("sandbox: invalid session config")
	// ErrClosed: the network was closed, or this provider was replaced by a newer one
	// built for the same session.
	ErrClosed = errors.New("sandbox: closed")
	// ErrInvalidMessage is the cause inside the *provider.SendError of a message that
	// lacks what its kind needs (an image without media, a reaction without a message
	// id). The API never queues such a message; other callers of Send may.
	ErrInvalidMessage = errors.New("sandbox: invalid message")
	// ErrSendFailure is the cause inside the *provider.SendError of a send failed by the
	// send_failure_rate fault.
	ErrSendFailure = errors.New("sandbox: simulated send failure")
	// ErrReachoutTimelock is the cause inside the *provider.SendError of a send refused
	// by the reachout_timelock fault: the chat never wrote to the session.
	ErrReachoutTimelock = errors.New("sandbox: reach-out timelock: the chat never wrote to this number")
)

// Codes of the *provider.SendError values the sandbox returns.
const (
	// CodeTimeout: the send's context ended first (deadline, or silent_disconnect). Retryable.
	CodeTimeout = "timeout"
	// CodeCanceled: the send's context was canceled. Retryable.
	CodeCanceled = "canceled"
	// CodeSendFailure: failed by the send_failure_rate fault. Retryable.
	CodeSendFailure = "sandbox_send_failure"
	// CodeBanned: the temp_ban fault is set. Not retryable on this number.
	CodeBanned = "banned"
	// CodeReachout: the reachout_timelock fault is set and the chat never wrote to the
	// session. Retryable once the restriction is lifted (pacing holds the session
	// meanwhile).
	CodeReachout = "reachout_restricted"
	// CodeUnsupported: the message kind is unknown. Not retryable.
	CodeUnsupported = "unsupported"
	// CodeInvalidMessage: the message lacks what its kind needs (ErrInvalidMessage).
	// Not retryable.
	CodeInvalidMessage = "invalid_message"
	// CodeInvalidRecipient: the chat id is empty, or names no channel. Not retryable.
	CodeInvalidRecipient = "invalid_recipient"
	// CodeNotParticipant: a send to a group the session is not in (groups.go). Not
	// retryable.
	CodeNotParticipant = "not_a_participant"
	// CodeNotAllowed: a send to a messages-admin-only group by a member that is not
	// an admin, or to a channel by a number that does not own it. Not retryable.
	CodeNotAllowed = "not_allowed"
)
