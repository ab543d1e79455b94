package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// A status reaches the author's contacts (no audience given) or its audience, from
// status@broadcast with the author as participant; its revoke reaches the same
// audience; a kind that is no status is refused.
func TestSandboxStatus(t *testing.T) {
	ctx := context.Background()
	_, s, rec := groupFixture(t)
	if _, err := s[0].Send(ctx, provider.Outbound{ID: "m1", ChatID: bobID, Kind: provider.KindText, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	takeWhere(t, rec[1], func(ev provider.MessageEvent) bool { return ev.Message.Text == "hi" })

	res, err := s[0].Send(ctx, provider.Outbound{ID: "m2", ChatID: chatid.StatusBroadcast, Kind: provider.KindText, Text: "open",
		Status: &provider.StatusOptions{BackgroundColor: "#38b42f", Font: 1}})
	if err != nil {
		t.Fatal(err)
	}
	got := takeWhere(t, rec[1], func(ev provider.MessageEvent) bool { return ev.Message.Text == "open" }).Message
	if got.ChatID != chatid.StatusBroadcast || got.From != chatid.StatusBroadcast || got.Participant != aliceID || got.ProviderID != res.ProviderID {
		t.Fatalf("bob's status %+v", got)
	}

	res, err = s[0].Send(ctx, provider.Outbound{ID: "m3", ChatID: chatid.StatusBroadcast, Kind: provider.KindImage, Text: "menu",
		Media: &provider.Media{URL: "https://example.com/m.jpg"}, Status: &provider.StatusOptions{Audience: []chatid.ID{carolID}}})
	if err != nil {
		t.Fatal(err)
	}
	takeWhere(t, rec[2], func(ev provider.MessageEvent) bool { return ev.Message.Text == "menu" })
	if _, err := s[0].Send(ctx, provider.Outbound{ID: "m4", ChatID: chatid.StatusBroadcast, Kind: provider.KindRevoke, Target: res.ProviderID}); err != nil {
		t.Fatal(err)
	}
	rv := takeWhere(t, rec[2], func(ev provider.MessageEvent) bool { return ev.Message.Kind == provider.KindRevoke }).Message
	if rv.Target != res.ProviderID || rv.Participant != aliceID {
		t.Fatalf("carol's revoke %+v", rv)
	}
	// Bob was not in the image's audience: the next thing he sees is what comes next.
	if _, err := s[0].Send(ctx, provider.Outbound{ID: "m5", ChatID: bobID, Kind: provider.KindText, Text: "after"}); err != nil {
		t.Fatal(err)
	}
	if next := takeKind[provider.MessageEvent](t, rec[1]).Message; next.Text != "after" {
		t.Fatalf("bob saw %+v before the next message", next)
	}

	_, err = s[0].Send(ctx, provider.Outbound{ID: "m6", ChatID: chatid.StatusBroadcast, Kind: provider.KindLocation, Location: &provider.Location{}})
	var se *provider.SendError
	if !errors.As(err, &se) || se.Code != CodeUnsupported {
		t.Fatalf("a location status: %v", err)
	}
	if p, err := s[0].StatusPrivacy(ctx); err != nil || p.Type != provider.StatusToContacts {
		t.Fatalf("privacy %+v %v", p, err)
	}
}
