package session

import (
	"errors"
	"fmt"
)

// Errors of the session manager. The API maps each to a status and code.
var (
	// ErrNotFound: no session of that name for this tenant (another tenant's session is
	// not found either).
	ErrNotFound = errors.New("session not found")
	// ErrExists: the tenant already has a session of that name.
	ErrExists = errors.New("session already exists")
	// ErrInvalidName: the name does not match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$.
	ErrInvalidName = errors.New("invalid session name")
	// ErrUnknownProvider: the provider kind is not enabled in this gateway.
	ErrUnknownProvider = errors.New("unknown or disabled provider")
	// ErrInvalidConfig: the provider rejected the session's config.
	ErrInvalidConfig = errors.New("invalid session config")
	// ErrNoQR: the session is not waiting for a QR scan or pairing code.
	ErrNoQR = errors.New("session is not pairing")
	// ErrStartFailed: the provider failed to start; the session is FAILED.
	ErrStartFailed = errors.New("session start failed")
	// ErrLogoutFailed: the provider failed to log out; the session is FAILED.
	ErrLogoutFailed = errors.New("session logout failed")
	// ErrInvalidFallback: the fallback named is the session itself or does not exist.
	ErrInvalidFallback = errors.New("invalid fallback session")
	// ErrInvalidMetadata: a metadata key is empty or has control characters, or a key
	// or value is not UTF-8.
	ErrInvalidMetadata = errors.New("invalid session metadata")
	// ErrMetadataTooLarge: the metadata has too many keys or too many bytes.
	ErrMetadataTooLarge = errors.New("session metadata too large")
	// ErrInvalidCallSettings: the call settings are not what CheckCallSettings takes.
	ErrInvalidCallSettings = errors.New("invalid call settings")
	// ErrClosed: the manager is shutting down.
	ErrClosed = errors.New("session manager closed")
)

// LimitError: the tenant's plan allows no more sessions.
type LimitError struct{ Limit int }

func (e *LimitError) Error() string {
	return fmt.Sprintf("session limit of the plan reached (%d)", e.Limit)
}

// NotWorkingError: a send was refused because the session is not WORKING.
type NotWorkingError struct {
	State State
	// Fenced: in cluster mode, the session is WORKING here but this node's lease of it
	// ended (expired while the process was paused, say) or moved; its new owner sends.
	Fenced bool
}

func (e *NotWorkingError) Error() string {
	if e.Fenced {
		return fmt.Sprintf("session is %s on a lease this node no longer holds", e.State)
	}
	return fmt.Sprintf("session is %s, not WORKING", e.State)
}
