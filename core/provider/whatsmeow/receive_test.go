package whatsmeow

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

var msgTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// dm is the info of a direct message from alice.
func dm(id string) types.MessageInfo {
	return types.MessageInfo{ID: id, Timestamp: msgTime, PushName: "Alice",
		MessageSource: types.MessageSource{Chat: alicePN, Sender: alicePN}}
}

func textMessage(id string, from types.JID, text string) *events.Message {
	info := dm(id)
	info.Chat, info.Sender = from, from
	return &events.Message{Info: info, Message: &waE2E.Message{Conversation: proto.String(text)}}
}

func TestInboundMessages(t *testing.T) {
	alice := chatid.MustParse("15551230001")
	me := chatid.MustParse("15551230000")
	group := chatid.MustParse("120363000000000001@g.us")
	bob := chatid.MustParse("15551230002")
	image := &waE2E.ImageMessage{Caption: proto.String("look"), Mimetype: proto.String("image/jpeg"), FileLength: proto.Uint64(10), DirectPath: proto.String("/v/i")}

	groupInfo := func(id string, sender types.JID) types.MessageInfo {
		return types.MessageInfo{ID: id, Timestamp: msgTime,
			MessageSource: types.MessageSource{Chat: groupJID, Sender: sender, IsGroup: true}}
	}
	fromMe := func(id string, to types.JID) types.MessageInfo {
		return types.MessageInfo{ID: id, Timestamp: msgTime,
			MessageSource: types.MessageSource{Chat: to, Sender: mePN, IsFromMe: true}}
	}
	lidInfo := func(id string, alt types.JID) types.MessageInfo {
		return types.MessageInfo{ID: id, Timestamp: msgTime,
			MessageSource: types.MessageSource{Chat: aliceLID, Sender: aliceLID, SenderAlt: alt, AddressingMode: types.AddressingModeLID}}
	}
	base := func(id string) provider.Inbound {
		return provider.Inbound{ProviderID: id, ChatID: alice, From: alice, Timestamp: msgTime}
	}
	with := func(in provider.Inbound, f func(*provider.Inbound)) provider.Inbound { f(&in); return in }

	cases := []struct {
		name string
		evt  *events.Message
		want provider.Inbound
	}{
		{"text", textMessage("m1", alicePN, "hello"),
			with(base("m1"), func(in *provider.Inbound) { in.Kind, in.Text = provider.KindText, "hello" })},
		{"extended text", &events.Message{Info: dm("m2"), Message: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("see https://x.y"), ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("q")}}}},
			with(base("m2"), func(in *provider.Inbound) { in.Kind, in.Text = provider.KindText, "see https://x.y" })},
		{"text with a link preview", &events.Message{Info: dm("m2p"), Message: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
			Text: proto.String("see https://a.example/p"), MatchedText: proto.String("https://a.example/p"),
			Title: proto.String("A page"), Description: proto.String("About it")}}},
			with(base("m2p"), func(in *provider.Inbound) {
				in.Kind, in.Text = provider.KindText, "see https://a.example/p"
				in.Preview = &provider.LinkPreview{URL: "https://a.example/p", Title: "A page", Description: "About it"}
			})},
		{"event", &events.Message{Info: dm("m2e"), Message: &waE2E.Message{EventMessage: &waE2E.EventMessage{
			Name: proto.String("Launch"), StartTime: proto.Int64(1_900_000_000), Location: &waE2E.LocationMessage{Name: proto.String("Hall A")}}}},
			with(base("m2e"), func(in *provider.Inbound) {
				in.Kind, in.Text = provider.KindEvent, "Launch"
				in.Event = &provider.EventInvite{Name: "Launch", StartTime: 1_900_000_000, Location: &provider.EventLocation{Name: "Hall A"}}
			})},
		{"image", &events.Message{Info: dm("m3"), Message: &waE2E.Message{ImageMessage: image}},
			with(base("m3"), func(in *provider.Inbound) {
				in.Kind, in.Text, in.Media = provider.KindImage, "look", &provider.Media{Mimetype: "image/jpeg"}
			})},
		{"sticker", &events.Message{Info: dm("m4"), Message: &waE2E.Message{StickerMessage: &waE2E.StickerMessage{DirectPath: proto.String("/v/s")}}},
			with(base("m4"), func(in *provider.Inbound) {
				in.Kind, in.Media = provider.KindSticker, &provider.Media{Mimetype: "image/webp"}
			})},
		{"video", &events.Message{Info: dm("m5"), Message: &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: proto.String("clip"), Mimetype: proto.String("video/mp4")}}},
			with(base("m5"), func(in *provider.Inbound) {
				in.Kind, in.Text, in.Media = provider.KindVideo, "clip", &provider.Media{Mimetype: "video/mp4"}
			})},
		{"voice", &events.Message{Info: dm("m6"), Message: &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true), Mimetype: proto.String("audio/ogg; codecs=opus")}}},
			with(base("m6"), func(in *provider.Inbound) {
				in.Kind, in.Media = provider.KindVoice, &provider.Media{Mimetype: "audio/ogg; codecs=opus"}
			})},
		{"document", &events.Message{Info: dm("m7"), Message: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			Caption: proto.String("the report"), Mimetype: proto.String("application/pdf"), FileName: proto.String("q3.pdf")}}},
			with(base("m7"), func(in *provider.Inbound) {
				in.Kind, in.Text, in.Media = provider.KindFile, "the report", &provider.Media{Mimetype: "application/pdf", Filename: "q3.pdf"}
			})},
		{"location", &events.Message{Info: dm("m8"), Message: &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(48.85), DegreesLongitude: proto.Float64(2.35), Name: proto.String("Office"), Address: proto.String("1 Rue X")}}},
			with(base("m8"), func(in *provider.Inbound) {
				in.Kind, in.Location = provider.KindLocation, &provider.Location{Latitude: 48.85, Longitude: 2.35, Title: "Office", Address: "1 Rue X"}
			})},
		{"live location", &events.Message{Info: dm("m9"), Message: &waE2E.Message{LiveLocationMessage: &waE2E.LiveLocationMessage{
			DegreesLatitude: proto.Float64(1.5), DegreesLongitude: proto.Float64(-2.5), Caption: proto.String("here")}}},
			with(base("m9"), func(in *provider.Inbound) {
				in.Kind, in.Text, in.Location = provider.KindLocation, "here", &provider.Location{Latitude: 1.5, Longitude: -2.5}
			})},
		{"contact", &events.Message{Info: dm("m10"), Message: &waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			DisplayName: proto.String("Jane"), Vcard: proto.String("BEGIN:VCARD\nFN:Jane\nEND:VCARD")}}},
			with(base("m10"), func(in *provider.Inbound) {
				in.Kind, in.Contacts = provider.KindContact, []provider.Contact{{FullName: "Jane", VCard: "BEGIN:VCARD\nFN:Jane\nEND:VCARD"}}
			})},
		{"contacts", &events.Message{Info: dm("m11"), Message: &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{
			Contacts: []*waE2E.ContactMessage{{DisplayName: proto.String("A"), Vcard: proto.String("va")}, {DisplayName: proto.String("B"), Vcard: proto.String("vb")}}}}},
			with(base("m11"), func(in *provider.Inbound) {
				in.Kind, in.Contacts = provider.KindContact, []provider.Contact{{FullName: "A", VCard: "va"}, {FullName: "B", VCard: "vb"}}
			})},
		{"reaction to my message", &events.Message{Info: dm("m12"), Message: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: &waCommon.MessageKey{RemoteJID: proto.String(mePN.String()), FromMe: proto.Bool(false), ID: proto.String("3EB0MINE")}, Text: proto.String("👍")}}},
			with(base("m12"), func(in *provider.Inbound) {
				in.Kind, in.Reaction = provider.KindReaction, &provider.Reaction{MessageID: "3EB0MINE", Emoji: "👍", FromMe: true}
			})},
		{"reaction to own message", &events.Message{Info: dm("m13"), Message: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: &waCommon.MessageKey{FromMe: proto.Bool(true), ID: proto.String("3AHERS")}, Text: proto.String("")}}},
			with(base("m13"), func(in *provider.Inbound) {
				in.Kind, in.Reaction = provider.KindReaction, &provider.Reaction{MessageID: "3AHERS"}
			})},
		{"revoke", &events.Message{Info: dm("m14"), Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: &waCommon.MessageKey{ID: proto.String("m1")}}}},
			with(base("m14"), func(in *provider.Inbound) { in.Kind, in.Target = provider.KindRevoke, "m1" })},
		{"edit", (&events.Message{Info: dm("m15"), RawMessage: &waE2E.Message{EditedMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{
			ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: &waCommon.MessageKey{ID: proto.String("m1")},
				EditedMessage: &waE2E.Message{Conversation: proto.String("hello, fixed")}}}}}}).UnwrapRaw(),
			with(base("m15"), func(in *provider.Inbound) { in.Kind, in.Target, in.Text = provider.KindEdit, "m1", "hello, fixed" })},
		{"ephemeral text", (&events.Message{Info: dm("m16"), RawMessage: &waE2E.Message{EphemeralMessage: &waE2E.FutureProofMessage{
			Message: &waE2E.Message{Conversation: proto.String("vanishing")}}}}).UnwrapRaw(),
			with(base("m16"), func(in *provider.Inbound) { in.Kind, in.Text = provider.KindText, "vanishing" })},
		{"group message", &events.Message{Info: groupInfo("m17", bobPN), Message: &waE2E.Message{Conversation: proto.String("hi all")}},
			provider.Inbound{ProviderID: "m17", ChatID: group, From: group, Participant: bob, Kind: provider.KindText, Text: "hi all", Timestamp: msgTime}},
		{"group reaction names the author", &events.Message{Info: groupInfo("m18", bobPN), Message: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: &waCommon.MessageKey{ID: proto.String("3AALICE"), Participant: proto.String(alicePN.String())}, Text: proto.String("❤")}}},
			provider.Inbound{ProviderID: "m18", ChatID: group, From: group, Participant: bob, Kind: provider.KindReaction, Timestamp: msgTime,
				Reaction: &provider.Reaction{MessageID: "3AALICE", Emoji: "❤", Sender: alice}}},
		{"group reaction to me", &events.Message{Info: groupInfo("m19", bobPN), Message: &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: &waCommon.MessageKey{ID: proto.String("3EB0ME"), Participant: proto.String(mePN.String())}, Text: proto.String("❤")}}},
			provider.Inbound{ProviderID: "m19", ChatID: group, From: group, Participant: bob, Kind: provider.KindReaction, Timestamp: msgTime,
				Reaction: &provider.Reaction{MessageID: "3EB0ME", Emoji: "❤", FromMe: true}}},
		{"sent from the phone", &events.Message{Info: fromMe("m20", alicePN), Message: &waE2E.Message{Conversation: proto.String("from my phone")}},
			provider.Inbound{ProviderID: "m20", ChatID: alice, From: me, FromMe: true, Kind: provider.KindText, Text: "from my phone", Timestamp: msgTime}},
		{"lid chat with phone number alt", &events.Message{Info: lidInfo("m21", alicePN), Message: &waE2E.Message{Conversation: proto.String("lid")}},
			with(base("m21"), func(in *provider.Inbound) { in.Kind, in.Text = provider.KindText, "lid" })},
		{"lid chat known to the lid map", &events.Message{Info: lidInfo("m22", types.JID{}), Message: &waE2E.Message{Conversation: proto.String("mapped")}},
			with(base("m22"), func(in *provider.Inbound) { in.Kind, in.Text = provider.KindText, "mapped" })},
	}

	r := newRig(t)
	c := r.startPaired()
	if err := r.p.container.LIDMap.PutLIDMapping(context.Background(), aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if !c.emit(tc.evt) {
			t.Fatalf("%s: handler refused the message", tc.name)
		}
		ev, ok := r.next().(provider.MessageEvent)
		if !ok {
			t.Fatalf("%s: event %#v, want a message", tc.name, ev)
		}
		if !reflect.DeepEqual(ev.Message, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, ev.Message, tc.want)
		}
	}
}

