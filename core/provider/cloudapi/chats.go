package cloudapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Chats and presence on the Cloud API (provider.Chats, provider.Presencer).
//
// Meta's API has one chat operation, the read receipt (POST /<phone number id>/messages
// {"messaging_product":"whatsapp","status":"read","message_id":<wamid>}), and one
// presence, the typing indicator, which rides on a read receipt
// ("typing_indicator":{"type":"text"}). So:
//
//	MarkRead           one read receipt per id given; with no ids, one for the chat's
//	                   last inbound message (WhatsApp then marks the earlier ones read
//	                   too) if the webhook delivered one since the gateway started and
//	                   it was not marked read yet; else nothing is sent and nil returned
//	SetChatState       typing: the read receipt of the chat's last inbound message with
//	                   the typing indicator (shown up to 25 seconds, or until the reply);
//	                   no inbound message known: ErrUnsupported. paused: nothing to send
//	                   (Meta has no "stop typing"; the reply or the 25 seconds end it),
//	                   nil. recording: ErrUnsupported (Meta shows only text typing)
//	Archive, MarkUnread, Pin, DeleteChat, Star, SetPresence, SubscribePresence
//	                   ErrUnsupported: a business number has no chat list to keep and
//	                   no presence to share (the API answers 501)
//
// Only user chats (@c.us) exist on the Cloud API; other chat ids are refused with
// provider.ErrUnsupported, as sends to them are. The last inbound message of each chat
// is kept in memory (maxKnownChats chats per session, the least recently active
// forgotten first), from the webhook deliveries HandleWebhook handles.

// maxKnownChats bounds the chats whose last inbound message a session remembers.
const maxKnownChats = 10_000

// MarkRead implements provider.Chats (see above); sender is ignored (no groups).
//
// Errors: provider.ErrNotConnected (wrapped) unless WORKING; provider.ErrUnsupported
// for a chat that is not a user; *provider.SendError from Meta's answer, as for Send.
func (s *Provider) MarkRead(ctx context.Context, chat chatid.ID, messageIDs []string, sender chatid.ID) error {
	if err := s.chatOp("marking read", chat); err != nil {
		return err
	}
	if len(messageIDs) == 0 {
		id, ok := s.lastIn.unread(chat)
		if !ok {
			return nil
		}
		messageIDs = []string{id}
	}
	done := make(map[string]bool, len(messageIDs))
	for _, id := range messageIDs {
		if id == "" || done[id] {
			continue
		}
		if err := s.readReceipt(ctx, id, false); err != nil {
			return s.errorf(fmt.Sprintf("marking %s read in %s", id, chat), err)
		}
		done[id] = true
		s.lastIn.read(chat, id)
	}
	return nil
}

// Archive implements provider.Chats: unsupported on the Cloud API.
func (s *Provider) Archive(ctx context.Context, chat chatid.ID, on bool) error {
	return s.unsupported("archiving chats")
}

// MarkUnread implements provider.Chats: unsupported on the Cloud API.
func (s *Provider) MarkUnread(ctx context.Context, chat chatid.ID) error {
	return s.unsupported("marking chats unread")
}

// Pin implements provider.Chats: unsupported on the Cloud API.
func (s *Provider) Pin(ctx context.Context, chat chatid.ID, on bool) error {
	return s.unsupported("pinning chats")
}

// DeleteChat implements provider.Chats: unsupported on the Cloud API.
func (s *Provider) DeleteChat(ctx context.Context, chat chatid.ID) error {
	return s.unsupported("deleting chats")
}

// Star implements provider.Chats: unsupported on the Cloud API.
func (s *Provider) Star(ctx context.Context, chat chatid.ID, messageID string, fromMe, on bool) error {
	return s.unsupported("starring messages")
}

// SetPresence implements provider.Presencer: unsupported on the Cloud API.
func (s *Provider) SetPresence(ctx context.Context, presence provider.Presence) error {
	return s.unsupported("setting the number's presence")
}

// SubscribePresence implements provider.Presencer: unsupported on the Cloud API.
func (s *Provider) SubscribePresence(ctx context.Context, contact chatid.ID) error {
	return s.unsupported("subscribing to presences")
}

