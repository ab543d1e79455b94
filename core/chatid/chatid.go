// Package chatid parses and normalises WhatsApp chat ids as the API accepts them.
//
// Accepted forms (surrounding whitespace is not):
//
//	15551234567                  a phone number, digits only, 5..15 digits (E.164 without "+")
//	+15551234567                 the same with a leading plus
//	15551234567@c.us             a user, WAHA's form
//	15551234567@s.whatsapp.net   a user, WhatsApp's own form
//	120363012345678901@g.us      a group (digits, or legacy "creator-timestamp")
//	123456789012345@lid          a user by linked-identity id
//
// The canonical form, used in storage, events and responses, is WAHA's: users end in
// "@c.us", groups in "@g.us", LIDs in "@lid".
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
	User  Server = "c.us"
	Group Server = "g.us"
	LID   Server = "lid"
)

// ID is a parsed chat id. The zero value is not valid.
type ID struct {
	// Local is the part before "@": digits for users and LIDs; digits or
	// "digits-digits" for groups.
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
		if !allDigits(local) || len(local) < 5 || len(local) > 20 {
			return ID{}, fmt.Errorf("%w: a @lid id is 5 to 20 digits before the @", ErrInvalid)
		}
		return ID{Local: local, Server: LID}, nil
	default:
		return ID{}, fmt.Errorf("%w: unknown server %q (use @c.us, @s.whatsapp.net, @g.us or @lid)", ErrInvalid, server)
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
	if !allDigits(s) || len(s) < 5 || len(s) > 15 {
		return fmt.Errorf("%w: a phone number is 5 to 15 digits with country code, like 15551234567", ErrInvalid)
	}
	return nil
}

func checkGroup(s string) error {
	a, b, legacy := strings.Cut(s, "-")
	if allDigits(a) && len(a) >= 5 && len(a) <= 20 && (!legacy || (allDigits(b) && len(b) >= 5 && len(b) <= 20)) {
		return nil
	}
	return fmt.Errorf("%w: a group id is digits (or digits-digits) before @g.us", ErrInvalid)
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
