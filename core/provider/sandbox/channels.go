package sandbox

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Channels between sandbox numbers (provider.Channels):
//
//   - A channel lives in the network, like a group: every number sees the same one,
//     whichever tenant runs it. Its id is "120363" + 12 digits + "@newsletter" (18
//     digits, as WhatsApp's are), its invite code 22 letters and digits.
//   - The number that created it is its OWNER, the only one who posts and deletes it
//     (anyone else: ErrNotAllowed). Any number follows and unfollows it (SUBSCRIBER);
//     a number that does not is a GUEST of Channel and ChannelByInvite. The owner's
//     own follow and unfollow do nothing: it stays OWNER.
//   - Muting is a follower's: muting or unmuting a channel the session does not follow
//     (its own included) is ErrNotAllowed. A muted follower still gets the posts: a
//     mute silences notifications, it does not stop delivery.
//   - A send to the channel by its owner is a post: it reaches the running session of
//     every follower as an inbound message of the channel's chat (chat and sender
//     the channel, no participant). Reactions, edits and revokes reach them the same
//     way but are not posts. The post's view count is the number of followers whose
//     session was WORKING and got it; it has no reactions.
//   - A send to a channel by a number that does not own it fails with SendError code
//     "not_allowed"; to an unknown channel, "invalid_recipient".
//
// Bounds: maxOwnedChannels channels owned and maxFollowedChannels followed per number,
// maxSandboxChannels in the network, and the latest maxChannelPosts posts kept per
// channel (older ones leave the preview). Like groups, this state lives in memory.
const (
	maxOwnedChannels    = 100
	maxFollowedChannels = 2000
	maxSandboxChannels  = 10_000
	maxChannelPosts     = 100
)

// channelBook is the channel state of a Network. Its lock is a leaf, like the group
// book's: taken with no other lock held.
type channelBook struct {
	mu sync.Mutex
	// channels holds the channels by the local part of their id.
	channels map[string]*sandboxChannel
	// codes maps invite codes to channel ids (local part).
	codes map[string]string
	// owned and followed count each number's channels, for the bounds.
	owned, followed map[string]int
}

// sandboxChannel is one channel. Its fields are under the book's lock.
type sandboxChannel struct {
	id                chatid.ID
	name, description string
	picture           string
	owner             string
	code              string
	// followers holds each follower's mute flag, by number.
	followers map[string]bool
	// posts are the latest posts, oldest first; serial numbers them.
	posts  []channelPost
	serial int
}

// channelPost is one post as the network keeps it.
type channelPost struct {
	id        string
	serverID  int
	timestamp time.Time
	kind      provider.Kind
	body      string
	hasMedia  bool
	views     int
}

// viewLocked returns the channel as number me sees it.
func (c *sandboxChannel) viewLocked(me string) provider.Channel {
	ch := provider.Channel{
		ID: c.id, Name: c.name, Description: c.description,
		Invite:  provider.ChannelInviteLink(c.code),
		Preview: c.picture, Picture: c.picture,
		Role: provider.ChannelGuest, Followers: len(c.followers),
	}
	if muted, ok := c.followers[me]; ok {
		ch.Role, ch.Muted = provider.ChannelSubscriber, muted
	}
	if c.owner == me {
		ch.Role = provider.ChannelOwner
	}
	return ch
}

// lookupLocked returns a channel by id, or ErrNotFound.
func (b *channelBook) lookupLocked(id chatid.ID) (*sandboxChannel, error) {
	c := b.channels[id.Local]
	if !id.IsNewsletter() || c == nil {
		return nil, fmt.Errorf("channel %s: %w", id, provider.ErrNotFound)
	}
	return c, nil
}

// channelOp checks a channel operation: the session is WORKING and id is a channel id.
func (s *session) channelOp(op string, id chatid.ID) (string, error) {
	me, err := s.self(op)
	if err != nil {
		return "", err
	}
	if !id.IsNewsletter() {
		return "", s.errorf(op, fmt.Errorf("%s is not a channel: %w", id, provider.ErrInvalidRecipient))
	}
	return me, nil
}

// ListChannels implements provider.Channels: the channels the session owns or follows.
func (s *session) ListChannels(ctx context.Context) ([]provider.Channel, error) {
	me, err := s.self("listing channels")
	if err != nil {
		return nil, err
	}
	b := &s.net.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []provider.Channel{}
	for _, c := range b.channels {
		if _, follows := c.followers[me]; follows || c.owner == me {
			out = append(out, c.viewLocked(me))
		}
	}
	return out, nil
}

