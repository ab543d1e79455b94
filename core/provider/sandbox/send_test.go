package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

var (
	webMessageID   = regexp.MustCompile(`^3EB0[0-9A-F]{16}$`)
	phoneMessageID = regexp.MustCompile(`^3A[0-9A-F]{18}$`)
)

func TestSendAcks(t *testing.T) {
	for _, tc := range []struct {
		name            string
		delivery, read  time.Duration
		to              string
		wantReadReceipt bool
	}{
		{"defaults", 200 * time.Millisecond, time.Second, "15557654321", true},
		{"no read receipts", 200 * time.Millisecond, 0, "15557654321", false},
		{"instant delivery", 0, time.Second, "15557654321", true},
		{"group", 200 * time.Millisecond, time.Second, "", true}, // a group the session creates
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.DeliveryDelay = config.Duration(tc.delivery)
			cfg.ReadDelay = config.Duration(tc.read)
			f := newFixture(t, cfg)
			p, rec := f.linked("t1", "s1", "15550001111")
			if tc.to == "" {
				g, err := p.(*session).CreateGroup(context.Background(), "acks", nil)
				if err != nil {
					t.Fatal(err)
				}
				rec.take() // group.v2.join
				tc.to = g.ID.String()
			}

			res, err := p.Send(context.Background(), text(tc.to, "hello"))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if !webMessageID.MatchString(res.ProviderID) {
				t.Fatalf("ProviderID %q is not 3EB0 + 16 hex", res.ProviderID)
			}
			if !res.Timestamp.Equal(f.clock.Now()) {
				t.Fatalf("Timestamp %s, want %s", res.Timestamp, f.clock.Now())
			}
			if tc.delivery > 0 {
				f.advance(tc.delivery - time.Millisecond)
				rec.none()
				f.advance(time.Millisecond)
			}
			a := rec.ack(res.ProviderID, provider.AckDelivered)
			if a.ChatID != chatid.MustParse(tc.to) {
				t.Fatalf("ack chat %s, want %s", a.ChatID, tc.to)
			}
			if tc.wantReadReceipt {
				f.advance(tc.read - time.Millisecond)
				rec.none()
				f.advance(time.Millisecond)
				rec.ack(res.ProviderID, provider.AckRead)
			}
			f.advance(time.Hour)
			rec.none()
		})
	}
}

