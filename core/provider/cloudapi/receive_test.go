package cloudapi

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// TestWebhookMessages feeds Meta's documented payloads (testdata/) to HandleWebhook and
// checks the events, field by field.
func TestWebhookMessages(t *testing.T) {
	at := time.Unix(1749416383, 0)
	in := func(id string, kind provider.Kind, text string) provider.Inbound {
		return provider.Inbound{ProviderID: id, ChatID: customer, From: customer, Kind: kind, Text: text, Timestamp: at}
	}
	with := func(m provider.Inbound, f func(*provider.Inbound)) provider.Inbound { f(&m); return m }
	cases := []struct {
		fixture string
		want    provider.Inbound
	}{
		{"message_text.json", in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", provider.KindText, "Does it come in another color?")},
		{"message_text_reply.json", in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRCRDcwNzgzMTRDNTAwRTgwRQA=", provider.KindText, "Yes, the blue one")},
		{"message_image.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFCRDM2MDJFQUQ0NTBBMjVBNQA=", provider.KindImage, "This is the one"),
			func(m *provider.Inbound) { m.Media = &provider.Media{Mimetype: "image/jpeg"} })},
		{"message_video.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTBGM0I0RDdBNzYyQkE0NEI3OAA=", provider.KindVideo, "Unboxing"),
			func(m *provider.Inbound) { m.Media = &provider.Media{Mimetype: "video/mp4"} })},
		{"message_audio.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUZCRTg3QjFBNjYyNTM2MUI3NQA=", provider.KindVoice, ""),
			func(m *provider.Inbound) { m.Media = &provider.Media{Mimetype: "audio/ogg; codecs=opus"} })},
		{"message_document.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJENjM1MEJEMTgyMEU2RTVFQgA=", provider.KindFile, "Lucky Shrub Invoice"),
			func(m *provider.Inbound) {
				m.Media = &provider.Media{Mimetype: "application/pdf", Filename: "lucky-shrub-invoice.pdf"}
			})},
		{"message_sticker.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTdDRDNFOTIxNDVENjJCQUEzRQA=", provider.KindSticker, ""),
			func(m *provider.Inbound) { m.Media = &provider.Media{Mimetype: "image/webp"} })},
		{"message_location.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ5OEFCRDNBODQ3QkY5QTkxQQA=", provider.KindLocation, ""),
			func(m *provider.Inbound) {
				m.Location = &provider.Location{Latitude: 37.483307, Longitude: -122.148981, Title: "Philz Coffee", Address: "1 Hacker Way, Menlo Park, CA 94025"}
			})},
		{"message_contacts.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJCRUE0NjBDNjdGNkQ4MjlFNgA=", provider.KindContact, ""),
			func(m *provider.Inbound) {
				m.Contacts = []provider.Contact{{FullName: "Barbara J. Johnson", Organization: "Lucky Shrub", Phone: "+1 (940) 555-1234", WhatsAppID: "19405551234"}}
			})},
		{"message_interactive_button_reply.json", in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUIyQjY1NjM3QTc2NDgwN0JBMAA=", provider.KindText, "Change")},
		{"message_interactive_list_reply.json", in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUE4QUY4RDcxMTZGNTc4QTk4MgA=", provider.KindText, "Express Shipping")},
		{"message_button.json", in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUE0QjU1MTg0QzNGODJEMEEyOQA=", provider.KindText, "Stop promotions")},
		{"message_reaction.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUY5MzVBNkRCNzE2NEQ2RjM3MgA=", provider.KindReaction, ""),
			func(m *provider.Inbound) {
				m.Reaction = &provider.Reaction{MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", Emoji: "😀"}
			})},
		{"message_reaction_removed.json", with(in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUY5MzVBNkRCNzE2NEQ2RjM3MwA=", provider.KindReaction, ""),
			func(m *provider.Inbound) {
				m.Reaction = &provider.Reaction{MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}
			})},
		{"message_unsupported.json", in("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNzJFMDUwNjQ4NDlDODNFRQA=", provider.KindUnsupported,
			`unsupported message type "unsupported": unsupported: (#131051) Message type unknown: Message type is currently not supported.`)},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			r := newRig(t, nil)
			r.start()
			if err := r.p.HandleWebhook(context.Background(), fixture(t, c.fixture)); err != nil {
				t.Fatal(err)
			}
			msgs := messages(r.rec.all())
			if len(msgs) != 1 {
				t.Fatalf("%d message events, want 1: %+v", len(msgs), r.rec.all())
			}
			if !reflect.DeepEqual(msgs[0], c.want) {
				t.Errorf("inbound\n got %+v\nwant %+v", msgs[0], c.want)
				if msgs[0].Media != nil {
					t.Logf("media %+v", *msgs[0].Media)
				}
			}
			// Every message opens the sender's window at its own time.
			last, err := r.p.LastInbound(context.Background(), customer)
			if err != nil || !last.Equal(at) {
				t.Errorf("LastInbound = %v, %v; want %v", last, err, at)
			}
		})
	}
}

