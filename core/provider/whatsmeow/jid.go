package whatsmeow

import (
	"fmt"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
)

// Chat ids and whatsmeow JIDs.
//
// Our chat ids (core/chatid) name a chat the way WAHA does; whatsmeow names it with a
// types.JID. The two convert one to one for the kinds of chat the gateway knows:
//
//	chatid                          types.JID
//	15551234567@c.us                15551234567@s.whatsapp.net     a user by phone number (PN)
//	120363012345678901@g.us         120363012345678901@g.us        a group
//	123456789012345@lid             123456789012345@lid            a user by linked identity (LID)
//	120363012345678901@newsletter   120363012345678901@newsletter  a channel
//	status@broadcast                status@broadcast               status updates
//	1612345678@broadcast            1612345678@broadcast           a broadcast list
//
// From whatsmeow, device and agent parts are dropped (a message from
// 15551234567:12@s.whatsapp.net is from 15551234567@c.us), the legacy c.us server is a
// user, and the hosted servers of business accounts are their PN or LID. Bots and
// Messenger ids are not chats of the gateway: FromJID refuses them with
// ErrUnsupportedJID. Inbound messages of channels, broadcast lists and status are still
// skipped (see onMessage); sends to them go out.
//
// A user may show up under either their phone number or their LID. The provider reports
// the phone number whenever it knows it (see Provider.chatOf); sending works to both.

// ToJID returns the whatsmeow JID of a chat id. The zero ID and ids of an unknown
// server are refused with chatid.ErrInvalid.
func ToJID(id chatid.ID) (types.JID, error) {
	if id.IsZero() {
		return types.JID{}, fmt.Errorf("%w: empty", chatid.ErrInvalid)
	}
	var server string
	switch id.Server {
	case chatid.User:
		server = types.DefaultUserServer
	case chatid.Group:
		server = types.GroupServer
	case chatid.LID:
		server = types.HiddenUserServer
	case chatid.Newsletter:
		server = types.NewsletterServer
	case chatid.Broadcast:
		server = types.BroadcastServer
	default:
		return types.JID{}, fmt.Errorf("%w: unknown server %q", chatid.ErrInvalid, id.Server)
	}
	// Parse again so that an ID built by hand, not by chatid.Parse, is checked too.
	canon, err := chatid.Parse(id.String())
	if err != nil {
		return types.JID{}, err
	}
	return types.NewJID(canon.Local, server), nil
}

// ParseJID parses a chat id in any form chatid.Parse accepts and returns its JID.
func ParseJID(s string) (types.JID, error) {
	id, err := chatid.Parse(s)
	if err != nil {
		return types.JID{}, err
	}
	return ToJID(id)
}

// FromJID returns the chat id of a whatsmeow JID. It refuses the empty JID and a user
// part the chat id cannot hold with chatid.ErrInvalid, and JIDs of servers that are not
// users, groups, LIDs, newsletters or broadcasts with ErrUnsupportedJID.
func FromJID(j types.JID) (chatid.ID, error) {
	if j.IsEmpty() {
		return chatid.ID{}, fmt.Errorf("%w: empty JID", chatid.ErrInvalid)
	}
	var server chatid.Server
	switch j.Server {
	case types.DefaultUserServer, types.LegacyUserServer, types.HostedServer:
		server = chatid.User
	case types.GroupServer:
		server = chatid.Group
	case types.HiddenUserServer, types.HostedLIDServer:
		server = chatid.LID
	case types.NewsletterServer:
		server = chatid.Newsletter
	case types.BroadcastServer:
		server = chatid.Broadcast
	default:
		return chatid.ID{}, fmt.Errorf("%w: %s", ErrUnsupportedJID, j)
	}
	id, err := chatid.Parse(j.User + "@" + string(server))
	if err != nil {
		return chatid.ID{}, fmt.Errorf("JID %s: %w", j, err)
	}
	return id, nil
}
