package sandbox

import (
	"context"
	"fmt"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Presence between sandbox numbers (provider.Presencer):
//
//   - A number is offline until its session sets itself online. Going offline records
//     its last seen time (Unix seconds of the network's clock).
//   - Own presence (online, offline) reaches, as presence.update, every running number
//     that subscribed to it (SubscribePresence), unless the number blocked it.
//     Subscribing answers at once with the contact's current presence, as WhatsApp
//     does.
//   - A chat state (typing, recording, paused) in a user chat reaches the other number
//     of the chat, subscribed or not (it shares the chat), unless it blocked the
//     session. In a group it reaches the other members, as the group's presence.update
//     with the session as participant; a group the session is not in is ErrNotFound.
//
// Subscriptions last until the gateway restarts (WhatsApp's last until the connection
// ends; the sandbox's connection does not end while linked).

// maxSandboxSubscriptions bounds the contacts one number subscribes to; more are refused.
const maxSandboxSubscriptions = 10_000

// presenceBook is the presence part of the chat book, under its lock.
type presenceBook struct {
	// online holds the numbers that set themselves online.
	online map[string]bool
	// lastSeen is, per number, when it last went offline (Unix seconds).
	lastSeen map[string]int64
	// subscribers holds, per number, the numbers subscribed to its presence.
	subscribers map[string]map[string]struct{}
	// subscribed counts, per number, the contacts it subscribed to.
	subscribed map[string]int
}

// presenceOfLocked returns number phone's presence as one participant.
func (b *chatBook) presenceOfLocked(phone string) provider.ParticipantPresence {
	p := provider.ParticipantPresence{Participant: chatid.ID{Local: phone, Server: chatid.User}, LastKnownPresence: provider.PresenceOffline}
	if b.presence.online[phone] {
		p.LastKnownPresence = provider.PresenceOnline
	}
	if ts, ok := b.presence.lastSeen[phone]; ok {
		p.LastSeen = &ts
	}
	return p
}

// SetPresence implements provider.Presencer.
func (s *session) SetPresence(ctx context.Context, presence provider.Presence) error {
	me, err := s.self("setting presence")
	if err != nil {
		return err
	}
	if presence != provider.PresenceOnline && presence != provider.PresenceOffline {
		return s.errorf("setting presence", fmt.Errorf("presence %q is not online or offline: %w", presence, provider.ErrUnsupported))
	}
	b := &s.net.chats
	b.mu.Lock()
	pb := &b.presence
	if pb.online == nil {
		pb.online, pb.lastSeen = map[string]bool{}, map[string]int64{}
	}
	was := pb.online[me]
	if presence == provider.PresenceOnline {
		pb.online[me] = true
	} else {
		delete(pb.online, me)
		if was || pb.lastSeen[me] == 0 {
			pb.lastSeen[me] = s.net.clock.Now().Unix()
		}
	}
	p := b.presenceOfLocked(me)
	var to []string
	for c := range pb.subscribers[me] {
		to = append(to, c)
	}
	b.mu.Unlock()
	ev := provider.PresenceUpdate{ID: p.Participant, Presences: []provider.ParticipantPresence{p}}
	for _, c := range to {
		s.net.tell(me, c, ev)
	}
	return nil
}

// SetChatState implements provider.Presencer.
func (s *session) SetChatState(ctx context.Context, chat chatid.ID, state provider.Presence) error {
	me, err := s.chatOp("setting the chat state", chat)
	if err != nil {
		return err
	}
	if !state.IsChatState() {
		return s.errorf("setting the chat state", fmt.Errorf("%q is not typing, recording or paused: %w", state, provider.ErrUnsupported))
	}
	self := chatid.ID{Local: me, Server: chatid.User}
	who := []provider.ParticipantPresence{{Participant: self, LastKnownPresence: state}}
	switch chat.Server {
	case chatid.User:
		s.net.tell(me, chat.Local, provider.PresenceUpdate{ID: self, Presences: who})
	case chatid.Group:
		// The other members see the group's chat state, with the session as participant.
		b := &s.net.groups
		b.mu.Lock()
		g, _, err := b.memberLocked(me, chat)
		var members []string
		if err == nil {
			for phone := range g.members {
				members = append(members, phone)
			}
		}
		b.mu.Unlock()
		if err != nil {
			return s.errorf("setting the chat state", err)
		}
		for _, phone := range members {
			s.net.tell(me, phone, provider.PresenceUpdate{ID: chat, Presences: who})
		}
	}
	return nil
}

// SubscribePresence implements provider.Presencer.
func (s *session) SubscribePresence(ctx context.Context, contact chatid.ID) error {
	me, err := s.self("subscribing to presence")
	if err != nil {
		return err
	}
	phone, err := s.contactPhone("subscribing to presence", me, contact)
	if err != nil {
		return err
	}
	b := &s.net.chats
	b.mu.Lock()
	pb := &b.presence
	if pb.subscribers == nil {
		pb.subscribers, pb.subscribed = map[string]map[string]struct{}{}, map[string]int{}
	}
	subs := pb.subscribers[phone]
	if subs == nil {
		subs = map[string]struct{}{}
		pb.subscribers[phone] = subs
	}
	if _, ok := subs[me]; !ok {
		if pb.subscribed[me] >= maxSandboxSubscriptions {
			b.mu.Unlock()
			return s.errorf("subscribing to presence", fmt.Errorf("more than %d subscriptions: %w", maxSandboxSubscriptions, provider.ErrNotAllowed))
		}
		subs[me] = struct{}{}
		pb.subscribed[me]++
	}
	p := b.presenceOfLocked(phone)
	b.mu.Unlock()
	s.net.tell(phone, me, provider.PresenceUpdate{ID: p.Participant, Presences: []provider.ParticipantPresence{p}})
	return nil
}

// tell reports ev to number to's running session, unless to blocked from.
func (n *Network) tell(from, to string, ev provider.Event) {
	if from == to {
		return
	}
	b := &n.contacts
	b.mu.Lock()
	blocked := b.blocksLocked(to, from)
	b.mu.Unlock()
	if blocked {
		return
	}
	if s := n.byPhone(to); s != nil {
		s.report(ev)
	}
}

var _ provider.Presencer = (*session)(nil)