// Channel implements provider.Channels.
func (s *session) Channel(ctx context.Context, id chatid.ID) (provider.Channel, error) {
	const op = "getting a channel"
	me, err := s.channelOp(op, id)
	if err != nil {
		return provider.Channel{}, err
	}
	b := &s.net.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.lookupLocked(id)
	if err != nil {
		return provider.Channel{}, s.errorf(op, err)
	}
	return c.viewLocked(me), nil
}

// ChannelByInvite implements provider.Channels.
func (s *session) ChannelByInvite(ctx context.Context, code string) (provider.Channel, error) {
	const op = "reading a channel invite"
	me, err := s.self(op)
	if err != nil {
		return provider.Channel{}, err
	}
	b := &s.net.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.channels[b.codes[code]]
	if code == "" || c == nil {
		return provider.Channel{}, s.errorf(op, fmt.Errorf("channel invite code %q: %w", code, provider.ErrNotFound))
	}
	return c.viewLocked(me), nil
}

// CreateChannel implements provider.Channels. A picture is a JPEG or PNG (by data) or
// any URL, never fetched; one set as data gets a made-up URL under pictureBase.
func (s *session) CreateChannel(ctx context.Context, name, description string, picture *provider.Media) (provider.Channel, error) {
	const op = "creating a channel"
	me, err := s.self(op)
	if err != nil {
		return provider.Channel{}, err
	}
	if picture != nil {
		if err := checkPicture(*picture); err != nil {
			return provider.Channel{}, s.errorf(op, err)
		}
	}
	b := &s.net.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.channels == nil {
		b.channels, b.codes = map[string]*sandboxChannel{}, map[string]string{}
		b.owned, b.followed = map[string]int{}, map[string]int{}
	}
	switch {
	case b.owned[me] >= maxOwnedChannels:
		return provider.Channel{}, s.errorf(op, fmt.Errorf("the account owns %d channels, its most: %w", maxOwnedChannels, provider.ErrNotAllowed))
	case len(b.channels) >= maxSandboxChannels:
		return provider.Channel{}, s.errorf(op, fmt.Errorf("the sandbox holds %d channels, its most: %w", maxSandboxChannels, provider.ErrNotAllowed))
	}
	id := s.net.groupID() // the same 120363 + 12 digits as groups
	id.Server = chatid.Newsletter
	for b.channels[id.Local] != nil {
		id.Local = s.net.groupID().Local
	}
	code := s.net.inviteCode()
	for b.codes[code] != "" {
		code = s.net.inviteCode()
	}
	c := &sandboxChannel{id: id, name: name, description: description, owner: me, code: code, followers: map[string]bool{}}
	if picture != nil {
		c.picture = picture.URL
		if c.picture == "" {
			c.picture = pictureBase + id.Local + "/1.jpg"
		}
	}
	b.channels[id.Local], b.codes[code] = c, id.Local
	b.owned[me]++
	return c.viewLocked(me), nil
}

// DeleteChannel implements provider.Channels: the owner only. Its followers lose it.
func (s *session) DeleteChannel(ctx context.Context, id chatid.ID) error {
	const op = "deleting a channel"
	me, err := s.channelOp(op, id)
	if err != nil {
		return err
	}
	b := &s.net.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.lookupLocked(id)
	if err == nil && c.owner != me {
		err = fmt.Errorf("channel %s: only its owner deletes it: %w", id, provider.ErrNotAllowed)
	}
	if err != nil {
		return s.errorf(op, err)
	}
	for phone := range c.followers {
		b.followed[phone]--
	}
	b.owned[me]--
	delete(b.codes, c.code)
	delete(b.channels, id.Local)
	return nil
}

// FollowChannel implements provider.Channels.
func (s *session) FollowChannel(ctx context.Context, id chatid.ID) error {
	return s.changeFollow("following a channel", id, func(b *channelBook, c *sandboxChannel, me string) error {
		if _, ok := c.followers[me]; ok || c.owner == me {
			return nil
		}
		if b.followed[me] >= maxFollowedChannels {
			return fmt.Errorf("the account follows %d channels, its most: %w", maxFollowedChannels, provider.ErrNotAllowed)
		}
		c.followers[me] = false
		b.followed[me]++
		return nil
	})
}

// UnfollowChannel implements provider.Channels.
func (s *session) UnfollowChannel(ctx context.Context, id chatid.ID) error {
	return s.changeFollow("unfollowing a channel", id, func(b *channelBook, c *sandboxChannel, me string) error {
		if _, ok := c.followers[me]; ok {
			delete(c.followers, me)
			b.followed[me]--
		}
		return nil
	})
}