func TestInboundUnknownLIDStaysLID(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	info := types.MessageInfo{ID: "x", Timestamp: msgTime, MessageSource: types.MessageSource{Chat: aliceLID, Sender: aliceLID}}
	c.emit(&events.Message{Info: info, Message: &waE2E.Message{Conversation: proto.String("who")}})
	ev := r.next().(provider.MessageEvent)
	if ev.Message.ChatID.String() != "100000000000001@lid" || ev.Message.From != ev.Message.ChatID {
		t.Fatalf("chat = %s, from = %s; want the lid", ev.Message.ChatID, ev.Message.From)
	}
}

func TestInboundSkipped(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	skipped := []*events.Message{
		{Info: types.MessageInfo{ID: "s1", MessageSource: types.MessageSource{Chat: types.StatusBroadcastJID, Sender: alicePN}},
			Message: &waE2E.Message{Conversation: proto.String("my status")}},
		{Info: types.MessageInfo{ID: "s2", MessageSource: types.MessageSource{Chat: types.NewJID("120363000000000009", types.NewsletterServer), Sender: alicePN}},
			Message: &waE2E.Message{Conversation: proto.String("news")}},
		{Info: types.MessageInfo{ID: "s2b", MessageSource: types.MessageSource{Chat: types.NewJID("1612345678", types.BroadcastServer), Sender: alicePN}},
			Message: &waE2E.Message{Conversation: proto.String("to my list")}},
		{Info: dm("s3"), Message: &waE2E.Message{PollCreationMessage: &waE2E.PollCreationMessage{Name: proto.String("a poll without options")}}},
		{Info: dm("s4"), Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_EPHEMERAL_SETTING.Enum()}}},
		{Info: dm("s5"), Message: &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}}},
		{Info: dm("s6")},
	}
	for _, m := range skipped {
		if !c.emit(m) {
			t.Errorf("handler refused %s", m.Info.ID)
		}
	}
	r.quiet()
}

