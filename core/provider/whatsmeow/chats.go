package whatsmeow

import (
	"container/list"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Chats, through whatsmeow (provider.Chats):
//
//	MarkRead     read receipts (Client.MarkRead), one per author of the messages; with
//	             no ids, the unread messages of the chat the chat book holds
//	Archive      app state "archive" (appstate.BuildArchive); archiving also unpins
//	MarkUnread   app state "markChatAsRead" with read=false (BuildMarkChatAsRead)
//	Pin          app state "pin_v1" (BuildPin)
//	DeleteChat   app state "deleteChat" (BuildDeleteChat), media files kept on the phone
//	Star         app state "star" (BuildStar)
//
// App state patches reach the phone and every linked device; WhatsApp applies them
// whether or not the flag was already set, so each call is idempotent.
//
// # The chat book
//
// whatsmeow keeps no message store, but read receipts need message ids and the archive,
// mark unread and delete patches name the chat's last message (its "message range":
// without it WhatsApp applies the change up to now, which the phone accepts, but may
// then undo it when an older message it had not synced arrives). So the provider keeps
// a chat book, in memory: for the maxBookChats chats most recently active, the last
// maxBookMessages messages seen in each (inbound, sent from the phone, or sent through
// the gateway), with their author and whether a read receipt went out for them.
//
//   - MarkRead without ids sends the receipts of the unread inbound messages the book
//     holds; none known (the gateway restarted, the chat was evicted, every message was
//     read) marks nothing and returns nil. Messages read on the phone itself stay
//     "unread" in the book: their receipt may be sent again, which WhatsApp ignores.
//   - MarkRead with ids sends those, grouped by author: in a group the author comes
//     from the sender argument, else from the book; a group message whose author is
//     known neither way is refused with provider.ErrInvalidRecipient (WhatsApp needs
//     the participant of a group receipt).
//   - After MarkUnread, the next MarkRead also clears the unread mark (app state
//     markChatAsRead read=true), as opening the chat on the phone does.
//   - Star in a group uses the author the book knows; for a message it does not know,
//     the participant "0", as Baileys does (WhatsApp may then not match the message).
//
// A chat is keyed by the chat id the provider reports (a phone number where known), and
// patches and receipts go to the JID WhatsApp used for it in its last message (a LID
// chat stays a LID chat); a chat the book does not know goes to ToJID(chat). The book
// is per session and forgotten at logout.

// Bounds of the chat book.
const (
	// maxBookChats bounds the chats the book holds; the least recently active is
	// forgotten first.
	maxBookChats = 1000
	// maxBookMessages bounds the messages held per chat; the oldest go first.
	maxBookMessages = 100
)

// chatStateClient is the part of *whatsmeow.Client the chat capability uses: read
// receipts and app state patches. A Client that does not implement it (a test fake
// without it) answers provider.ErrUnsupported.
type chatStateClient interface {
	MarkRead(ctx context.Context, ids []types.MessageID, timestamp time.Time, chat, sender types.JID, receiptTypeExtra ...types.ReceiptType) error
	SendAppState(ctx context.Context, patch appstate.PatchInfo) error
}

var _ chatStateClient = (*wm.Client)(nil)

// chatRun returns the running connection, its chat calls and the JID of chat, or the
// error of a chat call. Only user, LID and group chats have read receipts and flags.
func (p *Provider) chatRun(op string, chat chatid.ID) (chatStateClient, types.JID, error) {
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return nil, types.JID{}, p.errorf(op, provider.ErrNotConnected)
	}
	cc, ok := r.client.(chatStateClient)
	if !ok {
		return nil, types.JID{}, p.errorf(op, fmt.Errorf("the client has no chat calls: %w", provider.ErrUnsupported))
	}
	if chat.Server != chatid.User && chat.Server != chatid.LID && chat.Server != chatid.Group {
		return nil, types.JID{}, p.errorf(op, fmt.Errorf("%q is not a user or group chat: %w", chat, provider.ErrInvalidRecipient))
	}
	if j, ok := p.chats.jidOf(chat); ok {
		return cc, j, nil
	}
	j, err := ToJID(chat)
	if err != nil {
		return nil, types.JID{}, p.errorf(op, fmt.Errorf("%w (%w)", provider.ErrInvalidRecipient, err))
	}
	return cc, j, nil
}

