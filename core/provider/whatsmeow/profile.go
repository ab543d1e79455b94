package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/provider"
)

// The session's own profile, through whatsmeow:
//
//	Profile        the push name the session knows, GetUserInfo of its own number
//	               (about) and GetProfilePictureInfo (picture)
//	SetName        the app state setting_pushName (appstate.BuildSettingPushName),
//	               as WhatsApp Web renames; the session then reports WORKING again
//	               with the new name
//	SetAbout       SetStatusMessage
//	SetPicture     SetGroupPhoto with no target: the own picture (whatsmeow has no
//	               SetProfilePicture at the pinned version; the IQ is the same), JPEG
//	               only, as WhatsApp takes
//	DeletePicture  SetGroupPhoto with no target and no image

// Profile implements provider.Profiler.
func (p *Provider) Profile(ctx context.Context) (provider.Profile, error) {
	const op = "getting the profile"
	r, cc, err := p.contactRun(op)
	if err != nil {
		return provider.Profile{}, err
	}
	me := r.account()
	if me == nil {
		return provider.Profile{}, p.errorf(op, provider.ErrNotConnected)
	}
	out := provider.Profile{ID: me.ID, Name: me.PushName}
	j := types.NewJID(me.ID.Local, types.DefaultUserServer)
	infos, err := bounded(ctx, func() (map[types.JID]types.UserInfo, error) { return cc.GetUserInfo(ctx, []types.JID{j}) })
	if err != nil {
		return provider.Profile{}, p.errorf(op, err)
	}
	for _, info := range infos {
		out.About = info.Status
	}
	if out.PictureURL, err = p.pictureURL(ctx, cc, j, false); err != nil {
		return provider.Profile{}, err
	}
	return out, nil
}

// SetName implements provider.Profiler.
func (p *Provider) SetName(ctx context.Context, name string) error {
	const op = "setting the name"
	r, cc, err := p.contactRun(op)
	if err != nil {
		return err
	}
	if err := boundedDo(ctx, func() error { return cc.SendAppState(ctx, appstate.BuildSettingPushName(name)) }); err != nil {
		return p.errorf(op, err)
	}
	// whatsmeow reports the setting back when it resyncs the app state; report it now,
	// through the run's queue, so that the session's account changes at once (the
	// echo then changes nothing).
	r.queue.push(&events.PushNameSetting{Action: &waSyncAction.PushNameSetting{Name: proto.String(name)}}, false)
	return nil
}

// SetAbout implements provider.Profiler.
func (p *Provider) SetAbout(ctx context.Context, about string) error {
	const op = "setting the about"
	_, cc, err := p.contactRun(op)
	if err != nil {
		return err
	}
	if err := boundedDo(ctx, func() error { return cc.SetStatusMessage(ctx, types.SetStatusInput{Text: &about}) }); err != nil {
		return p.errorf(op, err)
	}
	return nil
}

// SetPicture implements provider.Profiler. The image (Data, or URL fetched as for a
// send) must be a JPEG; an image WhatsApp refuses, or a file that cannot be had (too
// large, not found), is provider.ErrInvalidPicture.
func (p *Provider) SetPicture(ctx context.Context, picture provider.Media) error {
	const op = "setting the picture"
	r, cc, err := p.contactRun(op)
	if err != nil {
		return err
	}
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
	if err := p.setOwnPicture(ctx, r, cc, data); err != nil {
		return p.errorf(op, err)
	}
	return nil
}

// DeletePicture implements provider.Profiler.
func (p *Provider) DeletePicture(ctx context.Context) error {
	const op = "deleting the picture"
	r, cc, err := p.contactRun(op)
	if err != nil {
		return err
	}
	if err := p.setOwnPicture(ctx, r, cc, nil); err != nil {
		return p.errorf(op, err)
	}
	return nil
}

func (p *Provider) setOwnPicture(ctx context.Context, r *run, cc contactClient, data []byte) error {
	_, err := bounded(ctx, func() (string, error) { return cc.SetGroupPhoto(ctx, types.EmptyJID, data) })
	if errors.Is(err, wm.ErrInvalidImageFormat) {
		return fmt.Errorf("%w: %w", provider.ErrInvalidPicture, err)
	}
	if err == nil {
		if me := r.meID(); !me.IsZero() {
			p.forgetPicture(types.NewJID(me.Local, types.DefaultUserServer))
		}
	}
	return err
}

var _ provider.Profiler = (*Provider)(nil)
