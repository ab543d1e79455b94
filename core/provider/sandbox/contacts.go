package sandbox

import (
	"context"
	"fmt"
	"sync"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// The contact side of the simulated network: who talked with whom, who blocked whom,
// and every number's profile (profile.go) and LID (lids.go).
//
//   - A session's contacts are the sandbox numbers it exchanged messages with: a send
//     from one running sandbox number to another makes each a contact of the other.
//     Their pushname is the other number's current profile name, so a rename shows at
//     once in every contact list that holds the number.
//   - check-exists answers true for a number linked to a running sandbox session (of
//     any tenant: the network is one WhatsApp), false for every other number. A number
//     whose session is stopped is not reachable, so it is not on the network.
//   - When B blocks A, A's messages to B are accepted (A gets the "sent" ack) but never
//     delivered: B reports nothing and A never gets "delivered" or "read", as WhatsApp
//     does. Simulated inbound messages (POST /api/sandbox/{session}/inbound) from a
//     blocked number are dropped alike. A no longer sees B's about and picture, nor
//     hears of B's profile changes. Unblocking restores all of it (messages sent
//     meanwhile stay undelivered).
//
// This state lives in memory: a restart of the gateway forgets contacts, blocks and
// profile changes (links survive, they are in the store).

// Bounds of the contact state, per number.
const (
	// maxSandboxContacts bounds the contacts one number remembers; past it the set
	// starts over, as the wrote set does.
	maxSandboxContacts = 10_000
	// maxSandboxBlocked bounds one number's block list; blocking more is refused.
	maxSandboxBlocked = 10_000
)

// contactBook is the contact state of a Network. Its lock is a leaf: it is taken with a
// session's lock held (never the other way round) and never with the network's lock.
type contactBook struct {
	mu sync.Mutex
	// met holds, per number, the numbers it exchanged messages with (symmetric).
	met map[string]map[string]struct{}
	// blocked holds, per number, the numbers it blocked.
	blocked map[string]map[string]struct{}
	// profiles holds the profiles changed from their defaults, by number.
	profiles map[string]sandboxProfile
}

// exchange records that from sent to chat and reports whether chat's number blocked
// from, in which case the message is never delivered. It is the one hook of Send,
// called with the sender's lock held, before the acks are scheduled. Only sends
// between running sandbox numbers make contacts.
func (n *Network) exchange(from string, chat chatid.ID) (blocked bool) {
	if chat.Server != chatid.User || from == "" || chat.Local == from {
		return false
	}
	running := n.byPhone(chat.Local) != nil
	b := &n.contacts
	b.mu.Lock()
	defer b.mu.Unlock()
	if running {
		b.meetLocked(from, chat.Local)
		b.meetLocked(chat.Local, from)
	}
	return b.blocksLocked(chat.Local, from)
}

// blockedSender reports whether the session's number blocked from: a simulated
// inbound message from it is dropped.
func (s *session) blockedSender(from chatid.ID) bool {
	s.mu.Lock()
	me := s.phone
	s.mu.Unlock()
	b := &s.net.contacts
	b.mu.Lock()
	defer b.mu.Unlock()
	return me != "" && from.Server == chatid.User && b.blocksLocked(me, from.Local)
}

func (b *contactBook) meetLocked(a, c string) {
	if b.met == nil {
		b.met = map[string]map[string]struct{}{}
	}
	set := b.met[a]
	if set == nil || len(set) >= maxSandboxContacts {
		set = map[string]struct{}{}
		b.met[a] = set
	}
	set[c] = struct{}{}
}

// blocksLocked reports whether number a blocked number c.
func (b *contactBook) blocksLocked(a, c string) bool {
	_, ok := b.blocked[a][c]
	return ok
}

// contactsOf returns the numbers phone exchanged messages with.
func (b *contactBook) contactsOf(phone string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.met[phone]))
	for c := range b.met[phone] {
		out = append(out, c)
	}
	return out
}

// self returns the session's number while it is WORKING, else the error of a
// capability call.
func (s *session) self(op string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired || s.state != stateWorking || s.run == nil || s.phone == "" {
		return "", s.errorf(op, provider.ErrNotConnected)
	}
	return s.phone, nil
}

// contactPhone returns the phone number of a user chat id: a @c.us id's digits, or the
// number of a LID the session knows (lids.go). Groups, channels and broadcasts are not
// contacts.
func (s *session) contactPhone(op, me string, id chatid.ID) (string, error) {
	switch id.Server {
	case chatid.User:
		return id.Local, nil
	case chatid.LID:
		if pn := s.net.phoneOfLID(me, id.Local); pn != "" {
			return pn, nil
		}
		return "", s.errorf(op, fmt.Errorf("LID %s: %w", id, provider.ErrNotFound))
	}
	return "", s.errorf(op, fmt.Errorf("%s is not a user: %w", id, provider.ErrInvalidRecipient))
}

// contactInfo is what number me knows of number phone.
func (n *Network) contactInfo(me, phone string) provider.ContactInfo {
	exists := n.byPhone(phone) != nil
	b := &n.contacts
	b.mu.Lock()
	_, met := b.met[me][phone]
	blocked := b.blocksLocked(me, phone)
	name := b.profileLocked(phone).name
	b.mu.Unlock()
	c := provider.ContactInfo{
		ID:     chatid.ID{Local: phone, Server: chatid.User},
		Number: phone, IsMe: phone == me, IsUser: true,
		IsWAContact: exists || met || phone == me, IsBlocked: blocked,
	}
	if c.IsWAContact {
		c.Pushname = name
	}
	return c
}