// SetChatState implements provider.Presencer: typing through the typing indicator of
// the chat's last inbound message, paused as nothing to send (see above).
//
// Errors: provider.ErrNotConnected (wrapped) unless WORKING; provider.ErrUnsupported
// for recording, a chat that is not a user, or a chat without known inbound message;
// *provider.SendError from Meta's answer, as for Send.
func (s *Provider) SetChatState(ctx context.Context, chat chatid.ID, state provider.Presence) error {
	const op = "setting the chat state"
	if err := s.chatOp(op, chat); err != nil {
		return err
	}
	switch state {
	case provider.PresencePaused:
		return nil
	case provider.PresenceTyping:
	default:
		return s.errorf(op, fmt.Errorf("%q: the Cloud API shows only typing: %w", state, provider.ErrUnsupported))
	}
	id, ok := s.lastIn.last(chat)
	if !ok {
		return s.errorf(op, fmt.Errorf("no inbound message of %s known to show typing on (the typing indicator answers one): %w",
			chat, provider.ErrUnsupported))
	}
	if err := s.readReceipt(ctx, id, true); err != nil {
		return s.errorf(fmt.Sprintf("showing typing in %s", chat), err)
	}
	s.lastIn.read(chat, id)
	return nil
}

// chatOp checks a chat call: the session sends, and chat is a user.
func (s *Provider) chatOp(op string, chat chatid.ID) error {
	if err := s.sendable(); err != nil {
		return err
	}
	if chat.Server != chatid.User {
		return s.errorf(op, fmt.Errorf("%q: the Cloud API has only user chats: %w", chat, provider.ErrUnsupported))
	}
	return nil
}

func (s *Provider) unsupported(what string) error {
	return s.errorf(what, fmt.Errorf("the Cloud API has no %s: %w", what, provider.ErrUnsupported))
}

// lastInbound remembers, per chat, the last inbound message a webhook delivered and
// whether it was marked read since. The zero value is ready; its lock is a leaf.
type lastInbound struct {
	mu    sync.Mutex
	chats map[chatid.ID]*inboundRef
	// tick orders the chats by activity, for eviction.
	tick uint64
}

type inboundRef struct {
	id   string
	at   time.Time
	read bool
	tick uint64
}

// saw records message id, sent at, as chat's last inbound message, unless a later one
// is known (Meta may deliver webhooks out of order).
func (x *lastInbound) saw(chat chatid.ID, id string, at time.Time) {
	if chat.IsZero() || id == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.chats == nil {
		x.chats = make(map[chatid.ID]*inboundRef)
	}
	x.tick++
	if ref, ok := x.chats[chat]; ok {
		if ref.id != id && !at.Before(ref.at) {
			*ref = inboundRef{id: id, at: at, tick: x.tick}
		}
		return
	}
	if len(x.chats) >= maxKnownChats {
		// Evict the least recently active chat. The scan runs only once the map is
		// full, but then for every new chat: O(maxKnownChats), well under a
		// millisecond, beside a webhook delivery's own cost.
		var oldest chatid.ID
		min := x.tick
		for c, ref := range x.chats {
			if ref.tick < min {
				oldest, min = c, ref.tick
			}
		}
		delete(x.chats, oldest)
	}
	x.chats[chat] = &inboundRef{id: id, at: at, tick: x.tick}
}

// last returns chat's last inbound message id.
func (x *lastInbound) last(chat chatid.ID) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ref, ok := x.chats[chat]
	if !ok {
		return "", false
	}
	return ref.id, true
}

// unread returns chat's last inbound message id unless it was marked read.
func (x *lastInbound) unread(chat chatid.ID) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ref, ok := x.chats[chat]
	if !ok || ref.read {
		return "", false
	}
	return ref.id, true
}

// read records that message id of chat was marked read, if it is the last one.
func (x *lastInbound) read(chat chatid.ID, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ref, ok := x.chats[chat]; ok && ref.id == id {
		ref.read = true
	}
}

var (
	_ provider.Chats     = (*Provider)(nil)
	_ provider.Presencer = (*Provider)(nil)
)
