package provider

import (
	"context"

	"github.com/wagate/wagate/core/chatid"
)

// Channels is the capability CapChannels: WhatsApp channels (newsletters), one-way
// broadcasts that users follow. Ids are channel chat ids (…@newsletter). Posting to a
// channel the session owns or admins is a send to its id; what the channel posts
// reaches followers as messages of that chat.
//
// An unknown channel, or an invite code that leads nowhere, is ErrNotFound; an
// operation only the owner may do (delete), tried by someone else, ErrNotAllowed.
type Channels interface {
	// ListChannels returns the channels the session follows, owns or admins, in no
	// particular order (the API filters by role, sorts and pages).
	ListChannels(ctx context.Context) ([]Channel, error)
	// Channel returns one channel, followed or not.
	Channel(ctx context.Context, id chatid.ID) (Channel, error)
	// ChannelByInvite returns the channel of an invite code (the last part of
	// https://whatsapp.com/channel/<code>).
	ChannelByInvite(ctx context.Context, code string) (Channel, error)
	// CreateChannel creates a channel owned by the session. Picture is optional (a
	// Media by Data or URL, fetched like a send's); a picture the transport refuses is
	// ErrInvalidPicture.
	CreateChannel(ctx context.Context, name, description string, picture *Media) (Channel, error)
	// DeleteChannel deletes a channel the session owns.
	DeleteChannel(ctx context.Context, id chatid.ID) error
	// FollowChannel and UnfollowChannel subscribe the session to a channel's posts or
	// end that. Following a followed channel, or unfollowing one not followed, does
	// nothing.
	FollowChannel(ctx context.Context, id chatid.ID) error
	UnfollowChannel(ctx context.Context, id chatid.ID) error
	// MuteChannel mutes (on) or unmutes a followed channel's notifications.
	MuteChannel(ctx context.Context, id chatid.ID, on bool) error
	// ChannelMessages returns up to limit of the channel's latest posts, newest first.
	ChannelMessages(ctx context.Context, id chatid.ID, limit int) ([]ChannelMessage, error)
}

// ChannelRole is the session's role in a channel, WAHA's ChannelRole.
type ChannelRole string

const (
	ChannelOwner      ChannelRole = "OWNER"
	ChannelAdmin      ChannelRole = "ADMIN"
	ChannelSubscriber ChannelRole = "SUBSCRIBER"
	// ChannelGuest: the session does not follow the channel.
	ChannelGuest ChannelRole = "GUEST"
)

// Channel is a channel in WAHA's Channel shape, with our additions.
type Channel struct {
	ID          chatid.ID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	// Invite is the channel's link, https://www.whatsapp.com/channel/<code>.
	Invite string `json:"invite"`
	// Preview and Picture are URLs of the picture's thumbnail and of the picture; ""
	// when none.
	Preview  string      `json:"preview,omitempty"`
	Picture  string      `json:"picture,omitempty"`
	Verified bool        `json:"verified"`
	Role     ChannelRole `json:"role"`
	// Muted is true when the session muted the channel (ours).
	Muted bool `json:"muted"`
	// Followers is the number of followers, when the transport says (ours).
	Followers int `json:"subscribersCount,omitempty"`
}

// ChannelInviteLink is the link of a channel's invite code.
func ChannelInviteLink(code string) string { return "https://www.whatsapp.com/channel/" + code }

// ChannelMessage is one post of a channel (WAHA's ChannelMessage: the message, its
// view count and reactions).
type ChannelMessage struct {
	Message   ChannelPost    `json:"message"`
	ViewCount int            `json:"viewCount"`
	Reactions map[string]int `json:"reactions"`
}

// ChannelPost is a channel post in the shape of WAHA's WAMessage, as far as a post has
// its fields.
type ChannelPost struct {
	// ID is the post's id; ServerID WhatsApp's number for it in the channel, when known.
	ID       string `json:"id"`
	ServerID int    `json:"serverId,omitempty"`
	// Timestamp is in Unix seconds.
	Timestamp int64     `json:"timestamp"`
	From      chatid.ID `json:"from"`
	FromMe    bool      `json:"fromMe"`
	Body      string    `json:"body"`
	Type      Kind      `json:"type"`
	HasMedia  bool      `json:"hasMedia"`
}