// MuteChannel implements provider.Channels: followers only (ErrNotAllowed otherwise).
func (s *session) MuteChannel(ctx context.Context, id chatid.ID, on bool) error {
	return s.changeFollow("muting a channel", id, func(b *channelBook, c *sandboxChannel, me string) error {
		if _, ok := c.followers[me]; !ok {
			return fmt.Errorf("channel %s: the session does not follow it: %w", id, provider.ErrNotAllowed)
		}
		c.followers[me] = on
		return nil
	})
}

// changeFollow runs apply on an existing channel under the book's lock.
func (s *session) changeFollow(op string, id chatid.ID, apply func(*channelBook, *sandboxChannel, string) error) error {
	me, err := s.channelOp(op, id)
	if err != nil {
		return err
	}
	b := &s.net.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.lookupLocked(id)
	if err == nil {
		err = apply(b, c, me)
	}
	if err != nil {
		return s.errorf(op, err)
	}
	return nil
}

// ChannelMessages implements provider.Channels: anyone may preview a channel.
func (s *session) ChannelMessages(ctx context.Context, id chatid.ID, limit int) ([]provider.ChannelMessage, error) {
	const op = "previewing a channel"
	me, err := s.channelOp(op, id)
	if err != nil {
		return nil, err
	}
	b := &s.net.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.lookupLocked(id)
	if err != nil {
		return nil, s.errorf(op, err)
	}
	if limit <= 0 || limit > len(c.posts) {
		limit = len(c.posts)
	}
	out := make([]provider.ChannelMessage, 0, limit)
	for i := len(c.posts) - 1; i >= len(c.posts)-limit; i-- {
		p := c.posts[i]
		out = append(out, provider.ChannelMessage{
			Message: provider.ChannelPost{ID: p.id, ServerID: p.serverID, Timestamp: p.timestamp.Unix(),
				From: c.id, FromMe: c.owner == me, Body: p.body, Type: p.kind, HasMedia: p.hasMedia},
			ViewCount: p.views, Reactions: map[string]int{},
		})
	}
	return out, nil
}

// channelFollowers checks that number from may post to channel (its owner) and
// returns the followers; the error is the SendError of a refused send.
func (n *Network) channelFollowers(from string, channel chatid.ID) ([]string, error) {
	b := &n.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.lookupLocked(channel)
	if err != nil {
		return nil, &provider.SendError{Code: CodeInvalidRecipient, Err: fmt.Errorf("sending: %w (%w)", err, provider.ErrInvalidRecipient)}
	}
	if c.owner != from {
		return nil, &provider.SendError{Code: CodeNotAllowed, Err: fmt.Errorf("sending: channel %s: only its owner posts: %w", channel, provider.ErrNotAllowed)}
	}
	out := make([]string, 0, len(c.followers))
	for phone := range c.followers {
		out = append(out, phone)
	}
	return out, nil
}

// postToChannel hands a channel message to the running sessions of its followers,
// then records it as a post (unless it is a reaction, edit or revoke) with the number
// that got it as its view count.
func (n *Network) postToChannel(msg provider.Outbound, res provider.SendResult, followers []string) {
	views := 0
	for _, phone := range followers {
		to := n.byPhone(phone)
		if to == nil {
			continue
		}
		in := inbound(msg)
		in.ProviderID, in.ChatID, in.From, in.Timestamp = res.ProviderID, msg.ChatID, msg.ChatID, res.Timestamp
		if to.receive(in) == nil {
			views++
		}
	}
	switch msg.Kind {
	case provider.KindReaction, provider.KindEdit, provider.KindRevoke:
		return
	}
	b := &n.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.lookupLocked(msg.ChatID)
	if err != nil {
		return // deleted meanwhile
	}
	c.serial++
	text := msg.Text
	if msg.Poll != nil && text == "" {
		text = msg.Poll.Name
	}
	c.posts = append(c.posts, channelPost{id: res.ProviderID, serverID: c.serial, timestamp: res.Timestamp,
		kind: msg.Kind, body: text, hasMedia: msg.Media != nil, views: views})
	if len(c.posts) > maxChannelPosts {
		c.posts = append(c.posts[:0], c.posts[len(c.posts)-maxChannelPosts:]...)
	}
}

// inviteCode returns a new invite code: 22 letters and digits.
func (n *Network) inviteCode() string {
	return strings.NewReplacer("+", "A", "/", "B", "=", "").Replace(n.base64Rand(16))
}

// channelFollowersOf returns a channel's followers and their mute flags, for tests.
func (n *Network) channelFollowersOf(id chatid.ID) map[string]bool {
	b := &n.channels
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.channels[id.Local]; c != nil {
		return maps.Clone(c.followers)
	}
	return nil
}

var _ provider.Channels = (*session)(nil)