// MarkRead implements provider.Chats: read receipts for messageIDs, or for the unread
// messages of the chat the chat book holds when messageIDs is empty (none: nil, nothing
// sent). See the chat book above for groups and the unread mark.
//
// Errors: provider.ErrNotConnected unless connected; provider.ErrInvalidRecipient for a
// chat that is not a user or group, or a group message without known author; ctx's
// error, or whatsmeow's, as the call ends.
func (p *Provider) MarkRead(ctx context.Context, chat chatid.ID, messageIDs []string, sender chatid.ID) error {
	const op = "marking read"
	cc, target, err := p.chatRun(op, chat)
	if err != nil {
		return err
	}
	var author types.JID
	if !sender.IsZero() {
		if author, err = p.userJID(op, sender); err != nil {
			return err
		}
	}
	var batches []readBatch
	if len(messageIDs) == 0 {
		batches = p.chats.unread(chat)
	} else {
		batches = p.chats.batches(chat, messageIDs, author)
	}
	if target.Server != types.GroupServer && len(batches) > 0 {
		// One receipt, without participant: a user chat has one author, whatever JID
		// the book holds them by.
		var all []string
		for _, b := range batches {
			all = append(all, b.ids...)
		}
		batches = []readBatch{{sender: author, ids: all}}
	}
	if target.Server == types.GroupServer {
		for _, b := range batches {
			if b.sender.IsEmpty() {
				return p.errorf(op, fmt.Errorf("the author of %v in group %s is unknown; pass the participant: %w",
					b.ids, chat, provider.ErrInvalidRecipient))
			}
		}
	}
	now := time.Now()
	for _, b := range batches {
		err := boundedDo(ctx, func() error { return cc.MarkRead(ctx, b.ids, now, target, b.sender) })
		if err != nil {
			return p.errorf(fmt.Sprintf("%s in %s", op, chat), err)
		}
		p.chats.markRead(chat, b.ids)
	}
	if p.chats.isMarkedUnread(chat) {
		ts, key := p.chats.lastKey(chat)
		err := boundedDo(ctx, func() error { return cc.SendAppState(ctx, appstate.BuildMarkChatAsRead(target, true, ts, key)) })
		if err != nil {
			return p.errorf(fmt.Sprintf("%s in %s: clearing the unread mark", op, chat), err)
		}
		p.chats.setMarkedUnread(chat, false)
	}
	return nil
}

// Archive implements provider.Chats: the app state archive patch (archiving unpins).
func (p *Provider) Archive(ctx context.Context, chat chatid.ID, on bool) error {
	return p.patchChat(ctx, "archiving", chat, func(target types.JID, ts time.Time, key *waCommon.MessageKey) appstate.PatchInfo {
		return appstate.BuildArchive(target, on, ts, key)
	})
}

// MarkUnread implements provider.Chats: the app state markChatAsRead patch, read=false.
func (p *Provider) MarkUnread(ctx context.Context, chat chatid.ID) error {
	err := p.patchChat(ctx, "marking unread", chat, func(target types.JID, ts time.Time, key *waCommon.MessageKey) appstate.PatchInfo {
		return appstate.BuildMarkChatAsRead(target, false, ts, key)
	})
	if err == nil {
		p.chats.setMarkedUnread(chat, true)
	}
	return err
}

// Pin implements provider.Chats: the app state pin patch. WhatsApp pins three chats at
// most; a fourth is refused by the phone, not by the server, so the call succeeds.
func (p *Provider) Pin(ctx context.Context, chat chatid.ID, on bool) error {
	return p.patchChat(ctx, "pinning", chat, func(target types.JID, _ time.Time, _ *waCommon.MessageKey) appstate.PatchInfo {
		return appstate.BuildPin(target, on)
	})
}

// DeleteChat implements provider.Chats: the app state deleteChat patch, up to the
// chat's last known message; media files already saved on the phone are kept (the
// phone's own default). The chat book forgets the chat.
func (p *Provider) DeleteChat(ctx context.Context, chat chatid.ID) error {
	err := p.patchChat(ctx, "deleting the chat", chat, func(target types.JID, ts time.Time, key *waCommon.MessageKey) appstate.PatchInfo {
		return appstate.BuildDeleteChat(target, ts, key, false)
	})
	if err == nil {
		p.chats.forget(chat)
	}
	return err
}

