package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Profiles. Every sandbox number has one: its name is "Sandbox <number>" until the
// number's session sets another, its about WhatsApp's default, and it has no picture.
// A picture given by URL is shown by that URL (the sandbox fetches no media); one given
// as data must be a JPEG or PNG (sniffed), and is shown at a made-up URL under
// pictureBase, whose path changes with every picture.

// Defaults of a profile.
const (
	defaultAbout = "Hey there! I am using WhatsApp."
	// pictureBase is the made-up origin of pictures set as data; .invalid never
	// resolves.
	pictureBase = "https://sandbox.wagate.invalid/pictures/"
)

// sandboxProfile is a number's profile. The zero value means the defaults.
type sandboxProfile struct {
	name, about, picture string
	// pictures counts the pictures set, for their URLs and ids.
	pictures int
}

// profileLocked returns phone's profile, defaults filled in.
func (b *contactBook) profileLocked(phone string) sandboxProfile {
	p, ok := b.profiles[phone]
	if !ok {
		return sandboxProfile{name: defaultName(phone), about: defaultAbout}
	}
	return p
}

func defaultName(phone string) string { return "Sandbox " + phone }

// setProfileLocked stores phone's changed profile.
func (b *contactBook) setProfileLocked(phone string, p sandboxProfile) {
	if b.profiles == nil {
		b.profiles = map[string]sandboxProfile{}
	}
	b.profiles[phone] = p
}

// pushName is phone's current profile name: the push name the session reports.
func (n *Network) pushName(phone string) string {
	b := &n.contacts
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.profileLocked(phone).name
}

// Profile implements provider.Profiler.
func (s *session) Profile(ctx context.Context) (provider.Profile, error) {
	me, err := s.self("getting the profile")
	if err != nil {
		return provider.Profile{}, err
	}
	b := &s.net.contacts
	b.mu.Lock()
	p := b.profileLocked(me)
	b.mu.Unlock()
	return provider.Profile{ID: chatid.ID{Local: me, Server: chatid.User}, Name: p.name, About: p.about, PictureURL: p.picture}, nil
}

// SetName implements provider.Profiler: the session reports WORKING again with the new
// push name (as whatsmeow does when the phone renames), and every contact of the
// number hears of it (contact.update).
func (s *session) SetName(ctx context.Context, name string) error {
	return s.changeProfile("setting the name", func(p *sandboxProfile) (provider.ContactUpdate, bool) {
		if p.name == name {
			return provider.ContactUpdate{}, false
		}
		p.name = name
		return provider.ContactUpdate{Change: provider.ChangePushname, Pushname: name}, true
	})
}

// SetAbout implements provider.Profiler.
func (s *session) SetAbout(ctx context.Context, about string) error {
	return s.changeProfile("setting the about", func(p *sandboxProfile) (provider.ContactUpdate, bool) {
		if p.about == about {
			return provider.ContactUpdate{}, false
		}
		p.about = about
		return provider.ContactUpdate{Change: provider.ChangeAbout, About: about}, true
	})
}

// SetPicture implements provider.Profiler. Data that is not a JPEG or PNG is
// provider.ErrInvalidPicture.
func (s *session) SetPicture(ctx context.Context, picture provider.Media) error {
	if err := checkPicture(picture); err != nil {
		return s.errorf("setting the picture", err)
	}
	me, err := s.self("setting the picture")
	if err != nil {
		return err
	}
	return s.changeProfile("setting the picture", func(p *sandboxProfile) (provider.ContactUpdate, bool) {
		p.pictures++
		id := strconv.Itoa(p.pictures)
		p.picture = picture.URL
		if p.picture == "" {
			p.picture = pictureBase + me + "/" + id + ".jpg"
		}
		return provider.ContactUpdate{Change: provider.ChangePicture, PictureID: id}, true
	})
}

// checkPicture accepts a picture by URL (never fetched), or data that is a JPEG or
// PNG; anything else is provider.ErrInvalidPicture.
func checkPicture(picture provider.Media) error {
	if picture.URL != "" {
		return nil
	}
	switch http.DetectContentType(picture.Data) {
	case "image/jpeg", "image/png":
		return nil
	}
	return fmt.Errorf("%w: the sandbox takes a JPEG or PNG", provider.ErrInvalidPicture)
}

// DeletePicture implements provider.Profiler.
func (s *session) DeletePicture(ctx context.Context) error {
	return s.changeProfile("deleting the picture", func(p *sandboxProfile) (provider.ContactUpdate, bool) {
		if p.picture == "" {
			return provider.ContactUpdate{}, false
		}
		p.picture = ""
		return provider.ContactUpdate{Change: provider.ChangePicture, Removed: true}, true
	})
}

// changeProfile applies change to the session's profile and, if it changed anything,
// tells the number's contacts; a new name is also reported as the session's own.
func (s *session) changeProfile(op string, change func(*sandboxProfile) (provider.ContactUpdate, bool)) error {
	me, err := s.self(op)
	if err != nil {
		return err
	}
	b := &s.net.contacts
	b.mu.Lock()
	p := b.profileLocked(me)
	ev, changed := change(&p)
	if changed {
		b.setProfileLocked(me, p)
	}
	b.mu.Unlock()
	if !changed {
		return nil
	}
	if ev.Change == provider.ChangePushname {
		s.mu.Lock()
		if !s.retired && s.state == stateWorking && s.run != nil && s.phone == me && !s.faults.TempBan {
			s.emitLocked(provider.StatusEvent{Status: provider.StatusWorking, Me: s.meLocked()})
		}
		s.mu.Unlock()
		s.events.drain()
	}
	s.net.announce(me, ev)
	return nil
}

var _ provider.Profiler = (*session)(nil)
