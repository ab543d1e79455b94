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
	for _, perm := range []error{ErrLoggedOut, ErrBanned, ErrInvalidRecipient, ErrUnsupported} {
		if errors.Is(err, perm) {
			return false
		}
	}
	return err != nil
}
