package cloudapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// textWebhook is Meta's delivery of one text message from a customer.
func textWebhook(from, wamid string, ts int64) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages",
"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},
"messages":[{"from":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":"hi"}}]}}]}]}`, testPhoneNumberID, from, wamid, ts))
}

const readBody = `{"messaging_product":"whatsapp","status":"read","message_id":%q}`

// checkBodies checks that the requests since the last reset were POSTs to /messages
// with exactly the bodies want, in order.
func checkBodies(t *testing.T, name string, r *rig, want ...string) {
	t.Helper()
	calls := r.graph.snapshot()
	r.graph.reset()
	if len(calls) != len(want) {
		t.Errorf("%s: %d requests, want %d: %+v", name, len(calls), len(want), calls)
		return
	}
	for i, c := range calls {
		if c.Method != "POST" || c.Path != "/v23.0/"+testPhoneNumberID+"/messages" || c.Auth != "Bearer "+testToken {
			t.Errorf("%s: request %d: %s %s", name, i, c.Method, c.Path)
		}
		assertJSON(t, c.Body, want[i])
	}
}

func TestChatsMarkReadAndTyping(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	ctx := ctxTimeout(t, 5*time.Second)
	other := chatid.MustParse("16505550000")
	if err := r.p.HandleWebhook(ctx, textWebhook("16505551234", "wamid.A1", 1749416383)); err != nil {
		t.Fatal(err)
	}
	if err := r.p.HandleWebhook(ctx, textWebhook("16505551234", "wamid.A2", 1749416390)); err != nil {
		t.Fatal(err)
	}
	// Delivered late: older than A2, so A2 stays the last.
	if err := r.p.HandleWebhook(ctx, textWebhook("16505551234", "wamid.A0", 1749416300)); err != nil {
		t.Fatal(err)
	}
	typing := `{"messaging_product":"whatsapp","status":"read","message_id":%q,"typing_indicator":{"type":"text"}}`
	steps := []struct {
		name string
		call func() error
		want []string
	}{
		{"explicit ids, repeated and empty skipped", func() error {
			return r.p.MarkRead(ctx, customer, []string{"wamid.X", "", "wamid.X", "wamid.Y"}, chatid.ID{})
		}, []string{fmt.Sprintf(readBody, "wamid.X"), fmt.Sprintf(readBody, "wamid.Y")}},
		{"no ids: the last inbound message", func() error { return r.p.MarkRead(ctx, customer, nil, chatid.ID{}) },
			[]string{fmt.Sprintf(readBody, "wamid.A2")}},
		{"no ids again: already read", func() error { return r.p.MarkRead(ctx, customer, nil, chatid.ID{}) }, nil},
		{"no ids, chat never wrote", func() error { return r.p.MarkRead(ctx, other, nil, chatid.ID{}) }, nil},
		{"typing", func() error { return r.p.SetChatState(ctx, customer, provider.PresenceTyping) },
			[]string{fmt.Sprintf(typing, "wamid.A2")}},
		{"paused sends nothing", func() error { return r.p.SetChatState(ctx, customer, provider.PresencePaused) }, nil},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		checkBodies(t, s.name, r, s.want...)
	}
	// A new message is unread again; typing marks it read.
	if err := r.p.HandleWebhook(ctx, textWebhook("16505551234", "wamid.A3", 1749416400)); err != nil {
		t.Fatal(err)
	}
	if err := r.p.SetChatState(ctx, customer, provider.PresenceTyping); err != nil {
		t.Fatal(err)
	}
	if err := r.p.MarkRead(ctx, customer, nil, chatid.ID{}); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, "typing on a new message, then read", r, fmt.Sprintf(typing, "wamid.A3"))
}

