package provider

import "errors"

// Capabilities.
//
// Beyond Provider, which every transport implements, what a transport can do is split
// into optional capability interfaces, one per concern, each declared in its own file of
// this package:
//
//	chats.go     Chats      read receipts, archive, pin, delete a chat, star a message
//	presence.go  Presencer  own presence, typing and recording, presence subscriptions
//	groups.go    Groups     create, info, participants, admins, invites, settings
//	contacts.go  Contacts   list, check a number, about, picture, block
//	profile.go   Profiler   the session's own name, about and picture
//	status.go    Stories    status updates (text, media, delete)
//	labels.go    Labeler    WhatsApp Business labels and the chats they are on
//	channels.go  Channels   newsletters: list, follow, mute, preview
//	calls.go     Calls      reject an incoming call
//	lids.go      LIDs       the LID <-> phone number map
//
// (Typer, Pinger, MediaDownloader and WebhookReceiver, in provider.go, predate the list.)
// Message operations that change a chat — edits, revokes, polls, poll votes, forwards,
// stickers — are sends: new Kinds through Send and the durable queue, refused with
// ErrUnsupported by a transport that lacks them.
//
// The API reaches a capability through session.Call, which type-asserts the session's
// running provider: a provider without the interface answers 501
// not_supported_by_provider naming the provider and the capability. A provider that has
// the interface but not one of its operations (the Cloud API marks chats read but does
// not archive them) returns ErrUnsupported from that method, with the same answer.
//
// Capability methods take a context with a deadline and must return when it ends, like
// every call of the contract. They are called only while the session is WORKING.
//
// Every capability has a name (the Cap constants), used in errors and as the op label of
// the session manager's call metrics.
const (
	CapChats    = "chats"
	CapPresence = "presence"
	CapGroups   = "groups"
	CapContacts = "contacts"
	CapProfile  = "profile"
	CapStatus   = "status"
	CapLabels   = "labels"
	CapChannels = "channels"
	CapCalls    = "calls"
	CapLIDs     = "lids"
)

// Capabilities lists the capability names.
var Capabilities = []string{CapChats, CapPresence, CapGroups, CapContacts, CapProfile, CapStatus, CapLabels, CapChannels, CapCalls, CapLIDs}

// Errors of capability calls, beside ErrUnsupported, ErrNotConnected and
// ErrInvalidRecipient. Adapters wrap them with the transport's detail.
var (
	// ErrNotFound: the transport does not know the thing asked for (a group, a message,
	// a label, a channel, a contact). The API answers 404 with a code naming the thing.
	ErrNotFound = errors.New("not found")
	// ErrNotAllowed: the transport refused the session the operation (not an admin of
	// the group, not a participant any more, the owner's setting forbids it). The API
	// answers 403 not_allowed.
	ErrNotAllowed = errors.New("not allowed")
)

// Notification is a provider event that the session manager publishes as is: the event
// name is EventName(), the payload the value itself, encoded as JSON (its fields carry
// WAHA's names). Presence updates, group changes, poll votes, calls and label changes
// are Notifications; each is declared beside its capability. Like messages and acks,
// notifications are traffic: they are dropped when a session's inbox is full.
type Notification interface {
	Event
	// EventName is the event's name, e.g. "presence.update" (core/event lists them).
	EventName() string
}
