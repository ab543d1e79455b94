package provider

import (
	"context"

	"github.com/wagate/wagate/core/chatid"
)

// Contacts is the capability CapContacts: the people a session knows on WhatsApp, whether
// a number is on WhatsApp at all, what they show of themselves (push name, about,
// picture), and the session's block list.
//
// A provider answers from what its transport knows: whatsmeow from the device's contact
// store and WhatsApp's user queries, the sandbox from its simulated network. Contacts
// are users: a group, channel or broadcast id is ErrInvalidRecipient.
type Contacts interface {
	// ListContacts returns the session's contacts, in no particular order (the API
	// sorts and pages them). Transports bound the list themselves.
	ListContacts(ctx context.Context) ([]ContactInfo, error)
	// GetContact returns what the session knows of one user. It answers even for a
	// number that is not on WhatsApp (IsWAContact false), as WAHA does; CheckNumber is
	// the question "is it registered".
	GetContact(ctx context.Context, id chatid.ID) (ContactInfo, error)
	// CheckNumber asks WhatsApp whether phone (digits, with country code) is
	// registered, and under which chat id.
	CheckNumber(ctx context.Context, phone string) (NumberStatus, error)
	// About returns the user's about text (WhatsApp's "status" of the profile). ok is
	// false when the user has none or their privacy settings hide it from the session.
	About(ctx context.Context, id chatid.ID) (about string, ok bool, err error)
	// ProfilePictureURL returns the URL of the user's picture, "" when they have none
	// or hide it. Transports may cache it (whatsmeow: 24 hours); refresh asks
	// WhatsApp again.
	ProfilePictureURL(ctx context.Context, id chatid.ID, refresh bool) (string, error)
	// Block adds the user to the session's block list: their messages and calls no
	// longer reach the session. Blocking a blocked user does nothing.
	Block(ctx context.Context, id chatid.ID) error
	// Unblock removes the user from the block list. Unblocking a user who is not
	// blocked does nothing.
	Unblock(ctx context.Context, id chatid.ID) error
}

// ContactInfo is one contact, in WAHA's shape (whatsapp-web.js's Contact).
type ContactInfo struct {
	// ID is the contact's chat id (…@c.us, or …@lid when only the LID is known).
	ID chatid.ID `json:"id"`
	// Number is the phone number, digits only; "" when only the LID is known.
	Number string `json:"number"`
	// Name is the name saved in the session's address book; "" when none.
	Name string `json:"name,omitempty"`
	// Pushname is the name the user set on their own profile.
	Pushname string `json:"pushname,omitempty"`
	// ShortName is the first name of the address-book entry; "" when none.
	ShortName string `json:"shortName,omitempty"`
	// IsMe is true for the session's own number.
	IsMe bool `json:"isMe"`
	// IsUser is true for users (always, for contacts); IsGroup false.
	IsUser  bool `json:"isUser"`
	IsGroup bool `json:"isGroup"`
	// IsWAContact is true when the number is on WhatsApp, as far as the session knows.
	IsWAContact bool `json:"isWAContact"`
	// IsMyContact is true when the number is in the session's address book.
	IsMyContact bool `json:"isMyContact"`
	// IsBlocked is true when the session blocked the contact.
	IsBlocked bool `json:"isBlocked"`
}

// NumberStatus is the answer of CheckNumber (WAHA's WANumberExistResult).
type NumberStatus struct {
	NumberExists bool `json:"numberExists"`
	// ChatID is the number's chat id when it exists ("<digits>@c.us"), else zero.
	ChatID chatid.ID `json:"chatId,omitzero"`
}

// ContactUpdate is the Notification a session reports when WhatsApp tells it that a
// contact changed their profile: push name, picture or about. WAHA has no event for
// it; the name is ours, "contact.update" (event.ContactUpdate), so that a "contact.*"
// filter takes it.
type ContactUpdate struct {
	// ID is the contact whose profile changed.
	ID chatid.ID `json:"id"`
	// Change is what changed: ChangePushname, ChangePicture or ChangeAbout.
	Change string `json:"change"`
	// Pushname is the new push name (ChangePushname).
	Pushname string `json:"pushname,omitempty"`
	// About is the new about text (ChangeAbout).
	About string `json:"about,omitempty"`
	// PictureID is the new picture's id (ChangePicture); "" with Removed.
	PictureID string `json:"pictureId,omitempty"`
	// Removed is true when the contact removed their picture (ChangePicture).
	Removed bool `json:"removed,omitempty"`
	// Timestamp is when the change happened, in Unix milliseconds.
	Timestamp int64 `json:"timestamp"`
}

// Changes a ContactUpdate reports.
const (
	ChangePushname = "pushname"
	ChangePicture  = "picture"
	ChangeAbout    = "about"
)

// EventName implements Notification.
func (ContactUpdate) EventName() string { return "contact.update" }

func (ContactUpdate) providerEvent() {}
