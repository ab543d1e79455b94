package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wagate/wagate/core/provider"
)

// The business profile (provider.Profiler), as Meta's Cloud API offers it:
//
//	Profile        GET /<phone number id>?fields=display_phone_number,verified_name
//	               (id and name) and GET /<phone number id>/whatsapp_business_profile
//	               ?fields=about,profile_picture_url (about and picture)
//	SetAbout       POST /<phone number id>/whatsapp_business_profile {about}
//	SetName        ErrUnsupported: a display name is changed in WhatsApp Manager, and
//	               Meta reviews it; no API call sets it
//	SetPicture     ErrUnsupported: the profile takes a picture handle from Meta's
//	               Resumable Upload API, which needs the app's id, not in the session
//	               config; set it in WhatsApp Manager
//	DeletePicture  ErrUnsupported: Meta documents no way to remove the picture
//
// The Cloud API has no Contacts (its contacts endpoint, the number check, is gone)
// and no LIDs: those routes answer 501.

// businessProfile is Meta's whatsapp_business_profile node.
type businessProfile struct {
	About             string `json:"about"`
	ProfilePictureURL string `json:"profile_picture_url"`
}

// Profile implements provider.Profiler.
func (s *Provider) Profile(ctx context.Context) (provider.Profile, error) {
	if err := s.sendable(); err != nil {
		return provider.Profile{}, err
	}
	me, err := s.check(ctx)
	if err != nil {
		return provider.Profile{}, s.errorf("getting the profile", err)
	}
	var answer struct {
		Data []businessProfile `json:"data"`
	}
	err = s.f.graph.call(ctx, request{method: "GET", url: s.base + "/whatsapp_business_profile?fields=about,profile_picture_url",
		token: s.cfg.AccessToken}, &answer)
	if err != nil {
		return provider.Profile{}, s.errorf("getting the business profile", err)
	}
	out := provider.Profile{ID: me.ID, Name: me.PushName}
	if len(answer.Data) > 0 {
		out.About, out.PictureURL = answer.Data[0].About, answer.Data[0].ProfilePictureURL
	}
	return out, nil
}

// SetAbout implements provider.Profiler.
func (s *Provider) SetAbout(ctx context.Context, about string) error {
	if err := s.sendable(); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"messaging_product": "whatsapp", "about": about})
	err := s.f.graph.call(ctx, request{method: "POST", url: s.base + "/whatsapp_business_profile",
		token: s.cfg.AccessToken, contentType: "application/json", body: body}, nil)
	if err != nil {
		return s.errorf("setting the about", err)
	}
	return nil
}

// SetName implements provider.Profiler: unsupported (see above).
func (s *Provider) SetName(ctx context.Context, name string) error {
	return s.errorf("setting the name", fmt.Errorf("%w: a Cloud API number's display name is changed in WhatsApp Manager, with Meta's review", provider.ErrUnsupported))
}

// SetPicture implements provider.Profiler: unsupported (see above).
func (s *Provider) SetPicture(ctx context.Context, picture provider.Media) error {
	return s.errorf("setting the picture", fmt.Errorf("%w: the business profile takes a Resumable Upload handle, which needs the Meta app's id; set the picture in WhatsApp Manager", provider.ErrUnsupported))
}

// DeletePicture implements provider.Profiler: unsupported (see above).
func (s *Provider) DeletePicture(ctx context.Context) error {
	return s.errorf("deleting the picture", fmt.Errorf("%w: Meta documents no way to remove a business profile's picture", provider.ErrUnsupported))
}

var _ provider.Profiler = (*Provider)(nil)
