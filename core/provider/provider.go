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

// Event is one of StatusEvent, QREvent, MessageEvent, AckEvent, RestrictionEvent.
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
	// LinkedAt is when this device was linked to the account, as the transport knows
	// it (whatsmeow: the timestamp the phone signed into the device identity at
	// pairing); zero when unknown. Pacing reads the number's age from it.
	LinkedAt time.Time `json:"linkedAt,omitzero"`
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

// RestrictionEvent reports a restriction WhatsApp placed on the number, or lifted: a
// temporary ban (nothing can be sent) or a reach-out timelock (no new conversations).
// It does not change the session's status (a ban also reports StatusFailed); pacing
// holds the session's sends until Until.
type RestrictionEvent struct {
	// Reason is RestrictionTemporaryBan or RestrictionReachout.
	Reason string
	// Active is false when the restriction was lifted.
	Active bool
	// Until is when the restriction ends; zero when the transport did not say.
	Until time.Time
}

// Restriction reasons.
const (
	RestrictionTemporaryBan = "temporary_ban"
	RestrictionReachout     = "reachout_timelock"
)

func (StatusEvent) providerEvent()      {}
func (RestrictionEvent) providerEvent() {}
func (QREvent) providerEvent()          {}
func (MessageEvent) providerEvent()     {}
func (AckEvent) providerEvent()         {}

// Ack is the delivery progress of a sent message.
type Ack string

// Acks in the order a message goes through them.
const (
	AckSent      Ack = "sent"
	AckDelivered Ack = "delivered"
	AckRead      Ack = "read"
	AckFailed    Ack = "failed"
	// AckPlayed follows AckRead for a voice note, video or view-once media the
	// recipient played (WhatsApp's "played" receipt). Transports without it never
	// report it; consumers that do not know it may treat it as AckRead.
	AckPlayed Ack = "played"
)

// Kind is the type of a message.
type Kind string

// Message kinds. Each kind says which fields of Outbound (and Inbound) carry the
// message:
//
//	KindText                                   Text
//	KindImage, KindFile, KindVoice, KindVideo  Media, and Text as the caption
//	KindSticker                                Media (a WebP image)
//	KindLocation                               Location
//	KindContact                                Contacts (one or more)
//	KindReaction                               Reaction
//	KindEdit                                   Target, and Text as the new text
//	KindRevoke                                 Target
//	KindPoll                                   Poll
//	KindPollVote                               Vote (outbound); inbound votes are PollVoteEvent
//	KindEvent                                  Event (a calendar invite)
//	KindTemplate (outbound, Cloud API only)    Template
//	KindUnsupported (inbound only)             none; Text says what it was
const (
	KindText     Kind = "text"
	KindImage    Kind = "image"
	KindFile     Kind = "file"
	KindVoice    Kind = "voice"
	KindVideo    Kind = "video"
	KindLocation Kind = "location"
	KindContact  Kind = "contact"
	KindReaction Kind = "reaction"
	// KindSticker is a sticker: Media is a WebP image (WhatsApp's are 512x512, static
	// or animated). No caption.
	KindSticker Kind = "sticker"
	// KindEdit edits the session's own message Target (WhatsApp lets a text or a
	// caption be edited, for 15 minutes); Text is its new text. Inbound, it reports
	// that the sender edited Target.
	KindEdit Kind = "edit"
	// KindRevoke deletes the session's own message Target for everyone; inbound, it
	// reports that the sender did.
	KindRevoke Kind = "revoke"
	// KindPoll is a poll (Poll): a question and its options.
	KindPoll Kind = "poll"
	// KindPollVote is the session's vote on a poll (Vote). Outbound only: votes the
	// session receives are PollVoteEvent notifications (messages.go).
	KindPollVote Kind = "poll_vote"
	// KindEvent is an event invite (Event): a name, a start time and optional details,
	// which the recipient can answer going / not going (WhatsApp's "Event" message).
	KindEvent Kind = "event"
	// KindTemplate is a pre-approved message template (Template). Only the Cloud API
	// sends them; other providers refuse the kind with ErrUnsupported.
	KindTemplate Kind = "template"
	// KindUnsupported is an inbound message the transport delivered but the gateway
	// cannot represent (an order, a system notice, a type the transport itself does
	// not support); Text names what it was. Inbound only.
	KindUnsupported Kind = "unsupported"
)