func TestSendLatency(t *testing.T) {
	cfg := testConfig()
	cfg.SendLatency = config.Duration(50 * time.Millisecond)
	f := newFixture(t, cfg)
	p, _ := f.linked("t1", "s1", "15550001111")

	wait := async(t, func() sendResult {
		res, err := p.Send(context.Background(), text("15557654321", "slow"))
		return sendResult{res, err}
	})
	f.waiters(1) // the send's latency timer
	start := f.clock.Now()
	f.advance(50 * time.Millisecond)
	r := wait()
	if r.err != nil {
		t.Fatalf("Send: %v", r.err)
	}
	if got := r.res.Timestamp.Sub(start); got != 50*time.Millisecond {
		t.Fatalf("sent %s after the call, want 50ms", got)
	}

	// A deadline shorter than the latency: a retryable timeout.
	ctx := f.fakeTimeout(10 * time.Millisecond)
	wait = async(t, func() sendResult {
		res, err := p.Send(ctx, text("15557654321", "too slow"))
		return sendResult{res, err}
	})
	f.advance(10 * time.Millisecond)
	r = wait()
	var se *provider.SendError
	if !errors.As(r.err, &se) || se.Code != "timeout" || !se.Retryable || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("Send past deadline: %v, want retryable timeout SendError", r.err)
	}

	// A canceled context.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Send(cctx, text("15557654321", "canceled"))
	if !errors.As(err, &se) || se.Code != "canceled" || !se.Retryable {
		t.Fatalf("Send with canceled ctx: %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	f := newFixture(t, testConfig())
	working, _ := f.linked("t1", "working", "15550001111")
	idle, _ := f.session("t1", "idle")
	pairing, rec := f.session("t1", "pairing")
	if err := pairing.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	rec.status(provider.StatusPairing, "")

	for _, tc := range []struct {
		name      string
		p         provider.Provider
		msg       provider.Outbound
		want      error
		code      string
		retryable bool
	}{
		{"not started", idle, text("15557654321", "x"), provider.ErrNotConnected, "", true},
		{"pairing", pairing, text("15557654321", "x"), provider.ErrNotConnected, "", true},
		{"no kind", working, provider.Outbound{ChatID: chatid.MustParse("15557654321")}, provider.ErrUnsupported, "unsupported", false},
		{"unknown kind", working, provider.Outbound{ChatID: chatid.MustParse("15557654321"), Kind: "hologram"}, provider.ErrUnsupported, "unsupported", false},
		{"image without media", working, provider.Outbound{ChatID: chatid.MustParse("15557654321"), Kind: provider.KindImage}, ErrInvalidMessage, "invalid_message", false},
		{"file with url and data", working, provider.Outbound{ChatID: chatid.MustParse("15557654321"), Kind: provider.KindFile,
			Media: &provider.Media{URL: "https://example.com/a.pdf", Data: []byte("x")}}, ErrInvalidMessage, "invalid_message", false},
		{"voice with empty media", working, provider.Outbound{ChatID: chatid.MustParse("15557654321"), Kind: provider.KindVoice, Media: &provider.Media{}}, ErrInvalidMessage, "invalid_message", false},
		{"location without place", working, provider.Outbound{ChatID: chatid.MustParse("15557654321"), Kind: provider.KindLocation}, ErrInvalidMessage, "invalid_message", false},
		{"contact without cards", working, provider.Outbound{ChatID: chatid.MustParse("15557654321"), Kind: provider.KindContact, Contacts: []provider.Contact{}}, ErrInvalidMessage, "invalid_message", false},
		{"reaction without message id", working, provider.Outbound{ChatID: chatid.MustParse("15557654321"), Kind: provider.KindReaction, Reaction: &provider.Reaction{Emoji: "👍"}}, ErrInvalidMessage, "invalid_message", false},
		{"image, no chat", working, provider.Outbound{Kind: provider.KindImage, Media: &provider.Media{URL: "https://example.com/a.png"}}, provider.ErrInvalidRecipient, "invalid_recipient", false},
		{"no chat", working, provider.Outbound{Kind: provider.KindText, Text: "x"}, provider.ErrInvalidRecipient, "invalid_recipient", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.p.Send(context.Background(), tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Send: %v, want %v", err, tc.want)
			}
			var se *provider.SendError
			if tc.code != "" && (!errors.As(err, &se) || se.Code != tc.code) {
				t.Fatalf("Send: %v, want SendError code %q", err, tc.code)
			}
			if provider.Retryable(err) != tc.retryable {
				t.Fatalf("Retryable(%v) = %v, want %v", err, !tc.retryable, tc.retryable)
			}
		})
	}
}

func TestSandboxNumbersMessageEachOther(t *testing.T) {
	cfg := testConfig()
	cfg.DeliveryDelay = config.Duration(200 * time.Millisecond)
	f := newFixture(t, cfg)
	alice, aliceRec := f.linked("tenant-a", "alice", "15550000001")
	bob, bobRec := f.linked("tenant-b", "bob", "15550000002")

	res, err := alice.Send(context.Background(), text("15550000002@s.whatsapp.net", "hi bob"))
	if err != nil {
		t.Fatalf("alice Send: %v", err)
	}
	m := bobRec.message()
	want := provider.Inbound{
		ProviderID: res.ProviderID,
		ChatID:     chatid.MustParse("15550000001@c.us"),
		From:       chatid.MustParse("15550000001@c.us"),
		Kind:       provider.KindText,
		Text:       "hi bob",
		Timestamp:  res.Timestamp,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("bob got %+v\nwant %+v", m, want)
	}

	reply, err := bob.Send(context.Background(), text(m.ChatID.String(), "hi alice"))
	if err != nil {
		t.Fatalf("bob Send: %v", err)
	}
	if m := aliceRec.message(); m.Text != "hi alice" || m.From.Local != "15550000002" || m.ProviderID != reply.ProviderID || m.FromMe {
		t.Fatalf("alice got %+v", m)
	}
	f.advance(200 * time.Millisecond)
	aliceRec.ack(res.ProviderID, provider.AckDelivered)
	bobRec.ack(reply.ProviderID, provider.AckDelivered)

	// A stopped session receives nothing; the sender still gets its acks.
	if err := bob.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	bobRec.status(provider.StatusStopped, "")
	res, err = alice.Send(context.Background(), text("15550000002", "are you there?"))
	if err != nil {
		t.Fatalf("Send to stopped number: %v", err)
	}
	f.advance(200 * time.Millisecond)
	aliceRec.ack(res.ProviderID, provider.AckDelivered)
	bobRec.none()

	// Messaging yourself delivers nothing inbound.
	if _, err := alice.Send(context.Background(), text("15550000001", "note to self")); err != nil {
		t.Fatalf("Send to self: %v", err)
	}
	aliceRec.none()
}