// Star implements provider.Chats: the app state star patch. An empty message id is
// refused with provider.ErrNotFound, as the sandbox does.
func (p *Provider) Star(ctx context.Context, chat chatid.ID, messageID string, fromMe, on bool) error {
	const op = "starring"
	cc, target, err := p.chatRun(op, chat)
	if err != nil {
		return err
	}
	if messageID == "" {
		return p.errorf(op, fmt.Errorf("empty message id: %w", provider.ErrNotFound))
	}
	// BuildStar writes the participant "0" when sender is the chat itself: a user chat,
	// an own message, or a group message whose author the book does not know.
	sender := target
	if target.Server == types.GroupServer && !fromMe {
		if m, ok := p.chats.message(chat, messageID); ok && !m.sender.IsEmpty() {
			sender = m.sender
		}
	}
	patch := appstate.BuildStar(target, sender, messageID, fromMe, on)
	if err := boundedDo(ctx, func() error { return cc.SendAppState(ctx, patch) }); err != nil {
		return p.errorf(fmt.Sprintf("%s %s in %s", op, messageID, chat), err)
	}
	return nil
}

// patchChat sends the app state patch that build makes for chat and its last known
// message (zero and nil when the book has none).
func (p *Provider) patchChat(ctx context.Context, op string, chat chatid.ID,
	build func(target types.JID, ts time.Time, key *waCommon.MessageKey) appstate.PatchInfo) error {
	cc, target, err := p.chatRun(op, chat)
	if err != nil {
		return err
	}
	ts, key := p.chats.lastKey(chat)
	patch := build(target, ts, key)
	if err := boundedDo(ctx, func() error { return cc.SendAppState(ctx, patch) }); err != nil {
		return p.errorf(fmt.Sprintf("%s %s", op, chat), err)
	}
	return nil
}

// inChatList reports whether messages of kind k are messages of the chat, as the chat
// book records them: reactions, edits, revokes and poll votes change other messages.
func inChatList(k provider.Kind) bool {
	switch k {
	case provider.KindReaction, provider.KindEdit, provider.KindRevoke, provider.KindPollVote:
		return false
	}
	return true
}

// noteInbound records a message reported by the event goroutine in the chat book.
func (r *run) noteInbound(info types.MessageInfo, in provider.Inbound) {
	if !inChatList(in.Kind) {
		return
	}
	sender := info.Sender.ToNonAD()
	r.p.chats.add(in.ChatID, info.Chat.ToNonAD(), bookMessage{id: in.ProviderID, sender: sender,
		fromMe: in.FromMe, at: in.Timestamp, read: in.FromMe})
}

// noteSent records a message sent through the gateway in the chat book.
func (r *run) noteSent(chat chatid.ID, to types.JID, kind provider.Kind, id string, at time.Time) {
	if !inChatList(kind) {
		return
	}
	r.p.mu.Lock()
	me := r.me
	r.p.mu.Unlock()
	r.p.chats.add(chat, to, bookMessage{id: id, sender: me, fromMe: true, at: at, read: true})
}

// chatBook is the provider's record of recent messages per chat (see above). The zero
// value is ready; its lock is a leaf.
type chatBook struct {
	mu     sync.Mutex
	byChat map[chatid.ID]*list.Element // of *chatRecord
	order  list.List                   // most recently active first
}

type chatRecord struct {
	id chatid.ID
	// jid is the chat as WhatsApp named it in its last message.
	jid types.JID
	// messages are the last maxBookMessages messages, oldest first.
	messages []bookMessage
	// markedUnread is set by MarkUnread, cleared by MarkRead.
	markedUnread bool
}

type bookMessage struct {
	id string
	// sender is the author (non-AD) as WhatsApp named them; the session for its own.
	sender types.JID
	fromMe bool
	at     time.Time
	// read is true once a read receipt went out (always for the session's own).
	read bool
}

// readBatch is one read receipt: messages of one author.
type readBatch struct {
	sender types.JID
	ids    []string
}

// record returns chat's record, creating it (and evicting the oldest) when create is
// set. Called with the lock held.
func (b *chatBook) recordLocked(chat chatid.ID, create bool) *chatRecord {
	if el, ok := b.byChat[chat]; ok {
		return el.Value.(*chatRecord)
	}
	if !create {
		return nil
	}
	if b.byChat == nil {
		b.byChat = make(map[chatid.ID]*list.Element)
	}
	rec := &chatRecord{id: chat}
	b.byChat[chat] = b.order.PushFront(rec)
	for b.order.Len() > maxBookChats {
		oldest := b.order.Back()
		b.order.Remove(oldest)
		delete(b.byChat, oldest.Value.(*chatRecord).id)
	}
	return rec
}

