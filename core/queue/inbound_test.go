package queue

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Received messages join the chat's history beside sent ones, in order; reactions,
// edits and revokes do not; retention deletes them like final sent messages.
func TestRecordReceivedInHistory(t *testing.T) {
	t0 := time.Now().UTC()
	clock := &fakeClock{now: t0}
	db, q := openQ(t, t.TempDir(), Options{Now: clock.Now})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()
	chat := chatid.MustParse("15551234567@c.us")

	first := item("s1", "")
	if _, err := q.Enqueue(ctx, "acme", []Item{first}); err != nil {
		t.Fatal(err)
	}
	in := provider.Inbound{ProviderID: "3A00", ChatID: chat, From: chat, Kind: provider.KindText, Text: "reply", Timestamp: t0.Add(-time.Second)}
	for _, x := range []provider.Inbound{in,
		{ProviderID: "3A01", ChatID: chat, From: chat, Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "m", Emoji: "👍"}},
		{ProviderID: "3A02", ChatID: chat, From: chat, Kind: provider.KindEdit, Target: "3A00", Text: "x"},
	} {
		if err := q.RecordReceived("acme", "s1", x); err != nil {
			t.Fatal(err)
		}
	}
	second := item("s1", "")
	if _, err := q.Enqueue(ctx, "acme", []Item{second}); err != nil { // committed after the records above
		t.Fatal(err)
	}
	page, err := q.ChatMessages(ctx, "acme", "s1", chat.String(), "", 10)
	if err != nil || len(page.Messages) != 3 {
		t.Fatalf("history: %+v %v", page.Messages, err)
	}
	got := page.Messages[1]
	if page.Messages[0].ID != second.Message.ID || page.Messages[2].ID != first.Message.ID || !got.Inbound ||
		got.Status != StatusReceived || got.Text != "reply" || got.ProviderID != "3A00" || got.From != chat.String() || !got.Timestamp.Equal(in.Timestamp) {
		t.Fatalf("history: %+v", page.Messages)
	}

	for _, it := range []Item{first, second} {
		setStatus(t, q, "acme", it.Message.ID, StatusRead, t0, false)
	}
	now := t0.Add(31 * 24 * time.Hour)
	clock.Set(now)
	if _, err := q.SweepFinal(ctx, now.Add(-30*24*time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	page, err = q.ChatMessages(ctx, "acme", "s1", chat.String(), "", 10)
	if err != nil || len(page.Messages) != 0 {
		t.Fatalf("history after retention: %+v %v", page.Messages, err)
	}
}
