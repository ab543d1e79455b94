package sandbox

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Chats between sandbox numbers (provider.Chats):
//
//   - Read receipts: a message from A that reached B's running session waits, unread,
//     until B marks the chat with A read (POST /api/sendSeen): A then gets the read ack
//     of each, at once. The read_delay timer still applies as well (it simulates a
//     recipient who reads on their own; set it to 0 to leave reading to sendSeen).
//   - Archive, pin and mark unread are flags of B's chat, per chat, shown by
//     ChatStates (the API's chat list). Marking a chat read clears "unread"; deleting
//     it clears every flag and forgets its unread messages.
//   - Starring checks nothing but the chat id: the sandbox keeps no message store.
//
// Like contacts, this state lives in memory and bounds itself per number.

// Bounds of the chat state, per number.
const (
	// maxSandboxUnread bounds the unread message ids kept per chat; past it the
	// oldest are dropped (they are never read).
	maxSandboxUnread = 1000
	// maxSandboxChats bounds the chats with state per number; past it the state
	// starts over, as the contact set does.
	maxSandboxChats = 10_000
)

// chatBook is the chat and presence state of a Network. Its lock is a leaf, like the
// contact book's: taken with no other lock held, or a session's only.
type chatBook struct {
	mu sync.Mutex
	// unread holds, per reader, per sender number, the ids of the messages the sender
	// sent the reader that the reader has not read, oldest first.
	unread map[string]map[string][]string
	// flags holds, per number, the flags of its chats.
	flags map[string]map[chatid.ID]provider.ChatState
	// presence is the presence side (presence.go).
	presence presenceBook
}

// delivered records that sender's message id reached reader, unread.
func (b *chatBook) delivered(reader, sender, id string) {
	if reader == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unread == nil {
		b.unread = map[string]map[string][]string{}
	}
	m := b.unread[reader]
	if m == nil || len(m) >= maxSandboxChats {
		m = map[string][]string{}
		b.unread[reader] = m
	}
	ids := m[sender]
	if len(ids) >= maxSandboxUnread {
		ids = slices.Delete(ids, 0, 1)
	}
	m[sender] = append(ids, id)
}

// takeUnread removes and returns reader's unread messages from sender: those named by
// ids, or all of them when ids is empty.
func (b *chatBook) takeUnread(reader, sender string, ids []string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	pending := b.unread[reader][sender]
	if len(ids) == 0 {
		delete(b.unread[reader], sender)
		return pending
	}
	var read, keep []string
	for _, id := range pending {
		if slices.Contains(ids, id) {
			read = append(read, id)
		} else {
			keep = append(keep, id)
		}
	}
	if len(keep) == 0 {
		delete(b.unread[reader], sender)
	} else {
		b.unread[reader][sender] = keep
	}
	return read
}

// setFlags changes number me's flags of chat.
func (b *chatBook) setFlags(me string, chat chatid.ID, change func(*provider.ChatState)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flags == nil {
		b.flags = map[string]map[chatid.ID]provider.ChatState{}
	}
	m := b.flags[me]
	if m == nil || len(m) >= maxSandboxChats {
		m = map[chatid.ID]provider.ChatState{}
		b.flags[me] = m
	}
	st := m[chat]
	change(&st)
	if st == (provider.ChatState{}) {
		delete(m, chat)
		return
	}
	m[chat] = st
}

// chatOp checks a chat operation: the session is WORKING and chat is not zero.
func (s *session) chatOp(op string, chat chatid.ID) (string, error) {
	me, err := s.self(op)
	if err != nil {
		return "", err
	}
	if chat.IsZero() {
		return "", s.errorf(op, fmt.Errorf("empty chat id: %w", provider.ErrInvalidRecipient))
	}
	return me, nil
}

// MarkRead implements provider.Chats: in a user chat with another sandbox number, that
// number gets the read ack of each message it sent the session that is still unread
// (those of messageIDs, or all). sender is ignored: groups carry no receipts here.
func (s *session) MarkRead(ctx context.Context, chat chatid.ID, messageIDs []string, sender chatid.ID) error {
	me, err := s.chatOp("marking read", chat)
	if err != nil {
		return err
	}
	s.net.chats.setFlags(me, chat, func(st *provider.ChatState) { st.MarkedUnread = false })
	if chat.Server != chatid.User {
		return nil
	}
	ids := s.net.chats.takeUnread(me, chat.Local, messageIDs)
	if len(ids) == 0 {
		return nil
	}
	author := s.net.byPhone(chat.Local)
	if author == nil {
		return nil
	}
	reader := chatid.ID{Local: me, Server: chatid.User}
	for _, id := range ids {
		author.report(provider.AckEvent{ProviderID: id, ChatID: reader, Ack: provider.AckRead})
	}
	return nil
}

// Archive implements provider.Chats.
func (s *session) Archive(ctx context.Context, chat chatid.ID, on bool) error {
	me, err := s.chatOp("archiving", chat)
	if err != nil {
		return err
	}
	s.net.chats.setFlags(me, chat, func(st *provider.ChatState) { st.Archived = on })
	return nil
}

// MarkUnread implements provider.Chats.
func (s *session) MarkUnread(ctx context.Context, chat chatid.ID) error {
	me, err := s.chatOp("marking unread", chat)
	if err != nil {
		return err
	}
	s.net.chats.setFlags(me, chat, func(st *provider.ChatState) { st.MarkedUnread = true })
	return nil
}

// Pin implements provider.Chats.
func (s *session) Pin(ctx context.Context, chat chatid.ID, on bool) error {
	me, err := s.chatOp("pinning", chat)
	if err != nil {
		return err
	}
	s.net.chats.setFlags(me, chat, func(st *provider.ChatState) { st.Pinned = on })
	return nil
}

// DeleteChat implements provider.Chats: the chat's flags and unread messages are
// forgotten (their authors never get a read ack for them).
func (s *session) DeleteChat(ctx context.Context, chat chatid.ID) error {
	me, err := s.chatOp("deleting the chat", chat)
	if err != nil {
		return err
	}
	s.net.chats.setFlags(me, chat, func(st *provider.ChatState) { *st = provider.ChatState{} })
	if chat.Server == chatid.User {
		s.net.chats.takeUnread(me, chat.Local, nil)
	}
	return nil
}

// Star implements provider.Chats; the sandbox keeps no messages, so it checks the chat
// and the id's presence only.
func (s *session) Star(ctx context.Context, chat chatid.ID, messageID string, fromMe, on bool) error {
	if _, err := s.chatOp("starring", chat); err != nil {
		return err
	}
	if messageID == "" {
		return s.errorf("starring", fmt.Errorf("empty message id: %w", provider.ErrNotFound))
	}
	return nil
}

// ChatStates implements provider.ChatStater.
func (s *session) ChatStates(ctx context.Context) (map[chatid.ID]provider.ChatState, error) {
	me, err := s.self("listing chat states")
	if err != nil {
		return nil, err
	}
	b := &s.net.chats
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[chatid.ID]provider.ChatState, len(b.flags[me]))
	for k, v := range b.flags[me] {
		out[k] = v
	}
	return out, nil
}

// report emits an event the network sends the session (an ack, a presence update) if
// it is WORKING.
func (s *session) report(ev provider.Event) {
	s.mu.Lock()
	if !s.retired && s.state == stateWorking && s.run != nil {
		s.emitLocked(ev)
	}
	s.mu.Unlock()
	s.events.drain()
}

var (
	_ provider.Chats      = (*session)(nil)
	_ provider.ChatStater = (*session)(nil)
)
