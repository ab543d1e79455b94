package provider

import (
	"context"
	"errors"

	"github.com/wagate/wagate/core/chatid"
)

// Profiler is the capability CapProfile: the session's own profile as its contacts see
// it: push name, about text and picture.
type Profiler interface {
	// Profile returns the session's own profile.
	Profile(ctx context.Context) (Profile, error)
	// SetName sets the push name, the name contacts see when the number is not in
	// their address book.
	SetName(ctx context.Context, name string) error
	// SetAbout sets the about text (WhatsApp calls it the profile's status).
	SetAbout(ctx context.Context, about string) error
	// SetPicture sets the profile picture: picture.Data, or picture.URL, which the
	// adapter fetches as it fetches the media of a send. A transport that refuses the
	// image (format, size) returns ErrInvalidPicture, wrapped.
	SetPicture(ctx context.Context, picture Media) error
	// DeletePicture removes the profile picture. Removing none does nothing.
	DeletePicture(ctx context.Context) error
}

// Profile is a session's own profile.
type Profile struct {
	// ID is the session's own chat id.
	ID chatid.ID
	// Name is the push name.
	Name string
	// About is the about text; "" when none.
	About string
	// PictureURL is where the picture can be downloaded; "" when none.
	PictureURL string
}

// ErrInvalidPicture: the transport refused a profile picture (not an image it takes,
// too large, too small). The API answers 422 invalid_picture.
var ErrInvalidPicture = errors.New("invalid profile picture")
