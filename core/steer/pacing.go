package steer

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/route"
	"github.com/wagate/wagate/core/session"
)

// Bounds of the per-chat send statistics, per session. Past maxChats, chats are
// forgotten at random (a forgotten chat looks new: its next message may count as a
// first contact again, which errs on the safe side).
const (
	// maxChatSends bounds the send times kept per chat for the last hour: ChatSentHour
	// saturates there, far above any sensible per-contact cap.
	maxChatSends = 64
	// maxChats bounds the chats remembered per session.
	maxChats = 100_000
	// sweepEvery is how many sends pass between sweeps of chats not sent to for 24h.
	sweepEvery = 4096
)

// chats counts, per session, the sends to each chat in the last hour and the first
// contacts of the last 24 hours. Memory only: a restart starts empty (the persisted
// inbound times in core/route still tell which chats ever wrote).
type chats struct {
	mu       sync.Mutex
	sessions map[[2]string]*sessionChats
}

// sessionChats keeps a session's chats in two maps so that a chat sent to once in the
// hour — every contact of a campaign — costs one entry of two int64s: last holds every
// chat's last send, older only the chats with earlier sends in the last hour. Chats are
// keyed by a 64-bit hash of their id (chatKey), not the id: no string is kept. Two
// chats of one session whose ids hash alike (about one chance in 10^7 among a million
// chats) share their counts, which errs on the safe side: more sends counted, not
// fewer. Measured with BenchmarkChatsMemory: 91 bytes per chat with one map of
// per-chat records, 51 with two maps keyed by the id (plus the id's copy), 24 with
// hashed keys (TestChatsMemory bounds it).
type sessionChats struct {
	last  map[uint64]int64   // chat -> its last send (Unix milliseconds)
	older map[uint64][]int64 // chat -> its sends of the last hour before last, oldest first
	first counter            // first contacts, per minute over 24 hours
	adds  int
}

// chatSeed seeds chatKey; a process's keys never leave it (the statistics are memory
// only), so a per-process seed is enough.
var chatSeed = maphash.MakeSeed()

// chatKey is the key of chat in a session's statistics.
func chatKey(chat string) uint64 { return maphash.String(chatSeed, chat) }

func newChats() *chats { return &chats{sessions: map[[2]string]*sessionChats{}} }

// get returns the sends to chat in the hour before now, the last one (zero if none in
// the last 24 hours), and the session's first contacts over the last 24 hours.
func (c *chats) get(tenant, sess, chat string, now time.Time) (hour int, last time.Time, firstDay int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := c.sessions[[2]string{tenant, sess}]
	if sc == nil {
		return 0, time.Time{}, 0
	}
	_, _, firstDay = sc.first.sums(now)
	key := chatKey(chat)
	l, ok := sc.last[key]
	if !ok {
		return 0, time.Time{}, firstDay
	}
	ms := now.UnixMilli()
	for _, t := range sc.older[key] {
		if t > ms-time.Hour.Milliseconds() {
			hour++
		}
	}
	if l > ms-time.Hour.Milliseconds() {
		hour++
	}
	if l > ms-24*time.Hour.Milliseconds() {
		last = time.UnixMilli(l)
	}
	return hour, last, firstDay
}

// add records a send to chat at now; first counts it as a first contact.
func (c *chats) add(tenant, sess, chat string, now time.Time, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{tenant, sess}
	sc := c.sessions[k]
	if sc == nil {
		sc = &sessionChats{last: map[uint64]int64{}, older: map[uint64][]int64{}}
		c.sessions[k] = sc
	}
	if first {
		sc.first.add(now)
	}
	ms := now.UnixMilli()
	key := chatKey(chat)
	prev, ok := sc.last[key]
	sc.last[key] = ms
	if ok {
		// The previous last send joins the older sends of the hour; the hour keeps at
		// most maxChatSends sends, the last included.
		older := sc.older[key]
		keep := older[:0]
		for _, t := range older {
			if t > ms-time.Hour.Milliseconds() {
				keep = append(keep, t)
			}
		}
		if prev > ms-time.Hour.Milliseconds() {
			keep = append(keep, prev)
		}
		if len(keep) > maxChatSends-1 {
			keep = append(keep[:0], keep[len(keep)-(maxChatSends-1):]...)
		}
		if len(keep) == 0 {
			delete(sc.older, key)
		} else {
			sc.older[key] = keep
		}
	}
	sc.adds++
	if sc.adds%sweepEvery == 0 || len(sc.last) > maxChats {
		sc.sweep(ms)
	}
}

// sweep forgets the chats not sent to in the last 24 hours, then, past maxChats, chats
// at random until a tenth of the room is free.
func (sc *sessionChats) sweep(ms int64) {
	for chat, l := range sc.last {
		if l <= ms-24*time.Hour.Milliseconds() {
			delete(sc.last, chat)
			delete(sc.older, chat)
		}
	}
	for chat := range sc.last {
		if len(sc.last) <= maxChats*9/10 {
			break
		}
		delete(sc.last, chat)
		delete(sc.older, chat)
	}
	for chat, older := range sc.older { // sends over an hour old leave the hour
		if len(older) == 0 || older[len(older)-1] <= ms-time.Hour.Milliseconds() {
			delete(sc.older, chat)
		}
	}
}

func (c *chats) forget(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.sessions {
		if k[0] == tenant {
			delete(c.sessions, k)
		}
	}
}

func (c *chats) delete(tenant, sess string) {
	c.mu.Lock()
	delete(c.sessions, [2]string{tenant, sess})
	c.mu.Unlock()
}

// count records a message allowed to go through sess: every provider call counts in
// the session's sends (SentMinute..., LastSentAt), but only a message's first call
// counts in its chat's (ChatSentHour, first contacts): a retry is not one more message
// to the contact.
func (s *Steer) count(tenant, sess string, m queue.Message, first bool, now time.Time) {
	s.stats.add(tenant, sess, now)
	if m.Attempts == 0 {
		s.chats.add(tenant, sess, m.ChatID, now, first)
	}
}

// pacing fills the candidate's pacing fields for a message to chat (policy.Candidate:
// LinkedAt, LastInbound, ChatSentHour, FirstContact, FirstContactsDay, PausedUntil,
// PauseReason).
func (s *Steer) pacing(c *policy.Candidate, tenant string, in session.Info, rec route.Chat, chat string, now time.Time) {
	c.LinkedAt = s.linkedAt(tenant, in)
	c.LastInbound = rec.Inbound[in.Name]
	var last time.Time
	c.ChatSentHour, last, c.FirstContactsDay = s.chats.get(tenant, in.Name, chat, now)
	c.FirstContact = chat != "" && c.LastInbound.IsZero() && last.IsZero()
	if s.watch != nil {
		c.PauseReason, c.PausedUntil = s.watch.Restriction(tenant, in.Name, now)
	}
}

// linkedAt is when the session's number was linked: the account's link time when the
// provider knows it (whatsmeow), else when it was paired in this process, else when
// the session was created (a session is linked no earlier than it is created, so the
// number looks at least as young as it is: warm-up errs on the safe side).
func (s *Steer) linkedAt(tenant string, in session.Info) time.Time {
	if in.Me != nil && !in.Me.LinkedAt.IsZero() {
		return in.Me.LinkedAt
	}
	if s.watch != nil {
		if t := s.watch.Paired(tenant, in.Name); !t.IsZero() {
			return t
		}
	}
	return in.CreatedAt
}
