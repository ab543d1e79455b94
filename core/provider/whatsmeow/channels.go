package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Channels (newsletters), through whatsmeow (each method one query to WhatsApp):
//
//	ListChannels     Client.GetSubscribedNewsletters
//	Channel          Client.GetNewsletterInfo
//	ChannelByInvite  Client.GetNewsletterInfoWithInvite
//	CreateChannel    Client.CreateNewsletter (the picture a JPEG, as profile pictures)
//	DeleteChannel    none: whatsmeow has no call for it at the pinned version, so it
//	                 is provider.ErrUnsupported (delete the channel on the phone)
//	FollowChannel    Client.FollowNewsletter
//	UnfollowChannel  Client.UnfollowNewsletter
//	MuteChannel      Client.NewsletterToggleMute
//	ChannelMessages  Client.GetNewsletterMessages (Count = limit), newest first
//
// A channel's role is the session's (ViewerMeta.Role): owner, admin, subscriber, or
// guest when it does not follow the channel. WhatsApp does not say it for an invite
// lookup (ChannelByInvite): the role is then guest, whatever the session's is; Channel
// by the id says. Picture and Preview are the picture's URLs on WhatsApp's media
// servers (https://mmg.whatsapp.net and the direct path when WhatsApp gives no URL):
// channel pictures are not encrypted.
//
// Posting to a channel the session owns or admins is a send to its id (Send).
//
// Errors (channelError): an unknown channel or invite, a channel WhatsApp answers
// nothing for, and its GraphQL errors 404 and 410 are provider.ErrNotFound; its 401,
// 403 and 405 (and the IQ errors of the same codes) provider.ErrNotAllowed; a
// connection lost before the answer provider.ErrNotConnected. The whatsmeow error
// stays wrapped beside them.

// channelClient is the part of *whatsmeow.Client the Channels capability uses.
// *whatsmeow.Client implements it; a Client that does not (a test fake without it)
// answers provider.ErrUnsupported.
type channelClient interface {
	GetSubscribedNewsletters(ctx context.Context) ([]*types.NewsletterMetadata, error)
	GetNewsletterInfo(ctx context.Context, jid types.JID) (*types.NewsletterMetadata, error)
	GetNewsletterInfoWithInvite(ctx context.Context, key string) (*types.NewsletterMetadata, error)
	CreateNewsletter(ctx context.Context, params wm.CreateNewsletterParams) (*types.NewsletterMetadata, error)
	FollowNewsletter(ctx context.Context, jid types.JID) error
	UnfollowNewsletter(ctx context.Context, jid types.JID) error
	NewsletterToggleMute(ctx context.Context, jid types.JID, mute bool) error
	GetNewsletterMessages(ctx context.Context, jid types.JID, params *wm.GetNewsletterMessagesParams) ([]*types.NewsletterMessage, error)
}

var _ channelClient = (*wm.Client)(nil)

// errNoChannel: WhatsApp answered a channel query without a channel.
var errNoChannel = errors.New("whatsmeow: no channel in WhatsApp's answer")

// channelError maps an error of a whatsmeow channel call onto the provider's errors:
// groupError's IQ errors, and the codes of WhatsApp's GraphQL errors (most channel
// calls are GraphQL queries). Context errors pass as they are.
func channelError(err error) error {
	var gql types.GraphQLError
	switch {
	case err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, errNoChannel):
		return fmt.Errorf("%w: %w", provider.ErrNotFound, err)
	case errors.As(err, &gql):
		switch gql.Extensions.ErrorCode {
		case http.StatusNotFound, http.StatusGone:
			return fmt.Errorf("%w: %w", provider.ErrNotFound, err)
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed:
			return fmt.Errorf("%w: %w", provider.ErrNotAllowed, err)
		}
		return err
	}
	return groupError(err)
}

// channelCall runs one whatsmeow channel call under ctx and maps its error.
func channelCall[T any](ctx context.Context, p *Provider, op string, f func() (T, error)) (T, error) {
	v, err := bounded(ctx, f)
	if err != nil {
		return v, p.errorf(op, channelError(err))
	}
	return v, nil
}

