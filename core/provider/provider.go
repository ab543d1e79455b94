// Package provider is the contract between the session manager and a WhatsApp transport
// (WhatsApp Web through whatsmeow, Meta's Cloud API, or the in-process sandbox).
//
// A Provider drives one number of one tenant. The session manager owns the lifecycle and
// calls the methods in this order:
//
//	p, err := factory.New(spec, sink) // no I/O, no goroutines
//	err = p.Start(ctx)               // connect; pair if not linked (QR events follow)
//	res, err := p.Send(ctx, msg)     // any number of times while WORKING
//	err = p.Stop(ctx)                // disconnect, keep the link; Start may follow again
//	err = p.Logout(ctx)              // unlink the number for good; implies Stop
//
// Every call takes a context with a deadline and must return when it ends: a provider that
// hangs must not hang the gateway. Stop and Logout must be safe to call after a failed
// Start and more than once.
//
// Providers report what happens through the Sink given at construction. The sink is called
// from the provider's goroutines, must be fast and never blocks; the provider must not hold
// its own locks while calling it.
package provider

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wagate/wagate/core/chatid"
)

// Provider is one WhatsApp number's connection. See the package doc for the call order.
type Provider interface {
	// Start connects the number. When it is not linked yet, Start returns once pairing has
	// begun and reports QR codes as QREvent, then StatusEvent{StatusWorking} on success.
	Start(ctx context.Context) error
	// Stop disconnects and keeps the link, so that a later Start resumes without pairing.
	Stop(ctx context.Context) error
	// Logout unlinks the number and forgets its credentials.
	Logout(ctx context.Context) error
	// Send sends one message. It returns when the transport accepted it (the "sent" ack);
	// delivered and read arrive later as AckEvent with the returned ProviderID.
	Send(ctx context.Context, msg Outbound) (SendResult, error)
	// RequestPairingCode starts phone-number pairing instead of QR and returns the
	// eight-character code the user types on the phone. Only while pairing.
	RequestPairingCode(ctx context.Context, phone string) (string, error)
}

// Factory builds providers of one kind (one per session).
type Factory interface {
	// Name is the provider kind as written in session config: "sandbox", "whatsmeow", "cloudapi".
	Name() string
	// New builds a provider for one session. It must not do I/O or start goroutines.
	New(spec Spec, sink Sink) (Provider, error)
}

// Spec identifies the session a provider serves and carries its provider-specific config.
type Spec struct {
	Tenant  string
	Session string
	// Config is the session's provider-specific config as the API received it (may be nil).
	Config json.RawMessage
}

// Sink receives a provider's events. It must not block.
type Sink func(Event)

// Event is one of StatusEvent, QREvent, MessageEvent, AckEvent.
type Event interface{ providerEvent() }

// Status is a connection status as seen by the provider.
type Status string

// Statuses a provider reports. The session manager maps them onto session states.
const (
	StatusConnecting Status = "connecting" // connecting or reconnecting
	StatusPairing    Status = "pairing"    // waiting for a QR scan or pairing code
	StatusWorking    Status = "working"    // linked and connected
	StatusFailed     Status = "failed"     // stopped by an error; Reason says which
	StatusLoggedOut  Status = "logged_out" // the link is gone; pairing needed again
	StatusStopped    Status = "stopped"    // disconnected on request
)

// StatusEvent reports a change of connection status.
type StatusEvent struct {
	Status Status
	// Reason is a snake_case cause for failed, logged_out or a reconnect
	// ("temporary_ban", "qr_timeout", "stream_replaced", ...). Empty when none.
	Reason string
	// Me is the linked account, when known (set with StatusWorking).
	Me *Account
}

// Account is the WhatsApp account linked to a session.
type Account struct {
	ID       chatid.ID `json:"id"`
	PushName string    `json:"pushName,omitempty"`
}

// QREvent carries a QR code to show the user. Each one replaces the previous.
type QREvent struct {
	// Code is the raw string to encode in the QR image.
	Code string
	// ExpiresAt is when the next code will replace this one.
	ExpiresAt time.Time
}

// MessageEvent is an inbound message (or one sent from the phone itself, FromMe).
type MessageEvent struct {
	Message Inbound
}

// AckEvent reports the progress of a message this session sent.
type AckEvent struct {
	// ProviderID is the id Send returned.
	ProviderID string
	ChatID     chatid.ID
	Ack        Ack
	// Error is set when Ack is AckFailed.
	Error string
}

func (StatusEvent) providerEvent()  {}
func (QREvent) providerEvent()      {}
func (MessageEvent) providerEvent() {}
func (AckEvent) providerEvent()     {}

// Ack is the delivery progress of a sent message.
type Ack string

// Acks in the order a message goes through them.
const (
	AckSent      Ack = "sent"
	AckDelivered Ack = "delivered"
	AckRead      Ack = "read"
	AckFailed    Ack = "failed"
)

// Kind is the type of a message.
type Kind string

// Message kinds. Only KindText is sent by the first-cut API; the others are part of the
// contract so adapters and the queue can carry them unchanged.
const (
	KindText     Kind = "text"
	KindImage    Kind = "image"
	KindFile     Kind = "file"
	KindVoice    Kind = "voice"
	KindVideo    Kind = "video"
	KindLocation Kind = "location"
	KindContact  Kind = "contact"
	KindReaction Kind = "reaction"
)

// Outbound is a message to send.
type Outbound struct {
	// ID is the gateway's message id (stable across retries; adapters may use it to
	// make sends idempotent where the transport allows).
	ID     string
	ChatID chatid.ID
	Kind   Kind
	// Text is the body of a text message, or the caption of media.
	Text string
	// ReplyTo is the provider id of a message being quoted. Optional.
	ReplyTo string
}

// SendResult is what the transport returned for an accepted send.
type SendResult struct {
	// ProviderID is the transport's message id; acks refer to it.
	ProviderID string
	Timestamp  time.Time
}

// Inbound is a message received by a session.
type Inbound struct {
	ProviderID string
	ChatID     chatid.ID
	From       chatid.ID
	FromMe     bool
	Kind       Kind
	Text       string
	Timestamp  time.Time
}

// ConfigValidator is an optional capability of a Factory: checking a session's provider
// config when the session is created or updated, before any provider is built, so that
// a bad config is a 400 at the API rather than a failed start later.
type ConfigValidator interface {
	ValidateConfig(raw json.RawMessage) error
}

// Closer is an optional capability of a Provider: releasing everything it holds once the
// session is deleted. The session manager calls Close after the last Stop or Logout; the
// provider is not used again.
type Closer interface {
	Close()
}
