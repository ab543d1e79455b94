// Package chatid parses and normalises WhatsApp chat ids as the API accepts them.
//
// Accepted forms (surrounding whitespace is not):
//
//	15551234567                  a phone number, digits only, 5..15 digits (E.164 without "+")
//	+15551234567                 the same with a leading plus
//	15551234567@c.us             a user, WAHA's form
//	15551234567@s.whatsapp.net   a user, WhatsApp's own form
//	120363012345678901@g.us      a group: 5..30 digits, or legacy "creator-timestamp"
//	                             (5..20 digits each, like 15551234567-1612345678)
//	123456789012345@lid          a user by linked-identity id, 5..20 digits
//	120363012345678901@newsletter  a channel (newsletter), 5..30 digits
//	status@broadcast             status updates (stories)
//	1612345678@broadcast         a broadcast list, 5..30 digits
//
// The canonical form, used in storage, events and responses, is WAHA's: users end in
// "@c.us", groups in "@g.us", LIDs in "@lid", channels in "@newsletter", broadcast
// lists and status in "@broadcast". Whether a provider can send to a chat is the
// provider's business: the Cloud API, for one, sends to users only.
package chatid

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Server is the part after "@".
type Server string

// Servers of the canonical forms.
const (
	User       Server = "c.us"
	Group      Server = "g.us"
	LID        Server = "lid"
	Newsletter Server = "newsletter"
	Broadcast  Server = "broadcast"
)

// StatusBroadcast is the chat of status updates (stories).
var StatusBroadcast = ID{Local: "status", Server: Broadcast}

// Bounds of the digit runs of ids, before the "@".
const (
	minDigits = 5
	// maxLongDigits bounds group, newsletter and broadcast ids: modern group ids
	// ("120363" and a counter) are 18 digits today and grow; 30 leaves room.
	maxLongDigits = 30
	// maxShortDigits bounds LIDs and each half of a legacy group id.
	maxShortDigits = 20
)

// ID is a parsed chat id. The zero value is not valid.
type ID struct {
	// Local is the part before "@": digits for users, LIDs, newsletters and
	// broadcast lists; digits or "digits-digits" for groups; "status" for
	// status@broadcast.
	Local  string
	Server Server
}

// ErrInvalid is returned, wrapped, for every chat id Parse rejects.
var ErrInvalid = errors.New("invalid chat id")

// Parse validates s and returns its canonical ID.
func Parse(s string) (ID, error) {
	if s == "" {
		return ID{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > 64 {
		return ID{}, fmt.Errorf("%w: longer than 64 characters", ErrInvalid)
	}
	local, server, hasAt := strings.Cut(s, "@")
	if !hasAt {
		local = strings.TrimPrefix(local, "+")
		if err := checkPhone(local); err != nil {
			return ID{}, err
		}
		return ID{Local: local, Server: User}, nil
	}
	switch server {
	case "c.us", "s.whatsapp.net":
		if err := checkPhone(local); err != nil {
			return ID{}, err
		}
		return ID{Local: local, Server: User}, nil
	case "g.us":
		if err := checkGroup(local); err != nil {
			return ID{}, err
		}
		return ID{Local: local, Server: Group}, nil
	case "lid":
		if !digitsIn(local, minDigits, maxShortDigits) {
			return ID{}, fmt.Errorf("%w: a @lid id is 5 to 20 digits before the @", ErrInvalid)
		}
		return ID{Local: local, Server: LID}, nil
	case "newsletter":
		if !digitsIn(local, minDigits, maxLongDigits) {
			return ID{}, fmt.Errorf("%w: a @newsletter id is 5 to 30 digits before the @", ErrInvalid)
		}
		return ID{Local: local, Server: Newsletter}, nil
	case "broadcast":
		if local != StatusBroadcast.Local && !digitsIn(local, minDigits, maxLongDigits) {
			return ID{}, fmt.Errorf("%w: a @broadcast id is status or 5 to 30 digits before the @", ErrInvalid)
		}
		return ID{Local: local, Server: Broadcast}, nil
	default:
		return ID{}, fmt.Errorf("%w: unknown server %q (use @c.us, @s.whatsapp.net, @g.us, @lid, @newsletter or @broadcast)", ErrInvalid, server)
	}
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return id
}

// String returns the canonical form, or "" for the zero ID.
func (id ID) String() string {
	if id.Local == "" {
		return ""
	}
	return id.Local + "@" + string(id.Server)
}

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id.Local == "" }

// IsGroup reports whether id is a group chat.
func (id ID) IsGroup() bool { return id.Server == Group }

// IsNewsletter reports whether id is a channel (newsletter).
func (id ID) IsNewsletter() bool { return id.Server == Newsletter }

// IsBroadcast reports whether id is a broadcast list or status@broadcast.
func (id ID) IsBroadcast() bool { return id.Server == Broadcast }

// MarshalJSON writes the canonical form.
func (id ID) MarshalJSON() ([]byte, error) { return json.Marshal(id.String()) }

// UnmarshalJSON parses any accepted form.
func (id *ID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: not a string", ErrInvalid)
	}
	if s == "" {
		*id = ID{}
		return nil
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func checkPhone(s string) error {
	if !digitsIn(s, minDigits, 15) {
		return fmt.Errorf("%w: a phone number is 5 to 15 digits with country code, like 15551234567", ErrInvalid)
	}
	return nil
}

func checkGroup(s string) error {
	a, b, legacy := strings.Cut(s, "-")
	if !legacy && digitsIn(a, minDigits, maxLongDigits) {
		return nil
	}
	if legacy && digitsIn(a, minDigits, maxShortDigits) && digitsIn(b, minDigits, maxShortDigits) {
		return nil
	}
	return fmt.Errorf("%w: a group id is 5 to 30 digits (or legacy digits-digits) before @g.us", ErrInvalid)
}

// digitsIn reports whether s is min..max ASCII digits.
func digitsIn(s string, min, max int) bool {
	return len(s) >= min && len(s) <= max && allDigits(s)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