// channelRun returns the running connection and its channel client, or the error of
// a channel call.
func (p *Provider) channelRun(op string) (*run, channelClient, error) {
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return nil, nil, p.errorf(op, provider.ErrNotConnected)
	}
	cc, ok := r.client.(channelClient)
	if !ok {
		return nil, nil, p.errorf(op, fmt.Errorf("the client has no channel calls: %w", provider.ErrUnsupported))
	}
	return r, cc, nil
}

// channelJID returns the JID of a channel id.
func (p *Provider) channelJID(op string, id chatid.ID) (types.JID, error) {
	if id.Server != chatid.Newsletter {
		return types.JID{}, p.errorf(op, fmt.Errorf("%s is not a channel: %w", id, provider.ErrInvalidRecipient))
	}
	j, err := ToJID(id)
	if err != nil {
		return types.JID{}, p.errorf(op, fmt.Errorf("%w (%w)", provider.ErrInvalidRecipient, err))
	}
	return j, nil
}

// channelOf maps whatsmeow's channel metadata onto provider.Channel.
func channelOf(m *types.NewsletterMetadata) (provider.Channel, error) {
	if m == nil {
		return provider.Channel{}, errNoChannel
	}
	id, err := FromJID(m.ID)
	if err != nil || !id.IsNewsletter() {
		return provider.Channel{}, fmt.Errorf("%w: channel id %s", errNoChannel, m.ID)
	}
	t := m.ThreadMeta
	ch := provider.Channel{
		ID:          id,
		Name:        t.Name.Text,
		Description: t.Description.Text,
		Preview:     pictureLink(&t.Preview),
		Picture:     pictureLink(t.Picture),
		Verified:    t.VerificationState == types.NewsletterVerificationStateVerified,
		Role:        provider.ChannelGuest,
		Followers:   t.SubscriberCount,
	}
	if t.InviteCode != "" {
		ch.Invite = provider.ChannelInviteLink(t.InviteCode)
	}
	if v := m.ViewerMeta; v != nil {
		ch.Role = channelRole(v.Role)
		ch.Muted = v.Mute == types.NewsletterMuteOn
	}
	return ch, nil
}

// channelRole maps the session's role in a channel; an unknown or empty one is guest.
func channelRole(r types.NewsletterRole) provider.ChannelRole {
	switch r {
	case types.NewsletterRoleOwner:
		return provider.ChannelOwner
	case types.NewsletterRoleAdmin:
		return provider.ChannelAdmin
	case types.NewsletterRoleSubscriber:
		return provider.ChannelSubscriber
	}
	return provider.ChannelGuest
}

// mediaServer serves the files of WhatsApp's direct paths.
const mediaServer = "https://mmg.whatsapp.net"

// pictureLink returns the URL of a channel picture: its URL, else its direct path on
// WhatsApp's media server; "" when none.
func pictureLink(pi *types.ProfilePictureInfo) string {
	switch {
	case pi == nil:
		return ""
	case pi.URL != "":
		return pi.URL
	case pi.DirectPath != "":
		return mediaServer + pi.DirectPath
	}
	return ""
}

// ListChannels implements provider.Channels.
func (p *Provider) ListChannels(ctx context.Context) ([]provider.Channel, error) {
	const op = "listing channels"
	_, cc, err := p.channelRun(op)
	if err != nil {
		return nil, err
	}
	list, err := channelCall(ctx, p, op, func() ([]*types.NewsletterMetadata, error) { return cc.GetSubscribedNewsletters(ctx) })
	if err != nil {
		return nil, err
	}
	out := make([]provider.Channel, 0, len(list))
	for _, m := range list {
		ch, err := channelOf(m)
		if err != nil {
			continue // nil, or an id the gateway cannot hold
		}
		out = append(out, ch)
	}
	return out, nil
}

// Channel implements provider.Channels.
func (p *Provider) Channel(ctx context.Context, id chatid.ID) (provider.Channel, error) {
	const op = "getting a channel"
	_, cc, err := p.channelRun(op)
	if err != nil {
		return provider.Channel{}, err
	}
	j, err := p.channelJID(op, id)
	if err != nil {
		return provider.Channel{}, err
	}
	return p.channelInfo(ctx, op, func() (*types.NewsletterMetadata, error) { return cc.GetNewsletterInfo(ctx, j) })
}