// Outbound is a message to send. Kind says which of the optional fields is set (see
// the Kind constants); the API has validated them, adapters need not check again
// beyond what their transport requires.
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
	// Media is the file of an image, file, voice or video message.
	Media *Media
	// Location is the place of a location message.
	Location *Location
	// Contacts are the cards of a contact message, at least one.
	Contacts []Contact
	// Reaction is the emoji of a reaction message and the message it reacts to.
	Reaction *Reaction
	// Template is the template of a template message.
	Template *Template
	// Target is the provider id of the session's own message that a KindEdit or
	// KindRevoke changes.
	Target string
	// Poll is the poll of a KindPoll message; Vote the vote of a KindPollVote.
	Poll *Poll
	Vote *PollVote
	// Event is the invite of a KindEvent message.
	Event *EventInvite
	// Mentions are the users a text or caption mentions (the text names them as
	// "@<digits>"); transports that cannot mention send the text as is.
	Mentions []chatid.ID
	// Forwarded marks a forward: the message copies one the session sent or received
	// (the API's forwardMessage), and transports that can show it as "Forwarded" do.
	Forwarded bool
	// Status is the look and audience of a status update: set when ChatID is
	// chatid.StatusBroadcast and the message posts one (status.go).
	Status *StatusOptions
	// Preview is the link preview card of a text message as its sender supplied it;
	// nil lets the adapter build one from the text's first link unless NoPreview.
	Preview *LinkPreview
	// NoPreview asks for a text without link preview (WAHA's linkPreview: false).
	NoPreview bool
	// PreviewHighQuality asks for a large picture in the card the adapter builds
	// (WAHA's linkPreviewHighQuality); a supplied Preview says it itself.
	PreviewHighQuality bool
}

// Template is a message template approved in WhatsApp Manager: the only kind of message
// a Cloud API number may send to a contact outside the 24-hour customer-service window
// (which opens with the contact's last message; docs/cloudapi.md).
type Template struct {
	// Name is the template's name as approved ("order_shipped").
	Name string `json:"name"`
	// Language is the code of the approved translation to send ("en_US", "pt_BR").
	Language string `json:"language"`
	// Components fill the template's variables: a JSON array in the shape of Meta's
	// "components" (header, body and button parameters), passed to the transport as
	// is. Optional: a template without variables has none.
	Components json.RawMessage `json:"components,omitempty"`
}

// Media is the file of an image, file, voice or video message. Exactly one of URL and
// Data is set: adapters fetch URL themselves (or hand it to a transport that does) at
// send time, so a URL must stay reachable until the message is sent.
type Media struct {
	// URL is an absolute http or https URL of the file.
	URL string `json:"url,omitempty"`
	// Data is the file itself (base64 in JSON). Inbound messages never carry it.
	Data []byte `json:"data,omitempty"`
	// Mimetype is the file's media type ("image/jpeg", "audio/ogg; codecs=opus").
	// Always set with Data; with URL it may be empty (the adapter learns it when it
	// fetches the file).
	Mimetype string `json:"mimetype,omitempty"`
	// Filename is the name shown to the recipient (documents). Optional.
	Filename string `json:"filename,omitempty"`
}

// Location is a place on the map.
type Location struct {
	// Latitude is in degrees, -90..90; Longitude in degrees, -180..180.
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	// Title names the place ("Head office"); Address is its street address. Optional.
	Title   string `json:"title,omitempty"`
	Address string `json:"address,omitempty"`
}

// Contact is one contact card. Either VCard is set (sent as is; FullName is then its
// FN, the name to display), or FullName and Phone are, and the adapter builds the card
// (BEGIN:VCARD, VERSION:3.0, FN, ORG when set, TEL;type=CELL;type=VOICE[;waid=...],
// END:VCARD, as WAHA does).
type Contact struct {
	// VCard is a complete vCard (BEGIN:VCARD ... END:VCARD).
	VCard string `json:"vcard,omitempty"`
	// FullName is the contact's name.
	FullName     string `json:"fullName,omitempty"`
	Organization string `json:"organization,omitempty"`
	// Phone is the phone number as it should appear on the card ("+1 555 123 4567").
	Phone string `json:"phoneNumber,omitempty"`
	// WhatsAppID is the digits of the contact's WhatsApp account, which lets the
	// recipient message them from the card. Optional.
	WhatsAppID string `json:"whatsappId,omitempty"`
}