func messages(evs []provider.Event) []provider.Inbound {
	var out []provider.Inbound
	for _, ev := range evs {
		if m, ok := ev.(provider.MessageEvent); ok {
			out = append(out, m.Message)
		}
	}
	return out
}

func acks(evs []provider.Event) []provider.AckEvent {
	var out []provider.AckEvent
	for _, ev := range evs {
		if a, ok := ev.(provider.AckEvent); ok {
			out = append(out, a)
		}
	}
	return out
}

// TestWebhookStatuses: statuses become acks keyed by the wamid; "sent" is not
// reported (Send's return was the sent ack); failed carries Meta's errors.
func TestWebhookStatuses(t *testing.T) {
	const wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQUJDMjFEQzZCQUMzODMA"
	cases := []struct {
		fixture string
		want    []provider.AckEvent
	}{
		{"status_sent.json", nil},
		{"status_delivered.json", []provider.AckEvent{{ProviderID: wamid, ChatID: customer, Ack: provider.AckDelivered}}},
		{"status_read.json", []provider.AckEvent{{ProviderID: wamid, ChatID: customer, Ack: provider.AckRead}}},
		{"status_failed.json", []provider.AckEvent{{ProviderID: wamid, ChatID: customer, Ack: provider.AckFailed,
			Error: "recipient_opted_out: (#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business."}}},
		{"status_failed_reengagement.json", []provider.AckEvent{{ProviderID: wamid, ChatID: customer, Ack: provider.AckFailed,
			Error: "reengagement_required: (#131047) Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			r := newRig(t, nil)
			r.start()
			if err := r.p.HandleWebhook(context.Background(), fixture(t, c.fixture)); err != nil {
				t.Fatal(err)
			}
			if got := acks(r.rec.all()); !reflect.DeepEqual(got, c.want) {
				t.Errorf("acks\n got %+v\nwant %+v", got, c.want)
			}
			if len(messages(r.rec.all())) != 0 {
				t.Error("a status produced a message event")
			}
			// A receipt is not the contact writing: the window does not move.
			if last, _ := r.p.LastInbound(context.Background(), customer); !last.IsZero() {
				t.Errorf("LastInbound after a status = %v, want zero", last)
			}
		})
	}
}

// TestWebhookRouting: a delivery for several numbers of one app (and other webhook
// fields) yields the events of this session's number only; PhoneNumberIDs lists the
// numbers so the API can hand the body to each.
func TestWebhookRouting(t *testing.T) {
	body := fixture(t, "two_numbers.json")
	if got := PhoneNumberIDs(body); !slices.Equal(got, []string{testPhoneNumberID, "209876543210987"}) {
		t.Errorf("PhoneNumberIDs = %v", got)
	}
	if got := PhoneNumberIDs([]byte("not json")); got != nil {
		t.Errorf("PhoneNumberIDs of garbage = %v", got)
	}
	r := newRig(t, nil)
	r.start()
	if err := r.p.HandleWebhook(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	msgs := messages(r.rec.all())
	if len(msgs) != 1 || msgs[0].ProviderID != "wamid.A" || msgs[0].Text != "to the first number" {
		t.Errorf("messages %+v", msgs)
	}
	// The other number's session sees the other message.
	other := newRig(t, map[string]any{"phoneNumberId": "209876543210987"})
	other.graph.setAnswer(func(c graphCall) (int, string, bool) {
		if c.Method == "GET" {
			return 200, `{"verified_name":"Acme Sales","display_phone_number":"15550009999","id":"209876543210987"}`, true
		}
		return 0, "", false
	})
	other.start()
	if err := other.p.HandleWebhook(context.Background(), body); err != nil {
		t.Fatal(err)
	}
	if msgs := messages(other.rec.all()); len(msgs) != 1 || msgs[0].ProviderID != "wamid.B" {
		t.Errorf("other number's messages %+v", msgs)
	}
}

func TestWebhookStatesAndErrors(t *testing.T) {
	r := newRig(t, nil)
	body := fixture(t, "message_text.json")
	if err := r.p.HandleWebhook(context.Background(), body); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("before Start: %v", err)
	}
	r.start()
	if err := r.p.HandleWebhook(context.Background(), []byte(`{"entry":`)); !errors.Is(err, ErrBadPayload) {
		t.Errorf("truncated body: %v", err)
	}
	if err := r.p.HandleWebhook(context.Background(), []byte(`{"object":"page","entry":[]}`)); err != nil {
		t.Errorf("another object: %v", err)
	}
	// FAILED by its account, the session still takes inbound messages.
	r.graph.setAnswer(func(graphCall) (int, string, bool) { return 401, metaError(190, "Access token has expired", ""), true })
	r.p.Send(context.Background(), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "x"})
	r.rec.waitStatus(t, provider.StatusFailed)
	if err := r.p.HandleWebhook(context.Background(), body); err != nil {
		t.Errorf("after auth failure: %v", err)
	}
	if n := len(messages(r.rec.all())); n != 1 {
		t.Errorf("%d messages", n)
	}
	r.p.Stop(context.Background())
	if err := r.p.HandleWebhook(context.Background(), body); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("after Stop: %v", err)
	}
	// A message without a usable sender is skipped, the rest of the delivery is not.
	r.graph.setAnswer(nil)
	r.start()
	bad := strings.Replace(string(body), `"from": "16505551234"`, `"from": "not-a-number"`, 1)
	if err := r.p.HandleWebhook(context.Background(), []byte(bad)); err != nil {
		t.Fatal(err)
	}
	if n := len(messages(r.rec.all())); n != 1 {
		t.Errorf("%d messages after a bad sender, want still 1", n)
	}
}

