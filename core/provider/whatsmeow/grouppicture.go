package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	wm "go.mau.fi/whatsmeow"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Group pictures, through whatsmeow:
//
//	GroupPictureURL     Client.GetProfilePictureInfo on the group's JID, cached as
//	                    contacts' pictures are (24 hours; refresh asks again)
//	SetGroupPicture     Client.SetGroupPhoto with the JPEG (WhatsApp takes no other)
//	DeleteGroupPicture  Client.SetGroupPhoto with no picture
//
// Errors are the group calls' (groupError); a picture WhatsApp refuses, or one that is
// not a JPEG, is provider.ErrInvalidPicture.

// GroupPictureURL implements provider.Groups.
func (p *Provider) GroupPictureURL(ctx context.Context, group chatid.ID, refresh bool) (string, error) {
	const op = "getting a group's picture"
	_, cc, err := p.contactRun(op)
	if err != nil {
		return "", err
	}
	j, err := p.groupJID(op, group)
	if err != nil {
		return "", err
	}
	url, err := p.pictureURL(ctx, cc, j, refresh)
	return url, groupError(err)
}

// SetGroupPicture implements provider.Groups.
func (p *Provider) SetGroupPicture(ctx context.Context, group chatid.ID, picture provider.Media) error {
	const op = "setting a group's picture"
	data, _, err := p.mediaBytes(ctx, &picture)
	if err != nil {
		if provider.Retryable(err) {
			return p.errorf(op, err)
		}
		return p.errorf(op, fmt.Errorf("%w: %w", provider.ErrInvalidPicture, err))
	}
	if t := http.DetectContentType(data); t != "image/jpeg" {
		return p.errorf(op, fmt.Errorf("%w: WhatsApp takes a JPEG, not %s", provider.ErrInvalidPicture, t))
	}
	return p.setGroupPhoto(ctx, op, group, data)
}

// DeleteGroupPicture implements provider.Groups.
func (p *Provider) DeleteGroupPicture(ctx context.Context, group chatid.ID) error {
	return p.setGroupPhoto(ctx, "deleting a group's picture", group, nil)
}

func (p *Provider) setGroupPhoto(ctx context.Context, op string, group chatid.ID, data []byte) error {
	_, cc, err := p.contactRun(op)
	if err != nil {
		return err
	}
	j, err := p.groupJID(op, group)
	if err != nil {
		return err
	}
	_, err = groupCall(ctx, p, op, func() (string, error) {
		id, err := cc.SetGroupPhoto(ctx, j, data)
		if errors.Is(err, wm.ErrInvalidImageFormat) {
			return "", fmt.Errorf("%w: %w", provider.ErrInvalidPicture, err)
		}
		return id, err
	})
	if err == nil {
		p.forgetPicture(j)
	}
	return err
}
