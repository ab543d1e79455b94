package provider

import (
	"errors"
	"fmt"
)

// Errors a provider returns. Callers test them with errors.Is; adapters wrap them with
// the detail of the transport (fmt.Errorf("...: %w", ErrBanned)).
var (
	// ErrNotConnected: the provider is not connected (Send before Start, or after Stop).
	ErrNotConnected = errors.New("provider not connected")
	// ErrNotPairing: RequestPairingCode outside pairing (already linked, or not started).
	ErrNotPairing = errors.New("provider not pairing")
	// ErrLoggedOut: the number was unlinked; pairing is needed again. Not retryable.
	ErrLoggedOut = errors.New("number logged out")
	// ErrBanned: the number is banned (temporarily or not). Not retryable on this number.
	ErrBanned = errors.New("number banned")
	// ErrInvalidRecipient: the chat does not exist or cannot receive messages. Not retryable.
	ErrInvalidRecipient = errors.New("invalid recipient")
	// ErrUnsupported: the provider cannot send this kind of message.
	ErrUnsupported = errors.New("unsupported by provider")
	// ErrAuth: the transport refused the session's credentials or account: an expired
	// or revoked access token, a missing permission, a phone number deleted or not
	// registered. Not retryable, and fatal (see Fatal): nothing will send on the session
	// until an operator fixes its config. A *SendError wrapping it has Code "auth_failed".
	ErrAuth = errors.New("provider credentials rejected")
)

// SendError is a failed send with a machine-readable code and whether retrying the same
// send later may succeed.
type SendError struct {
	// Code is snake_case ("timeout", "rate_limited", "banned", ...).
	Code string
	// Retryable is true when the same message may succeed if sent again later.
	Retryable bool
	Err       error
}

func (e *SendError) Error() string { return fmt.Sprintf("send failed (%s): %v", e.Code, e.Err) }

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Retryable reports whether err is worth retrying: a *SendError says so itself; the
// sentinels above are not; anything else (timeouts, network) is.
func Retryable(err error) bool {
	var se *SendError
	if errors.As(err, &se) {
		return se.Retryable
	}
	for _, perm := range []error{ErrLoggedOut, ErrBanned, ErrInvalidRecipient, ErrUnsupported, ErrAuth} {
		if errors.Is(err, perm) {
			return false
		}
	}
	return err != nil
}

// Fatal reports whether err condemns the session rather than the message: ErrAuth,
// ErrLoggedOut or ErrBanned, however wrapped (a *SendError included). No send will
// succeed on that session until an operator acts (new credentials, a new link, the end
// of a ban), so failover should reroute the message to another session, not retry it
// on this one. Fatal errors are never Retryable.
func Fatal(err error) bool {
	return errors.Is(err, ErrAuth) || errors.Is(err, ErrLoggedOut) || errors.Is(err, ErrBanned)
}