// Reaction is an emoji reaction to a message of the chat.
type Reaction struct {
	// MessageID is the provider id of the message reacted to.
	MessageID string `json:"messageId"`
	// Emoji is the reaction; "" removes the session's earlier reaction.
	Emoji string `json:"emoji"`
	// FromMe is true when the message reacted to was sent by this session. Known only
	// when the API was given WAHA's serialized message id ("true_<chat>_<id>").
	FromMe bool `json:"fromMe,omitempty"`
	// Sender is the author of the message reacted to in a group, when known (the
	// participant part of a serialized id). Zero otherwise.
	Sender chatid.ID `json:"sender,omitzero"`
}

// SendResult is what the transport returned for an accepted send.
type SendResult struct {
	// ProviderID is the transport's message id; acks refer to it.
	ProviderID string
	Timestamp  time.Time
}

// Inbound is a message received by a session. Kind says which of the optional fields
// is set, as for Outbound; Text is the text or the media's caption.
type Inbound struct {
	ProviderID string
	ChatID     chatid.ID
	From       chatid.ID
	// Participant is the author of a message in a group (ChatID and From are then the
	// group); zero in a user chat.
	Participant chatid.ID
	FromMe      bool
	Kind        Kind
	Text        string
	Timestamp   time.Time
	// Media describes the file of a media message, without Data: an adapter that can
	// download it says where in URL (it may be empty).
	Media *Media
	// Location, Contacts and Reaction as in Outbound.
	Location *Location
	Contacts []Contact
	Reaction *Reaction
	// Target is the provider id of the earlier message of the chat that a KindEdit or
	// KindRevoke message changes. Empty for other kinds.
	Target string
	// Poll is the poll of a KindPoll message; Event the invite of a KindEvent one.
	Poll  *Poll
	Event *EventInvite
	// Mentions are the users the message mentions.
	Mentions []chatid.ID
	// Preview is the link preview card the message shows, when it has one (its
	// image, if any, as a description without data).
	Preview *LinkPreview
}

// ConfigValidator is an optional capability of a Factory: checking a session's provider
// config when the session is created or updated, before any provider is built, so that
// a bad config is a 400 at the API rather than a failed start later.
type ConfigValidator interface {
	ValidateConfig(raw json.RawMessage) error
}

// WebhookReceiver is an optional capability of a Provider whose transport pushes events
// to the gateway over HTTP (Meta's Cloud API). The API verifies each delivery first
// (signature, replay, age: core/webhook.Inbound), then hands its raw body to the running
// provider of the session through session.Manager.HandleWebhook. The provider reports
// what the body holds through its Sink, as for events it read itself, and returns once
// it has: the caller answers the transport right after. An error means the body was
// not processed (malformed, or the provider is not running).
type WebhookReceiver interface {
	HandleWebhook(ctx context.Context, body []byte) error
}

// Closer is an optional capability of a Provider: releasing everything it holds once the
// session is deleted. The session manager calls Close after the last Stop or Logout; the
// provider is not used again.
type Closer interface {
	Close()
}

// MediaDownloader is an optional capability of a Provider: fetching the file of an
// inbound media message it reported with an empty Media.URL. providerID is the
// message's Inbound.ProviderID. The returned Media has Data, Mimetype and, for
// documents, Filename. Adapters remember a bounded number of recent messages and
// bound the file size; past either bound the error says so.
type MediaDownloader interface {
	DownloadMedia(ctx context.Context, providerID string) (Media, error)
}

// Typer is an optional capability of a Provider: showing the session as typing in a
// chat (on) or no longer typing (off), as a person does before sending. Pacing that
// imitates a person calls it around a send; transports without presence do not
// implement it.
type Typer interface {
	SetTyping(ctx context.Context, chat chatid.ID, on bool) error
}

// Pinger is an optional capability of a Provider whose transport holds a connection
// that can die without a word (a half-open socket, a server that stopped answering):
// checking that the connection still answers. Ping returns nil when it does, an error
// when it is known not to (provider.ErrNotConnected, wrapped), and ctx's error when no
// answer came in time.
//
// The session manager's health monitor (docs/operations.md) pings a WORKING session
// that reported nothing for sessions.health.interval, under
// sessions.health.ping_timeout; a session without a sign of life (a report, a
// successful send or ping) for sessions.health.unresponsive_after is reconnected.
// Providers that do not implement it are judged by their reports and send timeouts
// only: silence alone never condemns them (an idle number is silent). Ping must be
// cheap and must not change the provider's state.
type Pinger interface {
	Ping(ctx context.Context) error
}