// ListContacts implements provider.Contacts: the numbers the session exchanged
// messages with.
func (s *session) ListContacts(ctx context.Context) ([]provider.ContactInfo, error) {
	me, err := s.self("listing contacts")
	if err != nil {
		return nil, err
	}
	phones := s.net.contacts.contactsOf(me)
	out := make([]provider.ContactInfo, 0, len(phones))
	for _, p := range phones {
		out = append(out, s.net.contactInfo(me, p))
	}
	return out, nil
}

// GetContact implements provider.Contacts. Any user answers; one that is neither on
// the network nor a contact has IsWAContact false and no pushname.
func (s *session) GetContact(ctx context.Context, id chatid.ID) (provider.ContactInfo, error) {
	me, err := s.self("getting a contact")
	if err != nil {
		return provider.ContactInfo{}, err
	}
	phone, err := s.contactPhone("getting a contact", me, id)
	if err != nil {
		return provider.ContactInfo{}, err
	}
	return s.net.contactInfo(me, phone), nil
}

// CheckNumber implements provider.Contacts: true for a number linked to a running
// sandbox session.
func (s *session) CheckNumber(ctx context.Context, phone string) (provider.NumberStatus, error) {
	if _, err := s.self("checking a number"); err != nil {
		return provider.NumberStatus{}, err
	}
	if s.net.byPhone(phone) == nil {
		return provider.NumberStatus{}, nil
	}
	return provider.NumberStatus{NumberExists: true, ChatID: chatid.ID{Local: phone, Server: chatid.User}}, nil
}

// About implements provider.Contacts: the number's about text, hidden (ok false) when
// it blocked the session's number.
func (s *session) About(ctx context.Context, id chatid.ID) (string, bool, error) {
	me, err := s.self("getting an about")
	if err != nil {
		return "", false, err
	}
	phone, err := s.contactPhone("getting an about", me, id)
	if err != nil {
		return "", false, err
	}
	b := &s.net.contacts
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.profileLocked(phone)
	if b.blocksLocked(phone, me) || p.about == "" {
		return "", false, nil
	}
	return p.about, true, nil
}

// ProfilePictureURL implements provider.Contacts: the number's picture URL; "" when it
// has none or blocked the session's number. The sandbox has no cache: refresh changes
// nothing.
func (s *session) ProfilePictureURL(ctx context.Context, id chatid.ID, refresh bool) (string, error) {
	me, err := s.self("getting a profile picture")
	if err != nil {
		return "", err
	}
	phone, err := s.contactPhone("getting a profile picture", me, id)
	if err != nil {
		return "", err
	}
	b := &s.net.contacts
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.blocksLocked(phone, me) {
		return "", nil
	}
	return b.profileLocked(phone).picture, nil
}

// Block implements provider.Contacts. Any user number can be blocked, on the network
// or not; the session's own number cannot (ErrNotAllowed), nor more than
// maxSandboxBlocked numbers.
func (s *session) Block(ctx context.Context, id chatid.ID) error {
	return s.setBlocked("blocking", id, true)
}

// Unblock implements provider.Contacts.
func (s *session) Unblock(ctx context.Context, id chatid.ID) error {
	return s.setBlocked("unblocking", id, false)
}

func (s *session) setBlocked(op string, id chatid.ID, block bool) error {
	me, err := s.self(op)
	if err != nil {
		return err
	}
	phone, err := s.contactPhone(op, me, id)
	if err != nil {
		return err
	}
	if phone == me {
		return s.errorf(op, fmt.Errorf("the session's own number: %w", provider.ErrNotAllowed))
	}
	b := &s.net.contacts
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.blocked[me]
	if !block {
		delete(set, phone)
		return nil
	}
	if _, ok := set[phone]; ok {
		return nil
	}
	if len(set) >= maxSandboxBlocked {
		return s.errorf(op, fmt.Errorf("the block list holds %d numbers already: %w", maxSandboxBlocked, provider.ErrNotAllowed))
	}
	if b.blocked == nil {
		b.blocked = map[string]map[string]struct{}{}
	}
	if set == nil {
		set = map[string]struct{}{}
		b.blocked[me] = set
	}
	set[phone] = struct{}{}
	return nil
}

// announce reports a profile change of number phone to every running session whose
// number has it as a contact and is not blocked by it.
func (n *Network) announce(phone string, ev provider.ContactUpdate) {
	ev.ID = chatid.ID{Local: phone, Server: chatid.User}
	ev.Timestamp = n.clock.Now().UnixMilli()
	b := &n.contacts
	b.mu.Lock()
	var to []string
	for c := range b.met[phone] {
		if !b.blocksLocked(phone, c) {
			to = append(to, c)
		}
	}
	b.mu.Unlock()
	for _, c := range to {
		if s := n.byPhone(c); s != nil {
			s.reportContactUpdate(ev)
		}
	}
}

// reportContactUpdate reports ev if the session is WORKING.
func (s *session) reportContactUpdate(ev provider.ContactUpdate) {
	s.mu.Lock()
	if !s.retired && s.state == stateWorking && s.run != nil {
		s.emitLocked(ev)
	}
	s.mu.Unlock()
	s.events.drain()
}

var _ provider.Contacts = (*session)(nil)