// ChannelByInvite implements provider.Channels. code may also be the whole link
// (https://whatsapp.com/channel/<code>, with or without www).
func (p *Provider) ChannelByInvite(ctx context.Context, code string) (provider.Channel, error) {
	const op = "getting a channel by invite"
	_, cc, err := p.channelRun(op)
	if err != nil {
		return provider.Channel{}, err
	}
	code = strings.TrimSpace(code)
	for _, prefix := range []string{provider.ChannelInviteLink(""), wm.NewsletterLinkPrefix} {
		code = strings.TrimPrefix(code, prefix)
	}
	if code, err = p.inviteCode(op, code); err != nil {
		return provider.Channel{}, err
	}
	return p.channelInfo(ctx, op, func() (*types.NewsletterMetadata, error) { return cc.GetNewsletterInfoWithInvite(ctx, code) })
}

// channelInfo runs a channel query and maps its answer.
func (p *Provider) channelInfo(ctx context.Context, op string, f func() (*types.NewsletterMetadata, error)) (provider.Channel, error) {
	m, err := channelCall(ctx, p, op, f)
	if err != nil {
		return provider.Channel{}, err
	}
	ch, err := channelOf(m)
	if err != nil {
		return provider.Channel{}, p.errorf(op, channelError(err))
	}
	return ch, nil
}

// CreateChannel implements provider.Channels. The picture (Data, or URL fetched as for
// a send) must be a JPEG; one that cannot be had, or that WhatsApp refuses, is
// provider.ErrInvalidPicture. WhatsApp asks an account to accept the channels' terms
// once, on the phone, before it may create one; until then creating fails.
func (p *Provider) CreateChannel(ctx context.Context, name, description string, picture *provider.Media) (provider.Channel, error) {
	const op = "creating a channel"
	_, cc, err := p.channelRun(op)
	if err != nil {
		return provider.Channel{}, err
	}
	params := wm.CreateNewsletterParams{Name: name, Description: description}
	if picture != nil {
		data, _, err := p.mediaBytes(ctx, picture)
		if err != nil {
			if provider.Retryable(err) {
				return provider.Channel{}, p.errorf(op, err)
			}
			return provider.Channel{}, p.errorf(op, fmt.Errorf("%w: %w", provider.ErrInvalidPicture, err))
		}
		if t := http.DetectContentType(data); t != "image/jpeg" {
			return provider.Channel{}, p.errorf(op, fmt.Errorf("%w: WhatsApp takes a JPEG, not %s", provider.ErrInvalidPicture, t))
		}
		params.Picture = data
	}
	m, err := channelCall(ctx, p, op, func() (*types.NewsletterMetadata, error) { return cc.CreateNewsletter(ctx, params) })
	if err != nil {
		return provider.Channel{}, err
	}
	ch, err := channelOf(m)
	if err != nil {
		return provider.Channel{}, p.errorf(op, err)
	}
	if m.ViewerMeta == nil {
		ch.Role = provider.ChannelOwner // the creator, whether WhatsApp says so or not
	}
	return ch, nil
}

// DeleteChannel implements provider.Channels: whatsmeow has no call to delete a
// channel at the pinned version, so it answers provider.ErrUnsupported.
func (p *Provider) DeleteChannel(ctx context.Context, id chatid.ID) error {
	return p.errorf("deleting a channel", fmt.Errorf("whatsmeow cannot delete a channel (delete it on the phone): %w", provider.ErrUnsupported))
}

// FollowChannel implements provider.Channels. When WhatsApp refuses to follow a
// channel the session follows already, that is no error.
func (p *Provider) FollowChannel(ctx context.Context, id chatid.ID) error {
	return p.follow(ctx, "following a channel", id, true)
}

// UnfollowChannel implements provider.Channels. When WhatsApp refuses to unfollow a
// channel the session does not follow, that is no error.
func (p *Provider) UnfollowChannel(ctx context.Context, id chatid.ID) error {
	return p.follow(ctx, "unfollowing a channel", id, false)
}