func TestReceipts(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	alice := chatid.MustParse("15551230001")
	group := chatid.MustParse("120363000000000001@g.us")
	src := types.MessageSource{Chat: alicePN, Sender: alicePN}
	gsrc := func(sender types.JID) types.MessageSource {
		return types.MessageSource{Chat: groupJID, Sender: sender, IsGroup: true}
	}
	c.emit(&events.Receipt{MessageSource: src, MessageIDs: []string{"a", "b"}, Type: types.ReceiptTypeDelivered})
	c.emit(&events.Receipt{MessageSource: src, MessageIDs: []string{"a"}, Type: types.ReceiptTypeRead})
	c.emit(&events.Receipt{MessageSource: src, MessageIDs: []string{"a"}, Type: types.ReceiptTypePlayed})
	// Not acks of sent messages: our own devices, retries, server errors.
	c.emit(&events.Receipt{MessageSource: types.MessageSource{Chat: alicePN, Sender: mePN, IsFromMe: true}, MessageIDs: []string{"in"}, Type: types.ReceiptTypeReadSelf})
	c.emit(&events.Receipt{MessageSource: types.MessageSource{Chat: alicePN, Sender: mePN, IsFromMe: true}, MessageIDs: []string{"in"}, Type: types.ReceiptTypeRead})
	c.emit(&events.Receipt{MessageSource: src, MessageIDs: []string{"a"}, Type: types.ReceiptTypeRetry})
	c.emit(&events.Receipt{MessageSource: src, MessageIDs: []string{"a"}, Type: types.ReceiptTypeServerError})
	// A group: one ack per message and level, whoever sends it.
	c.emit(&events.Receipt{MessageSource: gsrc(alicePN), MessageIDs: []string{"g"}, Type: types.ReceiptTypeDelivered})
	c.emit(&events.Receipt{MessageSource: gsrc(bobPN), MessageIDs: []string{"g"}, Type: types.ReceiptTypeDelivered})
	c.emit(&events.Receipt{MessageSource: gsrc(bobPN), MessageIDs: []string{"g"}, Type: types.ReceiptTypeRead})
	// A receipt addressed by LID, with the phone number alternative.
	c.emit(&events.Receipt{MessageSource: types.MessageSource{Chat: aliceLID, Sender: aliceLID, SenderAlt: alicePN},
		MessageIDs: []string{"l"}, Type: types.ReceiptTypeDelivered})

	want := []provider.AckEvent{
		{ProviderID: "a", ChatID: alice, Ack: provider.AckDelivered},
		{ProviderID: "b", ChatID: alice, Ack: provider.AckDelivered},
		{ProviderID: "a", ChatID: alice, Ack: provider.AckRead},
		{ProviderID: "a", ChatID: alice, Ack: provider.AckPlayed},
		{ProviderID: "g", ChatID: group, Ack: provider.AckDelivered},
		{ProviderID: "g", ChatID: group, Ack: provider.AckRead},
		{ProviderID: "l", ChatID: alice, Ack: provider.AckDelivered},
	}
	for _, w := range want {
		if got := r.next(); got != w {
			t.Fatalf("event = %#v, want %#v", got, w)
		}
	}
	r.quiet()
}

