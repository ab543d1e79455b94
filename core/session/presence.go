package session

import (
	"slices"
	"strings"
	"sync"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Known presences.
//
// WhatsApp pushes presence (online, offline, last seen) and chat states (typing,
// recording, paused) of the contacts a session subscribed to, and of the members of
// its groups; it offers no way to ask for them. The session keeps the last one of each
// chat and participant it was told, from the presence.update notifications its
// provider reports, so that GET /api/{session}/presence can answer, as WAHA's does.
// The cache is memory only, bounded (maxPresenceChats chats, maxPresenceParticipants
// per chat; past them the oldest chat is forgotten), and survives reconnects: a
// presence is the last known one, not necessarily the current one.

// Bounds of the presence cache, per session.
const (
	maxPresenceChats        = 10_000
	maxPresenceParticipants = 1024
)

// presenceCache is a session's known presences. Its lock is a leaf.
type presenceCache struct {
	mu    sync.Mutex
	chats map[chatid.ID]*chatPresences
	seq   uint64
}

// chatPresences is one chat's known presences, by participant.
type chatPresences struct {
	byParticipant map[chatid.ID]provider.ParticipantPresence
	// seq orders the chats by last change: the lowest is forgotten first.
	seq uint64
}

// update merges a presence.update into the cache.
func (c *presenceCache) update(u provider.PresenceUpdate) {
	if u.ID.IsZero() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chats == nil {
		c.chats = map[chatid.ID]*chatPresences{}
	}
	cp := c.chats[u.ID]
	if cp == nil {
		if len(c.chats) >= maxPresenceChats {
			c.forgetOldestLocked()
		}
		cp = &chatPresences{byParticipant: map[chatid.ID]provider.ParticipantPresence{}}
		c.chats[u.ID] = cp
	}
	c.seq++
	cp.seq = c.seq
	for _, p := range u.Presences {
		if _, ok := cp.byParticipant[p.Participant]; !ok && len(cp.byParticipant) >= maxPresenceParticipants {
			continue
		}
		if p.LastSeen == nil { // a chat state carries no last seen: keep the one known
			p.LastSeen = cp.byParticipant[p.Participant].LastSeen
		}
		cp.byParticipant[p.Participant] = p
	}
}

// forgetOldestLocked forgets the chat changed longest ago: a scan, paid only by a new
// chat past the bound.
func (c *presenceCache) forgetOldestLocked() {
	var oldest chatid.ID
	min := ^uint64(0)
	for id, cp := range c.chats {
		if cp.seq < min {
			oldest, min = id, cp.seq
		}
	}
	delete(c.chats, oldest)
}

// get returns a chat's known presences (ok false when none is known).
func (c *presenceCache) get(chat chatid.ID) (provider.PresenceUpdate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.chats[chat]
	if cp == nil {
		return provider.PresenceUpdate{}, false
	}
	return cp.snapshot(chat), true
}

// all returns every chat's known presences, sorted by chat id.
func (c *presenceCache) all() []provider.PresenceUpdate {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]provider.PresenceUpdate, 0, len(c.chats))
	for id, cp := range c.chats {
		out = append(out, cp.snapshot(id))
	}
	slices.SortFunc(out, func(a, b provider.PresenceUpdate) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	return out
}

func (cp *chatPresences) snapshot(chat chatid.ID) provider.PresenceUpdate {
	u := provider.PresenceUpdate{ID: chat, Presences: make([]provider.ParticipantPresence, 0, len(cp.byParticipant))}
	for _, p := range cp.byParticipant {
		u.Presences = append(u.Presences, p)
	}
	slices.SortFunc(u.Presences, func(a, b provider.ParticipantPresence) int {
		return strings.Compare(a.Participant.String(), b.Participant.String())
	})
	return u
}

// Presences returns the session's known presences of every chat (see above).
func (m *Manager) Presences(tenant, name string) ([]provider.PresenceUpdate, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return nil, err
	}
	return l.presence.all(), nil
}

// ChatPresence returns the session's known presences in one chat; ok is false when
// none is known.
func (m *Manager) ChatPresence(tenant, name string, chat chatid.ID) (u provider.PresenceUpdate, ok bool, err error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return provider.PresenceUpdate{}, false, err
	}
	u, ok = l.presence.get(chat)
	return u, ok, nil
}