func (p *Provider) follow(ctx context.Context, op string, id chatid.ID, on bool) error {
	_, cc, err := p.channelRun(op)
	if err != nil {
		return err
	}
	j, err := p.channelJID(op, id)
	if err != nil {
		return err
	}
	_, err = channelCall(ctx, p, op, func() (struct{}, error) {
		if on {
			return struct{}{}, cc.FollowNewsletter(ctx, j)
		}
		return struct{}{}, cc.UnfollowNewsletter(ctx, j)
	})
	if err == nil || errors.Is(err, provider.ErrNotFound) || ctx.Err() != nil {
		return err
	}
	// Already so? Ask WhatsApp for the session's role, once.
	m, ierr := bounded(ctx, func() (*types.NewsletterMetadata, error) { return cc.GetNewsletterInfo(ctx, j) })
	if ierr == nil && m != nil && m.ViewerMeta != nil {
		following := m.ViewerMeta.Role != types.NewsletterRoleGuest && m.ViewerMeta.Role != ""
		if following == on {
			return nil
		}
	}
	return err
}

// MuteChannel implements provider.Channels.
func (p *Provider) MuteChannel(ctx context.Context, id chatid.ID, on bool) error {
	const op = "muting a channel"
	_, cc, err := p.channelRun(op)
	if err != nil {
		return err
	}
	j, err := p.channelJID(op, id)
	if err != nil {
		return err
	}
	_, err = channelCall(ctx, p, op, func() (struct{}, error) { return struct{}{}, cc.NewsletterToggleMute(ctx, j, on) })
	return err
}

// ChannelMessages implements provider.Channels. Each post is mapped as an inbound
// message would be (Type and Body: text, caption, media kind); a post whatsmeow
// returns without content (or of a kind the gateway does not know) is
// KindUnsupported with WhatsApp's type as Body. From is the channel; FromMe is
// false, WhatsApp not saying which admin posted. A limit of 0 or less lets WhatsApp
// choose how many.
func (p *Provider) ChannelMessages(ctx context.Context, id chatid.ID, limit int) ([]provider.ChannelMessage, error) {
	const op = "getting a channel's messages"
	r, cc, err := p.channelRun(op)
	if err != nil {
		return nil, err
	}
	j, err := p.channelJID(op, id)
	if err != nil {
		return nil, err
	}
	params := &wm.GetNewsletterMessagesParams{Count: max(limit, 0)}
	list, err := channelCall(ctx, p, op, func() ([]*types.NewsletterMessage, error) { return cc.GetNewsletterMessages(ctx, j, params) })
	if err != nil {
		return nil, err
	}
	list = slices.DeleteFunc(slices.Clone(list), func(m *types.NewsletterMessage) bool { return m == nil })
	slices.SortStableFunc(list, func(a, b *types.NewsletterMessage) int {
		if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
			return c
		}
		return b.MessageServerID - a.MessageServerID
	})
	if limit > 0 && len(list) > limit {
		list = list[:limit]
	}
	out := make([]provider.ChannelMessage, 0, len(list))
	for _, m := range list {
		out = append(out, r.channelPost(ctx, id, j, m))
	}
	return out, nil
}

// channelPost maps one post of channel id (JID j).
func (r *run) channelPost(ctx context.Context, id chatid.ID, j types.JID, m *types.NewsletterMessage) provider.ChannelMessage {
	post := provider.ChannelPost{ID: m.MessageID, ServerID: m.MessageServerID, From: id, Type: provider.KindUnsupported, Body: m.Type}
	if post.ID == "" {
		post.ID = strconv.Itoa(m.MessageServerID)
	}
	if !m.Timestamp.IsZero() {
		post.Timestamp = m.Timestamp.Unix()
	}
	if m.Message != nil {
		var in provider.Inbound
		info := types.MessageInfo{ID: m.MessageID, MessageSource: types.MessageSource{Chat: j, Sender: j}, Timestamp: m.Timestamp}
		if _, ok := r.content(ctx, info, m.Message, &in); ok {
			post.Type, post.Body, post.HasMedia = in.Kind, in.Text, in.Media != nil
		}
	}
	reactions := make(map[string]int, len(m.ReactionCounts))
	for emoji, n := range m.ReactionCounts {
		reactions[emoji] = n
	}
	return provider.ChannelMessage{Message: post, ViewCount: m.ViewsCount, Reactions: reactions}
}

var _ provider.Channels = (*Provider)(nil)