func TestAckSeenIsBounded(t *testing.T) {
	var a ackSeen
	if a.seen("x", provider.AckRead) || !a.seen("x", provider.AckRead) || a.seen("x", provider.AckDelivered) {
		t.Fatal("seen does not remember")
	}
	for i := 0; i < maxAckSeen; i++ {
		a.seen(string(rune('a'+i%26))+time.Duration(i).String(), provider.AckRead)
	}
	if len(a.set) != maxAckSeen {
		t.Fatalf("set holds %d, want %d", len(a.set), maxAckSeen)
	}
	if a.seen("x", provider.AckRead) {
		t.Error("the oldest entry was not evicted")
	}
}

// TestQueueBound fills a session's event queue while the sink is stuck, and checks that
// messages past the bound are refused (left to whatsmeow to not acknowledge) while
// connection events are still queued, and that everything accepted arrives in order.
func TestQueueBound(t *testing.T) {
	gate := make(chan struct{})
	stuck := make(chan struct{}, 1)
	r := newRig(t, func(r *rig) {
		r.cfg.EventQueue = 2
		r.sinkHook = func(ev provider.Event) {
			if m, ok := ev.(provider.MessageEvent); ok && m.Message.Text == "block" {
				stuck <- struct{}{}
				<-gate
			}
		}
	})
	c := r.startPaired()
	if !c.emit(textMessage("b", alicePN, "block")) {
		t.Fatal("first message refused")
	}
	<-stuck // the event goroutine is inside the sink now
	accepted := []bool{
		c.emit(textMessage("1", alicePN, "one")),
		c.emit(textMessage("2", alicePN, "two")),
		c.emit(textMessage("3", alicePN, "three")),
		c.emit(&events.Receipt{MessageSource: types.MessageSource{Chat: alicePN, Sender: alicePN}, MessageIDs: []string{"x"}}),
		c.emit(&events.Disconnected{}),
	}
	if want := []bool{true, true, false, false, true}; !reflect.DeepEqual(accepted, want) {
		t.Fatalf("accepted = %v, want %v", accepted, want)
	}
	run, _ := r.p.current()
	if run.refused.Load() != 2 {
		t.Errorf("refused = %d, want 2", run.refused.Load())
	}
	close(gate)
	for _, want := range []string{"block", "one", "two"} {
		if ev, ok := r.next().(provider.MessageEvent); !ok || ev.Message.Text != want {
			t.Fatalf("event = %#v, want message %q", ev, want)
		}
	}
	r.status(provider.StatusConnecting, reasonDisconnected)
	// Room again once drained.
	if !c.emit(textMessage("4", alicePN, "four")) {
		t.Error("message refused after the queue drained")
	}
	r.next()
}