func TestInbound(t *testing.T) {
	f := newFixture(t, testConfig())
	_, rec := f.linked("t1", "s1", "15550001111")
	pairing, prec := f.session("t1", "pairing")
	if err := pairing.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	prec.status(provider.StatusPairing, "")
	from := chatid.MustParse("4915112345678")

	if err := f.net.Inbound("t1", "s1", from, "hello"); err != nil {
		t.Fatalf("Inbound: %v", err)
	}
	m := rec.message()
	if m.From != from || m.ChatID != from || m.Text != "hello" || m.Kind != provider.KindText || m.FromMe || !m.Timestamp.Equal(f.clock.Now()) {
		t.Fatalf("inbound %+v", m)
	}
	if !phoneMessageID.MatchString(m.ProviderID) {
		t.Fatalf("ProviderID %q is not 3A + 18 hex", m.ProviderID)
	}

	for _, tc := range []struct {
		name, session string
		from          chatid.ID
		want          error
	}{
		{"unknown", "nope", from, ErrUnknownSession},
		{"pairing", "pairing", from, ErrNotWorking},
		{"zero sender", "s1", chatid.ID{}, chatid.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.net.Inbound("t1", tc.session, tc.from, "x"); !errors.Is(err, tc.want) {
				t.Fatalf("Inbound: %v, want %v", err, tc.want)
			}
		})
	}
	if !errors.Is(ErrNotWorking, provider.ErrNotConnected) {
		t.Fatal("ErrNotWorking does not wrap provider.ErrNotConnected")
	}
}

func TestMessageIDsAreUnique(t *testing.T) {
	f := newFixture(t, testConfig())
	seen := make(map[string]bool, 20000)
	for range 10000 {
		for _, id := range []string{f.net.messageID(), f.net.phoneMessageID()} {
			if seen[id] {
				t.Fatalf("id %s handed out twice", id)
			}
			seen[id] = true
		}
	}
}