// add records message m of chat (named jid by WhatsApp), the chat becoming the most
// recently active. A message seen again (a redelivery) is not added twice.
func (b *chatBook) add(chat chatid.ID, jid types.JID, m bookMessage) {
	if chat.IsZero() || m.id == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, true)
	b.order.MoveToFront(b.byChat[chat])
	if !jid.IsEmpty() {
		rec.jid = jid
	}
	if slices.ContainsFunc(rec.messages, func(x bookMessage) bool { return x.id == m.id }) {
		return
	}
	if len(rec.messages) >= maxBookMessages {
		rec.messages = slices.Delete(rec.messages, 0, len(rec.messages)-maxBookMessages+1)
	}
	rec.messages = append(rec.messages, m)
}

// jidOf returns the JID WhatsApp last used for chat.
func (b *chatBook) jidOf(chat chatid.ID) (types.JID, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, false)
	if rec == nil || rec.jid.IsEmpty() {
		return types.JID{}, false
	}
	return rec.jid, true
}

// message returns message id of chat.
func (b *chatBook) message(chat chatid.ID, id string) (bookMessage, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, false)
	if rec == nil {
		return bookMessage{}, false
	}
	i := slices.IndexFunc(rec.messages, func(x bookMessage) bool { return x.id == id })
	if i < 0 {
		return bookMessage{}, false
	}
	return rec.messages[i], true
}

// unread returns the unread inbound messages of chat, one batch per author, in the
// order their first message arrived.
func (b *chatBook) unread(chat chatid.ID) []readBatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, false)
	if rec == nil {
		return nil
	}
	var out []readBatch
	for _, m := range rec.messages {
		if !m.read && !m.fromMe {
			out = addToBatch(out, m.sender, m.id)
		}
	}
	return out
}

// batches groups ids (empty and repeated ones dropped) by author: sender when not
// empty, else the author the book knows, else the empty JID.
func (b *chatBook) batches(chat chatid.ID, ids []string, sender types.JID) []readBatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, false)
	var out []readBatch
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup || id == "" {
			continue
		}
		seen[id] = struct{}{}
		author := sender
		if author.IsEmpty() && rec != nil {
			if i := slices.IndexFunc(rec.messages, func(x bookMessage) bool { return x.id == id }); i >= 0 && !rec.messages[i].fromMe {
				author = rec.messages[i].sender
			}
		}
		out = addToBatch(out, author, id)
	}
	return out
}

func addToBatch(bs []readBatch, sender types.JID, id string) []readBatch {
	for i := range bs {
		if bs[i].sender == sender {
			bs[i].ids = append(bs[i].ids, id)
			return bs
		}
	}
	return append(bs, readBatch{sender: sender, ids: []string{id}})
}

// markRead records that the receipts of ids went out.
func (b *chatBook) markRead(chat chatid.ID, ids []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, false)
	if rec == nil {
		return
	}
	for i := range rec.messages {
		if slices.Contains(ids, rec.messages[i].id) {
			rec.messages[i].read = true
		}
	}
}

// lastKey returns the timestamp and key of chat's last message, for the message range
// of a patch: zero and nil when the book has none.
func (b *chatBook) lastKey(chat chatid.ID) (time.Time, *waCommon.MessageKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, false)
	if rec == nil || len(rec.messages) == 0 || rec.jid.IsEmpty() {
		return time.Time{}, nil
	}
	m := rec.messages[len(rec.messages)-1]
	key := &waCommon.MessageKey{RemoteJID: proto.String(rec.jid.String()), FromMe: proto.Bool(m.fromMe), ID: proto.String(m.id)}
	if rec.jid.Server == types.GroupServer && !m.fromMe && !m.sender.IsEmpty() {
		key.Participant = proto.String(m.sender.String())
	}
	return m.at, key
}

func (b *chatBook) isMarkedUnread(chat chatid.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec := b.recordLocked(chat, false)
	return rec != nil && rec.markedUnread
}

func (b *chatBook) setMarkedUnread(chat chatid.ID, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rec := b.recordLocked(chat, on); rec != nil {
		rec.markedUnread = on
	}
}

// forget drops chat (deleted).
func (b *chatBook) forget(chat chatid.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byChat[chat]; ok {
		b.order.Remove(el)
		delete(b.byChat, chat)
	}
}

// clear forgets every chat (the session logged out or was closed).
func (b *chatBook) clear() {
	b.mu.Lock()
	b.byChat = nil
	b.order.Init()
	b.mu.Unlock()
}

var _ provider.Chats = (*Provider)(nil)