func TestDownloadMedia(t *testing.T) {
	r := newRig(t, func(r *rig) {
		r.cfg.RememberedMedia = 2
		r.cfg.MaxMediaBytes = 1 << 10
	})
	c := r.startPaired()
	ctx := ctxT(t)
	doc := &waE2E.DocumentMessage{Mimetype: proto.String("application/pdf"), FileName: proto.String("a.pdf"), FileLength: proto.Uint64(3)}
	c.emit(&events.Message{Info: dm("d1"), Message: &waE2E.Message{DocumentMessage: doc}})
	c.emit(&events.Message{Info: dm("big"), Message: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{FileLength: proto.Uint64(1 << 20)}}})
	r.next()
	r.next()
	c.mu.Lock()
	c.downloadData = []byte("pdf")
	c.mu.Unlock()
	m, err := r.p.DownloadMedia(ctx, "d1")
	if err != nil || string(m.Data) != "pdf" || m.Mimetype != "application/pdf" || m.Filename != "a.pdf" {
		t.Fatalf("DownloadMedia = %+v, %v", m, err)
	}
	if _, err := r.p.DownloadMedia(ctx, "big"); !errors.Is(err, ErrMediaTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := r.p.DownloadMedia(ctx, "nope"); !errors.Is(err, ErrUnknownMedia) {
		t.Errorf("unknown: %v", err)
	}
	c.mu.Lock()
	c.downloadErr = wm.ErrMediaDownloadFailedWith410
	c.mu.Unlock()
	if _, err := r.p.DownloadMedia(ctx, "d1"); !errors.Is(err, ErrMediaUnavailable) {
		t.Errorf("gone: %v", err)
	}
	// remembered_media = 2: a third media message forgets the first.
	c.emit(&events.Message{Info: dm("v"), Message: &waE2E.Message{VideoMessage: &waE2E.VideoMessage{}}})
	r.next()
	if _, err := r.p.DownloadMedia(ctx, "d1"); !errors.Is(err, ErrUnknownMedia) {
		t.Errorf("forgotten: %v", err)
	}
	// Not connected: Download is not attempted.
	c.emit(&events.Disconnected{})
	c.mu.Lock()
	c.loggedIn = false
	c.mu.Unlock()
	if _, err := r.p.DownloadMedia(ctx, "v"); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("disconnected: %v", err)
	}
}

