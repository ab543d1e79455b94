package provider

import (
	"context"

	"github.com/wagate/wagate/core/chatid"
)

// LIDs is the capability CapLIDs: the session's map between LIDs (WhatsApp's linked
// identities, …@lid, which hide a phone number in groups and elsewhere) and phone
// numbers, as far as the session has learnt it.
type LIDs interface {
	// ListLIDs returns up to limit pairs, skipping offset, ordered by LID (as text).
	ListLIDs(ctx context.Context, offset, limit int) ([]LIDPair, error)
	// CountLIDs returns how many pairs the session knows.
	CountLIDs(ctx context.Context) (int, error)
	// PhoneForLID returns the phone number chat id (…@c.us) of lid; zero when unknown.
	PhoneForLID(ctx context.Context, lid chatid.ID) (chatid.ID, error)
	// LIDForPhone returns the LID (…@lid) of a phone number chat id; zero when unknown.
	LIDForPhone(ctx context.Context, phone chatid.ID) (chatid.ID, error)
}

// LIDPair is one entry of the map, in WAHA's shape (LidToPhoneNumber).
type LIDPair struct {
	// LID is the linked identity, …@lid.
	LID chatid.ID `json:"lid"`
	// PN is the phone number, …@c.us.
	PN chatid.ID `json:"pn"`
}
