package session

import (
	"strconv"
	"testing"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

func TestPresenceCacheMergesAndBounds(t *testing.T) {
	var c presenceCache
	bob := chatid.MustParse("15550000002@c.us")
	group := chatid.MustParse("120363000000000001@g.us")
	carol := chatid.MustParse("15550000003@c.us")
	seen := int64(1735725600)
	c.update(provider.PresenceUpdate{ID: bob, Presences: []provider.ParticipantPresence{{Participant: bob, LastKnownPresence: provider.PresenceOffline, LastSeen: &seen}}})
	c.update(provider.PresenceUpdate{ID: bob, Presences: []provider.ParticipantPresence{{Participant: bob, LastKnownPresence: provider.PresenceTyping}}})
	c.update(provider.PresenceUpdate{ID: group, Presences: []provider.ParticipantPresence{{Participant: carol, LastKnownPresence: provider.PresenceTyping}}})
	c.update(provider.PresenceUpdate{ID: group, Presences: []provider.ParticipantPresence{{Participant: bob, LastKnownPresence: provider.PresenceRecording}}})

	u, ok := c.get(bob)
	if !ok || len(u.Presences) != 1 || u.Presences[0].LastKnownPresence != provider.PresenceTyping || u.Presences[0].LastSeen == nil || *u.Presences[0].LastSeen != seen {
		t.Fatalf("bob: %+v, want typing with the last seen kept", u)
	}
	g, _ := c.get(group)
	if len(g.Presences) != 2 || g.Presences[0].Participant != bob || g.Presences[1].Participant != carol {
		t.Fatalf("group: %+v, want both participants", g)
	}
	if all := c.all(); len(all) != 2 || all[0].ID != group {
		t.Fatalf("all: %+v", all)
	}
	if _, ok := c.get(carol); ok {
		t.Error("a chat never reported is known")
	}

	c.update(provider.PresenceUpdate{ID: group}) // group changed last of the first three: bob goes first
	for i := range maxPresenceChats - 1 {
		c.update(provider.PresenceUpdate{ID: chatid.ID{Local: "1555" + strconv.Itoa(i), Server: chatid.User}})
	}
	if len(c.chats) != maxPresenceChats {
		t.Fatalf("%d chats; want the bound %d", len(c.chats), maxPresenceChats)
	}
	if _, ok := c.get(bob); ok {
		t.Error("the oldest chat was kept past the bound")
	}
	if _, ok := c.get(group); !ok {
		t.Error("a recently changed chat was forgotten")
	}
}
