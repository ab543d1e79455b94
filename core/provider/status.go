package provider

import (
	"context"

	"github.com/wagate/wagate/core/chatid"
)

// Stories is the capability CapStatus: status updates ("stories"), which the account's
// contacts see for 24 hours.
//
// Posting a status is a send: an Outbound to chatid.StatusBroadcast of KindText (its
// look in Status), KindImage, KindVideo or KindVoice, queued, paced and acked like any
// message. Deleting one is a KindRevoke to chatid.StatusBroadcast with the status's
// provider id as Target. The API queues those only for a session whose provider
// implements Stories (else 501 not_supported_by_provider); Send of a provider without
// it refuses them with ErrUnsupported.
//
// What the interface itself answers is the one question a send cannot: who will see a
// status the session posts.
type Stories interface {
	// StatusPrivacy returns who sees the session's status updates by the account's own
	// setting (WhatsApp's "Status privacy").
	StatusPrivacy(ctx context.Context) (StatusPrivacy, error)
}

// Status audiences of StatusPrivacy.Type, WhatsApp's names.
const (
	// StatusToContacts: every contact.
	StatusToContacts = "contacts"
	// StatusToContactsExcept: every contact but List ("My contacts except...").
	StatusToContactsExcept = "blacklist"
	// StatusToOnly: List only ("Only share with...").
	StatusToOnly = "whitelist"
)

// StatusPrivacy is who sees the session's status updates.
type StatusPrivacy struct {
	// Type is StatusToContacts, StatusToContactsExcept or StatusToOnly.
	Type string `json:"type"`
	// List is the exception (StatusToContactsExcept) or the audience (StatusToOnly);
	// empty for StatusToContacts.
	List []chatid.ID `json:"list"`
}

// StatusOptions is how a status update looks and who it is meant for (WAHA's
// TextStatus, ImageStatus, ...): set on every Outbound to chatid.StatusBroadcast that
// posts one.
type StatusOptions struct {
	// Audience is WAHA's contacts: the users meant to see the status. A transport that
	// addresses each status on its own (the sandbox) sends it to them only, or to all
	// its contacts when empty. WhatsApp Web (whatsmeow) always sends to the audience of
	// the account's StatusPrivacy and ignores Audience: WhatsApp has no per-status list.
	Audience []chatid.ID `json:"contacts,omitempty"`
	// BackgroundColor is a text status's background, "#RRGGBB" (WAHA's default
	// "#38b42f"); "" lets the transport choose. Also the background of a voice status.
	BackgroundColor string `json:"backgroundColor,omitempty"`
	// Font is a text status's typeface, WhatsApp's FontType: 0 to 10 (WAHA's default 1).
	Font int `json:"font,omitempty"`
}

// MaxStatusFont is the largest StatusOptions.Font.
const MaxStatusFont = 10