// TestSendEveryKind sends each kind between two sandbox numbers: the sender gets the
// same acks as for text, the recipient the kind, caption and the kind's field, never
// media data.
func TestSendEveryKind(t *testing.T) {
	cfg := testConfig()
	cfg.DeliveryDelay = config.Duration(200 * time.Millisecond)
	cfg.ReadDelay = config.Duration(time.Second)
	f := newFixture(t, cfg)
	alice, aliceRec := f.linked("tenant-a", "alice", "15550000001")
	_, bobRec := f.linked("tenant-b", "bob", "15550000002")
	bob := chatid.MustParse("15550000002")
	png := []byte("\x89PNG\r\n\x1a\n")

	for _, tc := range []struct {
		name string
		msg  provider.Outbound
		want provider.Inbound // what bob receives, ids and time aside
	}{
		{"image by url",
			provider.Outbound{Kind: provider.KindImage, Text: "look", Media: &provider.Media{URL: "https://example.invalid/cat.jpg", Mimetype: "image/jpeg"}},
			provider.Inbound{Kind: provider.KindImage, Text: "look", Media: &provider.Media{URL: "https://example.invalid/cat.jpg", Mimetype: "image/jpeg"}}},
		{"image by data",
			provider.Outbound{Kind: provider.KindImage, Media: &provider.Media{Data: png, Mimetype: "image/png", Filename: "dot.png"}},
			provider.Inbound{Kind: provider.KindImage, Media: &provider.Media{Mimetype: "image/png", Filename: "dot.png"}}},
		{"file",
			provider.Outbound{Kind: provider.KindFile, Text: "the report", Media: &provider.Media{Data: []byte("%PDF-1.7"), Mimetype: "application/pdf", Filename: "q3.pdf"}},
			provider.Inbound{Kind: provider.KindFile, Text: "the report", Media: &provider.Media{Mimetype: "application/pdf", Filename: "q3.pdf"}}},
		{"voice",
			provider.Outbound{Kind: provider.KindVoice, Media: &provider.Media{URL: "http://example.invalid/v.ogg", Mimetype: "audio/ogg; codecs=opus"}},
			provider.Inbound{Kind: provider.KindVoice, Media: &provider.Media{URL: "http://example.invalid/v.ogg", Mimetype: "audio/ogg; codecs=opus"}}},
		{"video",
			provider.Outbound{Kind: provider.KindVideo, Text: "clip", Media: &provider.Media{Data: []byte{0, 0, 0, 0x18}, Mimetype: "video/mp4"}},
			provider.Inbound{Kind: provider.KindVideo, Text: "clip", Media: &provider.Media{Mimetype: "video/mp4"}}},
		{"location",
			provider.Outbound{Kind: provider.KindLocation, Location: &provider.Location{Latitude: 52.52, Longitude: 13.405, Title: "Berlin", Address: "Pariser Platz"}},
			provider.Inbound{Kind: provider.KindLocation, Location: &provider.Location{Latitude: 52.52, Longitude: 13.405, Title: "Berlin", Address: "Pariser Platz"}}},
		{"contacts",
			provider.Outbound{Kind: provider.KindContact, Contacts: []provider.Contact{{FullName: "Jane", Phone: "+1 555 0100"}, {VCard: "BEGIN:VCARD\nFN:Joe\nEND:VCARD"}}},
			provider.Inbound{Kind: provider.KindContact, Contacts: []provider.Contact{{FullName: "Jane", Phone: "+1 555 0100"}, {VCard: "BEGIN:VCARD\nFN:Joe\nEND:VCARD"}}}},
		{"reaction",
			provider.Outbound{Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "3EB0AAAAAAAAAAAAAAAA", Emoji: "👍", FromMe: true}},
			provider.Inbound{Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "3EB0AAAAAAAAAAAAAAAA", Emoji: "👍"}}},
		{"reaction removed",
			provider.Outbound{Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "3EB0AAAAAAAAAAAAAAAA"}},
			provider.Inbound{Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "3EB0AAAAAAAAAAAAAAAA"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.msg
			msg.ID, msg.ChatID = "m-"+tc.name, bob
			res, err := alice.Send(context.Background(), msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if !webMessageID.MatchString(res.ProviderID) {
				t.Fatalf("ProviderID %q is not 3EB0 + 16 hex", res.ProviderID)
			}
			alicePhone := chatid.MustParse("15550000001")
			want := tc.want
			want.ProviderID, want.ChatID, want.From, want.Timestamp = res.ProviderID, alicePhone, alicePhone, res.Timestamp
			if got := bobRec.message(); !reflect.DeepEqual(got, want) {
				t.Fatalf("bob got %s\nwant %s", dump(got), dump(want))
			}
			f.advance(200 * time.Millisecond)
			aliceRec.ack(res.ProviderID, provider.AckDelivered)
			f.advance(time.Second)
			aliceRec.ack(res.ProviderID, provider.AckRead)
			aliceRec.none()
		})
	}
}

// TestInboundDoesNotAlias checks that what the recipient gets shares nothing with the
// sender's message: changing one after the send leaves the other alone.
func TestInboundDoesNotAlias(t *testing.T) {
	f := newFixture(t, testConfig())
	alice, _ := f.linked("t1", "alice", "15550000001")
	_, bobRec := f.linked("t1", "bob", "15550000002")
	msg := provider.Outbound{ID: "m1", ChatID: chatid.MustParse("15550000002"), Kind: provider.KindContact,
		Contacts: []provider.Contact{{FullName: "Jane", Phone: "15550100"}}}
	if _, err := alice.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msg.Contacts[0].FullName = "changed"
	if got := bobRec.message(); got.Contacts[0].FullName != "Jane" {
		t.Fatalf("bob's contact changed with the sender's: %+v", got.Contacts)
	}
}

func dump(m provider.Inbound) string {
	b, _ := json.Marshal(m)
	return string(b)
}
