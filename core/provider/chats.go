package provider

import (
	"context"

	"github.com/wagate/wagate/core/chatid"
)

// Chats is the capability CapChats: what a session does to a chat as a whole, and to a
// message without sending anything: mark it read (the read receipts of WAHA's sendSeen),
// archive, mark unread, pin, delete, and star a message.
//
// Every method is idempotent: archiving an archived chat, pinning a pinned one, marking
// a read chat read do nothing and return nil. A transport that has the interface but not
// one of its operations returns ErrUnsupported from it (the Cloud API only marks read).
type Chats interface {
	// MarkRead marks the chat's messages read: their senders see the read receipt
	// (blue ticks). messageIDs, when not empty, names the messages (transports that
	// need them, like whatsmeow, read only those); empty marks every unread message
	// of the chat the transport knows of. sender is the author of the messages in a
	// group (zero in a user chat).
	MarkRead(ctx context.Context, chat chatid.ID, messageIDs []string, sender chatid.ID) error
	// Archive archives the chat (on) or unarchives it (off).
	Archive(ctx context.Context, chat chatid.ID, on bool) error
	// MarkUnread marks the chat unread, as the phone's "mark as unread" does.
	MarkUnread(ctx context.Context, chat chatid.ID) error
	// Pin pins the chat at the top of the chat list (on) or unpins it (off).
	Pin(ctx context.Context, chat chatid.ID, on bool) error
	// DeleteChat deletes the chat and its messages from the session's devices.
	DeleteChat(ctx context.Context, chat chatid.ID) error
	// Star stars (on) or unstars (off) one message of the chat; fromMe tells whether
	// the session sent it.
	Star(ctx context.Context, chat chatid.ID, messageID string, fromMe, on bool) error
}

// ChatState is what a transport knows of a chat's flags, for the sandbox and the API's
// chat list: archived, pinned, marked unread.
type ChatState struct {
	Archived bool `json:"archived"`
	Pinned   bool `json:"pinned"`
	// MarkedUnread is true after MarkUnread, until the chat is read again.
	MarkedUnread bool `json:"markedUnread"`
}

// ChatStater is optional beside Chats: a transport that can tell a chat's flags (the
// sandbox can; whatsmeow only pushes them as app state).
type ChatStater interface {
	ChatStates(ctx context.Context) (map[chatid.ID]ChatState, error)
}