func TestChatsErrors(t *testing.T) {
	r := newRig(t, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	group := chatid.MustParse("120363012345678901@g.us")
	// Not started: every call that would reach Meta refuses.
	if err := r.p.MarkRead(ctx, customer, []string{"wamid.X"}, chatid.ID{}); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("MarkRead while stopped: %v", err)
	}
	if err := r.p.SetChatState(ctx, customer, provider.PresenceTyping); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("typing while stopped: %v", err)
	}
	r.start()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Archive", func() error { return r.p.Archive(ctx, customer, true) }},
		{"MarkUnread", func() error { return r.p.MarkUnread(ctx, customer) }},
		{"Pin", func() error { return r.p.Pin(ctx, customer, true) }},
		{"DeleteChat", func() error { return r.p.DeleteChat(ctx, customer) }},
		{"Star", func() error { return r.p.Star(ctx, customer, "wamid.X", false, true) }},
		{"SetPresence", func() error { return r.p.SetPresence(ctx, provider.PresenceOnline) }},
		{"SubscribePresence", func() error { return r.p.SubscribePresence(ctx, customer) }},
		{"recording", func() error { return r.p.SetChatState(ctx, customer, provider.PresenceRecording) }},
		{"typing without inbound message", func() error { return r.p.SetChatState(ctx, customer, provider.PresenceTyping) }},
		{"MarkRead in a group", func() error { return r.p.MarkRead(ctx, group, []string{"wamid.X"}, chatid.ID{}) }},
		{"typing in a group", func() error { return r.p.SetChatState(ctx, group, provider.PresenceTyping) }},
		{"MarkRead of no chat", func() error { return r.p.MarkRead(ctx, chatid.ID{}, nil, chatid.ID{}) }},
	} {
		if err := tc.call(); !errors.Is(err, provider.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", tc.name, err)
		}
	}
	checkBodies(t, "unsupported calls", r)

	// Meta's refusal comes back as a SendError, naming the message.
	r.graph.setAnswer(func(graphCall) (int, string, bool) {
		return 400, metaError(100, "Invalid parameter", "Invalid message_id"), true
	})
	var se *provider.SendError
	err := r.p.MarkRead(ctx, customer, []string{"wamid.BAD", "wamid.NEXT"}, chatid.ID{})
	if !errors.As(err, &se) || se.Code != CodeInvalidParameter || !contains(err.Error(), "wamid.BAD") {
		t.Errorf("refused receipt: %v", err)
	}
	if n := r.graph.count("POST", "/messages"); n != 1 {
		t.Errorf("%d receipts sent after a refusal, want 1 (the first)", n)
	}
	r.graph.reset()
	if err := r.p.HandleWebhook(context.Background(), textWebhook("16505551234", "wamid.A1", 1749416383)); err != nil {
		t.Fatal(err)
	}
	if err := r.p.SetChatState(ctx, customer, provider.PresenceTyping); !errors.As(err, &se) || se.Code != CodeInvalidParameter {
		t.Errorf("refused typing: %v", err)
	}
	// Still unread: the receipt failed.
	r.graph.setAnswer(nil)
	r.graph.reset()
	if err := r.p.MarkRead(ctx, customer, nil, chatid.ID{}); err != nil {
		t.Fatal(err)
	}
	checkBodies(t, "read after a failed typing", r, fmt.Sprintf(readBody, "wamid.A1"))
}

func TestLastInboundBounds(t *testing.T) {
	var x lastInbound
	at := time.Unix(1_750_000_000, 0)
	chat := func(i int) chatid.ID { return chatid.MustParse(fmt.Sprintf("1650%07d", i)) }
	for i := range maxKnownChats {
		x.saw(chat(i), fmt.Sprint("wamid.", i), at)
	}
	x.saw(chat(0), "wamid.0b", at.Add(time.Second)) // chat 0 active again
	x.saw(chat(maxKnownChats), "wamid.new", at)
	if len(x.chats) != maxKnownChats {
		t.Fatalf("%d chats held, want %d", len(x.chats), maxKnownChats)
	}
	if _, ok := x.last(chat(1)); ok {
		t.Error("the least recently active chat is still held")
	}
	if id, ok := x.last(chat(0)); !ok || id != "wamid.0b" {
		t.Errorf("chat 0: %q %v", id, ok)
	}
	x.saw(chatid.ID{}, "wamid.z", at)
	x.saw(chat(5), "", at)
	if id, _ := x.last(chat(5)); id != "wamid.5" {
		t.Errorf("an empty id replaced the last message: %q", id)
	}
}
