package cloudapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// TestSendBodies checks the JSON body of every kind against Meta's documented request,
// field by field, and the request line and headers of each.
func TestSendBodies(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	vcard := "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Roe\r\nORG:Acme;Sales\r\nitem1.TEL;type=CELL;type=VOICE;waid=15550002222:+1 555 000\r\n 2222\r\nEND:VCARD"
	cases := []struct {
		name string
		msg  provider.Outbound
		want string
	}{
		{"text", provider.Outbound{Kind: provider.KindText, Text: "hello there"},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text",
			  "text":{"preview_url":false,"body":"hello there"}}`},
		{"text with a link, as a reply", provider.Outbound{Kind: provider.KindText, Text: "see https://example.com/x", ReplyTo: "wamid.IN1"},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text",
			  "context":{"message_id":"wamid.IN1"},"text":{"preview_url":true,"body":"see https://example.com/x"}}`},
		{"text with a link, previews refused", provider.Outbound{Kind: provider.KindText, Text: "see https://example.com/x", NoPreview: true},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text",
			  "text":{"preview_url":false,"body":"see https://example.com/x"}}`},
		{"text with the sender's card", provider.Outbound{Kind: provider.KindText, Text: "see https://example.com/x",
			Preview: &provider.LinkPreview{URL: "https://example.com/x", Title: "X"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text",
			  "text":{"preview_url":true,"body":"see https://example.com/x"}}`},
		{"image by link", provider.Outbound{Kind: provider.KindImage, Text: "our shop", Media: &provider.Media{URL: "https://example.com/shop.jpg"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"image",
			  "image":{"link":"https://example.com/shop.jpg","caption":"our shop"}}`},
		{"video by link", provider.Outbound{Kind: provider.KindVideo, Text: "demo", Media: &provider.Media{URL: "https://example.com/demo.mp4"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"video",
			  "video":{"link":"https://example.com/demo.mp4","caption":"demo"}}`},
		{"voice by link drops the caption", provider.Outbound{Kind: provider.KindVoice, Text: "ignored", Media: &provider.Media{URL: "https://example.com/v.ogg"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"audio",
			  "audio":{"link":"https://example.com/v.ogg"}}`},
		{"sticker by link, no caption", provider.Outbound{Kind: provider.KindSticker, Text: "ignored", Media: &provider.Media{URL: "https://example.com/s.webp"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"sticker",
			  "sticker":{"link":"https://example.com/s.webp"}}`},
		{"document by link", provider.Outbound{Kind: provider.KindFile, Text: "invoice", Media: &provider.Media{URL: "https://example.com/i.pdf", Filename: "invoice.pdf"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"document",
			  "document":{"link":"https://example.com/i.pdf","caption":"invoice","filename":"invoice.pdf"}}`},
		{"location", provider.Outbound{Kind: provider.KindLocation, Location: &provider.Location{Latitude: 37.4847, Longitude: -122.1477, Title: "HQ", Address: "1 Hacker Way"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"location",
			  "location":{"latitude":37.4847,"longitude":-122.1477,"name":"HQ","address":"1 Hacker Way"}}`},
		{"contacts from fields and from a vCard", provider.Outbound{Kind: provider.KindContact, Contacts: []provider.Contact{
			{FullName: "John Doe", Organization: "Acme", Phone: "+1 555 000 1111", WhatsAppID: "15550001111"},
			{VCard: vcard},
			{FullName: "No Phone"},
		}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"contacts",
			  "contacts":[
			    {"name":{"formatted_name":"John Doe","first_name":"John Doe"},"org":{"company":"Acme"},
			     "phones":[{"phone":"+1 555 000 1111","type":"CELL","wa_id":"15550001111"}]},
			    {"name":{"formatted_name":"Jane Roe","first_name":"Jane Roe"},"org":{"company":"Acme Sales"},
			     "phones":[{"phone":"+1 555 0002222","type":"CELL","wa_id":"15550002222"}]},
			    {"name":{"formatted_name":"No Phone","first_name":"No Phone"}}]}`},
		{"reaction", provider.Outbound{Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "wamid.IN2", Emoji: "👍"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"reaction",
			  "reaction":{"message_id":"wamid.IN2","emoji":"👍"}}`},
		{"reaction removed", provider.Outbound{Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "wamid.IN2"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"reaction",
			  "reaction":{"message_id":"wamid.IN2","emoji":""}}`},
		{"template with components", provider.Outbound{Kind: provider.KindTemplate, Template: &provider.Template{
			Name: "order_shipped", Language: "en_US",
			Components: json.RawMessage(`[{"type":"body","parameters":[{"type":"text","text":"#1234"},{"type":"currency","currency":{"fallback_value":"$10","code":"USD","amount_1000":10000}}]},
			  {"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"track/1234"}]}]`)}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template",
			  "template":{"name":"order_shipped","language":{"code":"en_US"},"components":[
			    {"type":"body","parameters":[{"type":"text","text":"#1234"},{"type":"currency","currency":{"fallback_value":"$10","code":"USD","amount_1000":10000}}]},
			    {"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"track/1234"}]}]}}`},
		{"template without variables", provider.Outbound{Kind: provider.KindTemplate, Template: &provider.Template{Name: "hello_world", Language: "en_US"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"template",
			  "template":{"name":"hello_world","language":{"code":"en_US"}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.graph.reset()
			c.msg.ID, c.msg.ChatID = "msg_1", customer
			res, err := r.p.Send(ctxTimeout(t, 5*time.Second), c.msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if want := "wamid.TEST"; !strings.HasPrefix(res.ProviderID, want) || res.Timestamp.IsZero() {
				t.Errorf("result %+v", res)
			}
			calls := r.graph.snapshot()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1: %+v", len(calls), calls)
			}
			call := calls[0]
			if call.Method != "POST" || call.Path != "/v23.0/"+testPhoneNumberID+"/messages" ||
				call.Auth != "Bearer "+testToken || call.ContentType != "application/json" {
				t.Errorf("request %s %s auth %q type %q", call.Method, call.Path, call.Auth, call.ContentType)
			}
			assertJSON(t, call.Body, c.want)
		})
	}
}

// assertJSON compares a JSON body with the expected document, key by key.
func assertJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body differs:\n got %s\nwant %s", got, compact(want))
	}
}

func compact(s string) string {
	var v any
	json.Unmarshal([]byte(s), &v)
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSendUploadsData: media given as bytes is uploaded to /media as the documented
// multipart form, then sent by the id Meta returned.
func TestSendUploadsData(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	png := []byte("\x89PNG\r\n\x1a\n fake image")
	cases := []struct {
		kind          provider.Kind
		media         provider.Media
		wantType      string
		wantFileName  string
		wantMediaBody func(id string) string
	}{
		{provider.KindImage, provider.Media{Data: png, Mimetype: "image/png", Filename: "logo.png"}, "image", "logo.png",
			func(id string) string { return `{"id":"` + id + `","caption":"the logo"}` }},
		{provider.KindFile, provider.Media{Data: []byte("%PDF-1.7"), Mimetype: "application/pdf", Filename: "q3 \"report\".pdf"}, "document", "q3 _report_.pdf",
			func(id string) string {
				return `{"id":"` + id + `","caption":"the logo","filename":"q3 \"report\".pdf"}`
			}},
		{provider.KindVoice, provider.Media{Data: []byte("OggS"), Mimetype: "audio/ogg; codecs=opus"}, "audio", "voice",
			func(id string) string { return `{"id":"` + id + `"}` }},
	}
	for _, c := range cases {
		t.Run(string(c.kind), func(t *testing.T) {
			r.graph.reset()
			media := c.media
			if _, err := r.p.Send(ctxTimeout(t, 5*time.Second), provider.Outbound{ChatID: customer, Kind: c.kind, Text: "the logo", Media: &media}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			calls := r.graph.snapshot()
			if len(calls) != 2 {
				t.Fatalf("%d calls, want upload then send: %+v", len(calls), calls)
			}
			up := calls[0]
			if up.Method != "POST" || up.Path != "/v23.0/"+testPhoneNumberID+"/media" || up.Auth != "Bearer "+testToken ||
				!strings.HasPrefix(up.ContentType, "multipart/form-data; boundary=") {
				t.Errorf("upload request %s %s %q %q", up.Method, up.Path, up.Auth, up.ContentType)
			}
			if up.Fields["messaging_product"] != "whatsapp" || up.Fields["type"] != c.media.Mimetype || len(up.Fields) != 2 {
				t.Errorf("upload fields %v", up.Fields)
			}
			if string(up.File) != string(c.media.Data) || up.FileCT != c.media.Mimetype || up.FileName != c.wantFileName {
				t.Errorf("upload file %q (%s, %q)", up.File, up.FileCT, up.FileName)
			}
			var sent map[string]json.RawMessage
			json.Unmarshal(calls[1].Body, &sent)
			var typ string
			json.Unmarshal(sent["type"], &typ)
			var obj struct {
				ID string `json:"id"`
			}
			json.Unmarshal(sent[c.wantType], &obj)
			if typ != c.wantType || obj.ID == "" {
				t.Fatalf("send body %s", calls[1].Body)
			}
			assertJSON(t, sent[c.wantType], c.wantMediaBody(obj.ID))
		})
	}
}

func TestMarkMessageRead(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	if err := r.p.MarkMessageRead(ctxTimeout(t, 5*time.Second), "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="); err != nil {
		t.Fatal(err)
	}
	calls := r.graph.snapshot()
	if len(calls) != 1 || calls[0].Method != "POST" || calls[0].Path != "/v23.0/"+testPhoneNumberID+"/messages" || calls[0].Auth != "Bearer "+testToken {
		t.Fatalf("calls %+v", calls)
	}
	assertJSON(t, calls[0].Body, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="}`)

	r.graph.setAnswer(func(graphCall) (int, string, bool) { return 200, `{"success":false}`, true })
	var se *provider.SendError
	if err := r.p.MarkMessageRead(ctxTimeout(t, 5*time.Second), "wamid.X"); !errors.As(err, &se) || !errors.Is(err, ErrBadResponse) {
		t.Errorf("success false: %v", err)
	}
	r.graph.setAnswer(func(graphCall) (int, string, bool) {
		return 400, metaError(100, "Invalid parameter", "Invalid message_id"), true
	})
	if err := r.p.MarkMessageRead(ctxTimeout(t, 5*time.Second), "wamid.X"); !errors.As(err, &se) || se.Code != CodeInvalidParameter {
		t.Errorf("invalid id: %v", err)
	}
	if err := r.p.MarkMessageRead(ctxTimeout(t, 5*time.Second), ""); !errors.As(err, &se) || se.Code != CodeInvalidMessage {
		t.Errorf("empty id: %v", err)
	}
}

// TestSendRefusesWithoutCalling: what cannot be sent fails before any request.
func TestSendRefusesWithoutCalling(t *testing.T) {
	r := newRig(t, nil)
	r.start()
	group := chatid.MustParse("120363012345678901@g.us")
	lid := chatid.MustParse("123456789012345@lid")
	cases := []struct {
		name     string
		msg      provider.Outbound
		code     string
		sentinel error
	}{
		{"group", provider.Outbound{ChatID: group, Kind: provider.KindText, Text: "x"}, CodeUnsupported, provider.ErrUnsupported},
		{"newsletter", provider.Outbound{ChatID: chatid.MustParse("120363012345678901@newsletter"), Kind: provider.KindText, Text: "x"}, CodeUnsupported, provider.ErrUnsupported},
		{"status", provider.Outbound{ChatID: chatid.StatusBroadcast, Kind: provider.KindText, Text: "x"}, CodeUnsupported, provider.ErrUnsupported},
		{"broadcast list", provider.Outbound{ChatID: chatid.MustParse("1612345678@broadcast"), Kind: provider.KindText, Text: "x"}, CodeUnsupported, provider.ErrUnsupported},
		{"lid", provider.Outbound{ChatID: lid, Kind: provider.KindText, Text: "x"}, CodeInvalidRecipient, provider.ErrInvalidRecipient},
		{"empty text", provider.Outbound{ChatID: customer, Kind: provider.KindText}, CodeInvalidMessage, ErrInvalidMessage},
		{"image without media", provider.Outbound{ChatID: customer, Kind: provider.KindImage}, CodeInvalidMessage, ErrInvalidMessage},
		{"image with url and data", provider.Outbound{ChatID: customer, Kind: provider.KindImage, Media: &provider.Media{URL: "https://x/y", Data: []byte("z")}}, CodeInvalidMessage, ErrInvalidMessage},
		{"location without place", provider.Outbound{ChatID: customer, Kind: provider.KindLocation}, CodeInvalidMessage, ErrInvalidMessage},
		{"contact without card", provider.Outbound{ChatID: customer, Kind: provider.KindContact}, CodeInvalidMessage, ErrInvalidMessage},
		{"contact without name", provider.Outbound{ChatID: customer, Kind: provider.KindContact, Contacts: []provider.Contact{{Phone: "+1"}}}, CodeInvalidMessage, ErrInvalidMessage},
		{"reaction without target", provider.Outbound{ChatID: customer, Kind: provider.KindReaction, Reaction: &provider.Reaction{Emoji: "x"}}, CodeInvalidMessage, ErrInvalidMessage},
		{"template without language", provider.Outbound{ChatID: customer, Kind: provider.KindTemplate, Template: &provider.Template{Name: "t"}}, CodeInvalidMessage, ErrInvalidMessage},
		{"template components not an array", provider.Outbound{ChatID: customer, Kind: provider.KindTemplate, Template: &provider.Template{Name: "t", Language: "en", Components: json.RawMessage(`{"type":"body"}`)}}, CodeInvalidMessage, ErrInvalidMessage},
		{"unknown kind", provider.Outbound{ChatID: customer, Kind: "poll"}, CodeUnsupported, provider.ErrUnsupported},
		{"edit is inbound only", provider.Outbound{ChatID: customer, Kind: provider.KindEdit, Text: "x"}, CodeUnsupported, provider.ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.p.Send(ctxTimeout(t, time.Second), c.msg)
			var se *provider.SendError
			if !errors.As(err, &se) || se.Code != c.code || se.Retryable || !errors.Is(err, c.sentinel) {
				t.Errorf("err = %v, want SendError %s wrapping %v, not retryable", err, c.code, c.sentinel)
			}
		})
	}
	if n := len(r.graph.snapshot()); n != 0 {
		t.Errorf("%d requests reached the Graph API, want none", n)
	}
}