// A sticker is reported as KindSticker and its WebP downloads like any media.
func TestDownloadSticker(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	st := &waE2E.StickerMessage{DirectPath: proto.String("/v/st"), Mimetype: proto.String("image/webp"), FileLength: proto.Uint64(4)}
	c.emit(&events.Message{Info: dm("st1"), Message: &waE2E.Message{StickerMessage: st}})
	ev, ok := r.next().(provider.MessageEvent)
	if !ok || ev.Message.Kind != provider.KindSticker || ev.Message.Media == nil || ev.Message.Media.Mimetype != "image/webp" {
		t.Fatalf("sticker reported as %#v", ev)
	}
	c.mu.Lock()
	c.downloadData = []byte("RIFF")
	c.mu.Unlock()
	m, err := r.p.DownloadMedia(ctxT(t), "st1")
	if err != nil || string(m.Data) != "RIFF" || m.Mimetype != "image/webp" {
		t.Fatalf("DownloadMedia = %+v, %v", m, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.downloaded) != 1 || c.downloaded[0] != wm.DownloadableMessage(st) {
		t.Errorf("downloaded %v, want the sticker message", c.downloaded)
	}
}

func TestTextOf(t *testing.T) {
	cases := []struct {
		m    *waE2E.Message
		want string
	}{
		{nil, ""},
		{&waE2E.Message{Conversation: proto.String("a")}, "a"},
		{&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("b")}}, "b"},
		{&waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("c")}}, "c"},
		{&waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: proto.String("d")}}, "d"},
		{&waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Caption: proto.String("e")}}, "e"},
		{&waE2E.Message{LocationMessage: &waE2E.LocationMessage{}}, ""},
	}
	for _, c := range cases {
		if got := textOf(c.m); got != c.want {
			t.Errorf("textOf(%v) = %q, want %q", c.m, got, c.want)
		}
	}
}

// Mentions come from the ContextInfo of extended texts and captions, by phone number
// where the LID map knows it, once each; JIDs that are not users are skipped.
func TestInboundMentions(t *testing.T) {
	alice := chatid.MustParse("15551230001")
	bob := chatid.MustParse("15551230002")
	unknownLID := chatid.MustParse("100000000000009@lid")
	mentions := &waE2E.ContextInfo{MentionedJID: []string{
		bobPN.String(), aliceLID.String(), "100000000000009@lid", "not a jid@", groupJID.String(), bobPN.String(), "",
	}}
	want := []chatid.ID{bob, alice, unknownLID}
	cases := []struct {
		name string
		msg  *waE2E.Message
		want []chatid.ID
	}{
		{"extended text", &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("hi @15551230002"), ContextInfo: mentions}}, want},
		{"image caption", &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("@bob"), ContextInfo: mentions}}, want},
		{"video caption", &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: proto.String("@bob"), ContextInfo: mentions}}, want},
		{"document caption", &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Caption: proto.String("@bob"), ContextInfo: mentions}}, want},
		{"no context info", &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("plain")}}, nil},
		{"plain conversation", &waE2E.Message{Conversation: proto.String("plain")}, nil},
	}
	r := newRig(t)
	c := r.startPaired()
	if err := r.p.container.LIDMap.PutLIDMapping(context.Background(), aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		info := dm("mention" + string(rune('a'+i)))
		info.Chat, info.Sender, info.IsGroup = groupJID, alicePN, true
		c.emit(&events.Message{Info: info, Message: tc.msg})
		ev, ok := r.next().(provider.MessageEvent)
		if !ok {
			t.Fatalf("%s: event %#v, want a message", tc.name, ev)
		}
		if !reflect.DeepEqual(ev.Message.Mentions, tc.want) {
			t.Errorf("%s: mentions %v, want %v", tc.name, ev.Message.Mentions, tc.want)
		}
	}
}
