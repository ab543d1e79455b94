package queue

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Chats lists each chat of a session's history once, with its newest message, sent or
// received; other sessions' chats are not in it.
func TestChatsListsEachChatWithItsLastMessage(t *testing.T) {
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()
	to := func(session, chat string) Item {
		it := item(session, "")
		it.Message.ChatID = chat
		return it
	}
	a1, b1, a2 := to("s1", "15550000001@c.us"), to("s1", "15550000002@c.us"), to("s1", "15550000001@c.us")
	other := to("s2", "15550000003@c.us")
	for _, it := range []Item{a1, b1, a2, other} {
		if _, err := q.Enqueue(ctx, "acme", []Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	group := chatid.MustParse("120363000000000001@g.us")
	if err := q.RecordReceived("acme", "s1", provider.Inbound{ProviderID: "3A", ChatID: group, From: group,
		Participant: chatid.MustParse("15550000009@c.us"), Kind: provider.KindText, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	b2 := to("s1", "15550000002@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{b2}); err != nil { // after the record: waits for it
		t.Fatal(err)
	}

	chats, truncated, err := q.Chats(ctx, "acme", "s1")
	if err != nil || truncated {
		t.Fatal(err, truncated)
	}
	slices.SortFunc(chats, func(x, y ChatLast) int { return strings.Compare(x.Chat, y.Chat) })
	if len(chats) != 3 {
		t.Fatalf("chats: %+v", chats)
	}
	if chats[0].Chat != group.String() || !chats[0].Last.Inbound || chats[0].Last.Text != "hi" {
		t.Errorf("group chat: %+v", chats[0])
	}
	if chats[1].Chat != "15550000001@c.us" || chats[1].Last.ID != a2.Message.ID {
		t.Errorf("chat 1: %+v, want its last message %s", chats[1], a2.Message.ID)
	}
	if chats[2].Chat != "15550000002@c.us" || chats[2].Last.ID != b2.Message.ID {
		t.Errorf("chat 2: %+v, want its last message %s", chats[2], b2.Message.ID)
	}
	if chats, _, _ := q.Chats(ctx, "acme", "s3"); len(chats) != 0 {
		t.Errorf("a session without history: %+v", chats)
	}
	if chats, _, _ := q.Chats(ctx, "other", "s1"); len(chats) != 0 {
		t.Errorf("another tenant: %+v", chats)
	}
}