// TestLastInboundMovesForward: the window starts at the newest message; an older one
// delivered late does not move it back; chats are separate.
func TestLastInboundMovesForward(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	body := string(fixture(t, "message_text.json"))
	deliver := func(ts string, from string) {
		b := strings.Replace(body, `"timestamp": "1749416383"`, `"timestamp": "`+ts+`"`, 1)
		b = strings.Replace(b, `"from": "16505551234"`, `"from": "`+from+`"`, 1)
		if err := r.p.HandleWebhook(context.Background(), []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	deliver("1749420000", "16505551234")
	deliver("1749410000", "16505551234") // late, older
	deliver("1749430000", "16505559999")
	last, _ := r.p.LastInbound(context.Background(), customer)
	if !last.Equal(time.Unix(1749420000, 0)) {
		t.Errorf("LastInbound = %v", last)
	}
	other, _ := r.f.LastInbound(context.Background(), "acme", "support", chatid.MustParse("16505559999"))
	if !other.Equal(time.Unix(1749430000, 0)) {
		t.Errorf("other chat LastInbound = %v", other)
	}
	never, _ := r.f.LastInbound(context.Background(), "acme", "support", chatid.MustParse("15550000000"))
	if !never.IsZero() {
		t.Errorf("never wrote: %v", never)
	}
	if !WindowOpen(last, last.Add(23*time.Hour)) || WindowOpen(last, last.Add(24*time.Hour)) || WindowOpen(time.Time{}, last) {
		t.Error("WindowOpen disagrees with the 24-hour window")
	}
}

func TestDownloadMedia(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	if err := r.p.HandleWebhook(context.Background(), fixture(t, "message_image.json")); err != nil {
		t.Fatal(err)
	}
	const wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFCRDM2MDJFQUQ0NTBBMjVBNQA="
	m, err := r.p.DownloadMedia(context.Background(), wamid)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "file bytes of 1003383421387256" || m.Mimetype != "image/jpeg" {
		t.Errorf("media %q %s", m.Data, m.Mimetype)
	}
	calls := r.graph.snapshot()
	if len(calls) != 2 || calls[0].Path != "/v23.0/1003383421387256" || calls[1].Path != "/download/1003383421387256" ||
		calls[0].Auth != "Bearer "+testToken || calls[1].Auth != "Bearer "+testToken {
		t.Errorf("calls %+v", calls)
	}
	if _, err := r.p.DownloadMedia(context.Background(), "wamid.unknown"); !errors.Is(err, ErrNoMedia) {
		t.Errorf("unknown message: %v", err)
	}
	r.graph.setAnswer(func(c graphCall) (int, string, bool) {
		if strings.HasSuffix(c.Path, "/1003383421387256") {
			return 200, `{"url":"` + r.graph.srv.URL + `/download/x","mime_type":"image/jpeg","file_size":999999999}`, true
		}
		return 0, "", false
	})
	if _, err := r.p.DownloadMedia(context.Background(), wamid); !errors.Is(err, ErrMediaTooLarge) {
		t.Errorf("huge file: %v", err)
	}
	r.graph.setAnswer(func(c graphCall) (int, string, bool) {
		return 404, metaError(100, "Unsupported get request", "media expired"), true
	})
	var se *provider.SendError
	if _, err := r.p.DownloadMedia(context.Background(), wamid); !errors.As(err, &se) || se.Code != CodeInvalidParameter {
		t.Errorf("expired media: %v", err)
	}
}
