package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

func TestSandboxLabels(t *testing.T) {
	ctx := context.Background()
	_, s, rec := groupFixture(t)
	a, b := s[0], s[1]

	vip, err := a.CreateLabel(ctx, "VIP", 1)
	if err != nil {
		t.Fatal(err)
	}
	if vip.ID != "1" || vip.Name != "VIP" || vip.ColorHex != "#64c4ff" {
		t.Fatalf("created %+v", vip)
	}
	if ev := takeKind[provider.LabelUpsert](t, rec[0]); ev.Label != vip {
		t.Errorf("label.upsert %+v, want %+v", ev, vip)
	}
	paid, _ := a.CreateLabel(ctx, "Paid", 5)
	takeKind[provider.LabelUpsert](t, rec[0])

	// Labels are the account's: another number has none of them.
	if ls, err := b.Labels(ctx); err != nil || len(ls) != 0 {
		t.Errorf("bob's labels = %v, %v; want none", ls, err)
	}
	if err := b.SetChatLabels(ctx, aliceID, []string{vip.ID}); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("bob using alice's label: %v, want ErrNotFound", err)
	}

	if err := a.SetChatLabels(ctx, bobID, []string{vip.ID, paid.ID, vip.ID}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		ev := takeKind[provider.LabelChatAdded](t, rec[0])
		if ev.ChatID != bobID || ev.Label == nil || ev.Label.ID != ev.LabelID {
			t.Errorf("label.chat.added %+v", ev)
		}
	}
	if ls, _ := a.ChatLabels(ctx, bobID); len(ls) != 2 {
		t.Errorf("bob's chat labels = %v, want 2", ls)
	}
	if chats, _ := a.LabelChats(ctx, paid.ID); len(chats) != 1 || chats[0] != bobID {
		t.Errorf("paid's chats = %v", chats)
	}

	// The full set replaces: Paid comes off, an unknown id changes nothing.
	if err := a.SetChatLabels(ctx, bobID, []string{vip.ID, "99"}); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("unknown label id: %v", err)
	}
	if ls, _ := a.ChatLabels(ctx, bobID); len(ls) != 2 {
		t.Errorf("after a refused set: %v, want both kept", ls)
	}
	if err := a.SetChatLabels(ctx, bobID, []string{vip.ID}); err != nil {
		t.Fatal(err)
	}
	if ev := takeKind[provider.LabelChatDeleted](t, rec[0]); ev.LabelID != paid.ID {
		t.Errorf("label.chat.deleted %+v, want paid", ev)
	}

	up, err := a.UpdateLabel(ctx, vip.ID, "Gold", 16)
	if err != nil || up.ColorHex != "#ffaf04" || up.Name != "Gold" {
		t.Fatalf("update: %+v %v", up, err)
	}
	takeKind[provider.LabelUpsert](t, rec[0])
	if _, err := a.UpdateLabel(ctx, "42", "x", 0); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("update unknown: %v", err)
	}

	if err := a.DeleteLabel(ctx, vip.ID); err != nil {
		t.Fatal(err)
	}
	if ev := takeKind[provider.LabelChatDeleted](t, rec[0]); ev.LabelID != vip.ID || ev.ChatID != bobID {
		t.Errorf("delete's label.chat.deleted %+v", ev)
	}
	if ev := takeKind[provider.LabelDeleted](t, rec[0]); ev.ID != vip.ID {
		t.Errorf("label.deleted %+v", ev)
	}
	if ls, _ := a.ChatLabels(ctx, bobID); len(ls) != 0 {
		t.Errorf("after delete: %v", ls)
	}
	if _, err := a.LabelChats(ctx, vip.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("chats of a deleted label: %v", err)
	}
	if err := a.SetChatLabels(ctx, chatid.ID{}, nil); !errors.Is(err, provider.ErrInvalidRecipient) {
		t.Errorf("zero chat: %v", err)
	}
}

func TestSandboxLabelsBounded(t *testing.T) {
	ctx := context.Background()
	_, s, _ := groupFixture(t)
	for i := range provider.MaxLabels {
		if _, err := s[0].CreateLabel(ctx, "l", i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s[0].CreateLabel(ctx, "one too many", 0); !errors.Is(err, provider.ErrNotAllowed) {
		t.Errorf("label %d: %v, want ErrNotAllowed", provider.MaxLabels+1, err)
	}
}

func TestLabelColors(t *testing.T) {
	if c, ok := provider.LabelColorOf("#64C4FF"); !ok || c != 1 {
		t.Errorf("LabelColorOf = %d %v", c, ok)
	}
	if _, ok := provider.LabelColorOf("#000000"); ok {
		t.Error("a colour outside the palette was found")
	}
	if l := provider.NewLabel("1", "x", 20); l.ColorHex != "" {
		t.Errorf("colour 20 drawn as %q", l.ColorHex)
	}
}
