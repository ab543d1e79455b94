package whatsmeow

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// uploaded is what the fake's Upload answers for data, as the message carries it.
func uploaded(n int) (url, path *string, key, enc, sha []byte, length *uint64) {
	return proto.String("https://mmg.whatsapp.net/x"), proto.String("/v/x"), bytes.Repeat([]byte{1}, 32),
		bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32), proto.Uint64(uint64(n))
}

// webp returns a WebP file: a simple one (VP8) or an extended one with the
// animation flag (VP8X, flags 0x02).
func webp(animated bool) []byte {
	if animated {
		return []byte("RIFF\x1a\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	}
	return []byte("RIFF\x1a\x00\x00\x00WEBPVP8 \x0e\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
}

// Status updates, forwards and stickers reach whatsmeow as exactly these messages.
func TestSendStatusForwardSticker(t *testing.T) {
	alice := chatid.MustParse("15551230001")
	forward := &waE2E.ContextInfo{IsForwarded: proto.Bool(true), ForwardingScore: proto.Uint32(1)}
	png := []byte("\x89PNG\r\n\x1a\nimage")
	url, path, key, enc, sha, _ := uploaded(0)
	still, moving := webp(false), webp(true)
	cases := []struct {
		name string
		msg  provider.Outbound
		to   types.JID
		want *waE2E.Message
	}{
		{"text status", provider.Outbound{ID: "s1", ChatID: chatid.StatusBroadcast, Kind: provider.KindText, Text: "Open today",
			Status: &provider.StatusOptions{BackgroundColor: "#1a2B3c", Font: 3, Audience: []chatid.ID{alice}}}, types.StatusBroadcastJID,
			&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("Open today"),
				TextArgb: proto.Uint32(0xFFFFFFFF), BackgroundArgb: proto.Uint32(0xFF1A2B3C), Font: waE2E.ExtendedTextMessage_FontType(3).Enum()}}},
		{"text status, default look", provider.Outbound{ID: "s2", ChatID: chatid.StatusBroadcast, Kind: provider.KindText, Text: "x"}, types.StatusBroadcastJID,
			&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("x"),
				TextArgb: proto.Uint32(0xFFFFFFFF), BackgroundArgb: proto.Uint32(0xFF38B42F), Font: waE2E.ExtendedTextMessage_SYSTEM.Enum()}}},
		{"status revoke", provider.Outbound{ID: "s3", ChatID: chatid.StatusBroadcast, Kind: provider.KindRevoke, Target: "3EB0STATUS"}, types.StatusBroadcastJID,
			&waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(),
				Key: &waCommon.MessageKey{RemoteJID: proto.String("status@broadcast"), FromMe: proto.Bool(true), ID: proto.String("3EB0STATUS")}}}},
		{"voice status", provider.Outbound{ID: "s4", ChatID: chatid.StatusBroadcast, Kind: provider.KindVoice,
			Media:  &provider.Media{Data: []byte("OggS"), Mimetype: "audio/ogg; codecs=opus"},
			Status: &provider.StatusOptions{BackgroundColor: "#000080"}}, types.StatusBroadcastJID,
			&waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true), Mimetype: proto.String("audio/ogg; codecs=opus"),
				BackgroundArgb: proto.Uint32(0xFF000080), URL: url, DirectPath: path, MediaKey: key, FileEncSHA256: enc, FileSHA256: sha, FileLength: proto.Uint64(4)}}},
		{"image status", provider.Outbound{ID: "s5", ChatID: chatid.StatusBroadcast, Kind: provider.KindImage, Text: "new menu",
			Media: &provider.Media{Data: png, Mimetype: "image/png"}}, types.StatusBroadcastJID,
			&waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("new menu"), Mimetype: proto.String("image/png"),
				URL: url, DirectPath: path, MediaKey: key, FileEncSHA256: enc, FileSHA256: sha, FileLength: proto.Uint64(uint64(len(png)))}}},
		{"forwarded text", provider.Outbound{ID: "f1", ChatID: alice, Kind: provider.KindText, Text: "fwd", Forwarded: true}, alicePN,
			&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("fwd"), ContextInfo: forward}}},
		{"forwarded reply", provider.Outbound{ID: "f2", ChatID: alice, Kind: provider.KindText, Text: "fwd", Forwarded: true, ReplyTo: "3AQ"}, alicePN,
			&waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("fwd"), ContextInfo: &waE2E.ContextInfo{
				StanzaID: proto.String("3AQ"), IsForwarded: proto.Bool(true), ForwardingScore: proto.Uint32(1)}}}},
		{"forwarded image", provider.Outbound{ID: "f3", ChatID: alice, Kind: provider.KindImage, Forwarded: true,
			Media: &provider.Media{Data: png, Mimetype: "image/png"}}, alicePN,
			&waE2E.Message{ImageMessage: &waE2E.ImageMessage{Mimetype: proto.String("image/png"), ContextInfo: forward,
				URL: url, DirectPath: path, MediaKey: key, FileEncSHA256: enc, FileSHA256: sha, FileLength: proto.Uint64(uint64(len(png)))}}},
		{"forwarded location", provider.Outbound{ID: "f4", ChatID: alice, Kind: provider.KindLocation, Forwarded: true,
			Location: &provider.Location{Latitude: 1, Longitude: 2}}, alicePN,
			&waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: proto.Float64(1), DegreesLongitude: proto.Float64(2), ContextInfo: forward}}},
		{"sticker", provider.Outbound{ID: "k1", ChatID: alice, Kind: provider.KindSticker,
			Media: &provider.Media{Data: still, Mimetype: "application/octet-stream"}}, alicePN,
			&waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp"), IsAnimated: proto.Bool(false),
				URL: url, DirectPath: path, MediaKey: key, FileEncSHA256: enc, FileSHA256: sha, FileLength: proto.Uint64(uint64(len(still)))}}},
		{"animated forwarded sticker", provider.Outbound{ID: "k2", ChatID: alice, Kind: provider.KindSticker, Forwarded: true,
			Media: &provider.Media{Data: moving, Mimetype: "image/webp"}}, alicePN,
			&waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp"), IsAnimated: proto.Bool(true), ContextInfo: forward,
				URL: url, DirectPath: path, MediaKey: key, FileEncSHA256: enc, FileSHA256: sha, FileLength: proto.Uint64(uint64(len(moving)))}}},
		{"channel post", provider.Outbound{ID: "n1", ChatID: chatid.MustParse("120363000000000077@newsletter"), Kind: provider.KindText, Text: "news"},
			types.NewJID("120363000000000077", types.NewsletterServer), &waE2E.Message{Conversation: proto.String("news")}},
	}
	r := newRig(t)
	c := r.startPaired()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.p.Send(ctxT(t), tc.msg); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			sent := c.sent[len(c.sent)-1]
			var last upload
			if len(c.uploads) > 0 {
				last = c.uploads[len(c.uploads)-1]
			}
			c.mu.Unlock()
			if sent.to != tc.to {
				t.Errorf("sent to %v, want %v", sent.to, tc.to)
			}
			if !proto.Equal(sent.msg, tc.want) {
				t.Errorf("sent\n%v\nwant\n%v", sent.msg, tc.want)
			}
			if tc.msg.Kind == provider.KindSticker && last.kind != wm.MediaImage {
				t.Errorf("sticker uploaded as %q, want %q", last.kind, wm.MediaImage)
			}
		})
	}
	// Status updates are not chats: the chat book does not list status@broadcast.
	if _, ok := r.p.chats.jidOf(chatid.StatusBroadcast); ok {
		t.Error("status@broadcast entered the chat book")
	}
}

func TestSendStatusRefuses(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	alice := chatid.MustParse("15551230001")
	for _, tc := range []struct {
		name string
		msg  provider.Outbound
		code string
		is   error
	}{
		{"location status", provider.Outbound{ChatID: chatid.StatusBroadcast, Kind: provider.KindLocation, Location: &provider.Location{}}, CodeUnsupported, provider.ErrUnsupported},
		{"poll status", provider.Outbound{ChatID: chatid.StatusBroadcast, Kind: provider.KindPoll, Poll: &provider.Poll{Name: "q", Options: []string{"a", "b"}}}, CodeUnsupported, provider.ErrUnsupported},
		{"bad colour", provider.Outbound{ChatID: chatid.StatusBroadcast, Kind: provider.KindText, Text: "x", Status: &provider.StatusOptions{BackgroundColor: "green"}}, CodeInvalidMessage, ErrInvalidMessage},
		{"short colour", provider.Outbound{ChatID: chatid.StatusBroadcast, Kind: provider.KindText, Text: "x", Status: &provider.StatusOptions{BackgroundColor: "#fff"}}, CodeInvalidMessage, ErrInvalidMessage},
		{"font out of range", provider.Outbound{ChatID: chatid.StatusBroadcast, Kind: provider.KindText, Text: "x", Status: &provider.StatusOptions{Font: 11}}, CodeInvalidMessage, ErrInvalidMessage},
		{"revoke without target", provider.Outbound{ChatID: chatid.StatusBroadcast, Kind: provider.KindRevoke}, CodeInvalidMessage, ErrInvalidMessage},
		{"sticker not webp", provider.Outbound{ChatID: alice, Kind: provider.KindSticker, Media: &provider.Media{Data: []byte("\x89PNG\r\n\x1a\nx"), Mimetype: "image/webp"}}, CodeInvalidMessage, ErrInvalidMessage},
		{"sticker without media", provider.Outbound{ChatID: alice, Kind: provider.KindSticker}, CodeInvalidMessage, ErrInvalidMessage},
	} {
		_, err := r.p.Send(ctxT(t), tc.msg)
		if !isCode(err, tc.code, false) || !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want %s (%v)", tc.name, err, tc.code, tc.is)
		}
	}
	if c.called("SendMessage") != 0 {
		t.Errorf("refused messages reached whatsmeow: %v", c.calls)
	}
}

func TestStatusColor(t *testing.T) {
	for in, want := range map[string]uint32{"#38b42f": 0xFF38B42F, "#000000": 0xFF000000, "#FFFFFF": 0xFFFFFFFF} {
		if got, err := statusColor(in); err != nil || got != want {
			t.Errorf("statusColor(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for _, in := range []string{"", "38b42f", "#38b42", "#38b42f0", "#gggggg", "#+12345"} {
		if _, err := statusColor(in); err == nil {
			t.Errorf("statusColor(%q) accepted", in)
		}
	}
}

func TestStatusPrivacy(t *testing.T) {
	r, c := channelRig(t)
	mapBob(t, r)
	bob := chatid.MustParse("15551230002@c.us")
	for _, tc := range []struct {
		name  string
		lists []types.StatusPrivacy
		want  provider.StatusPrivacy
	}{
		{"contacts", []types.StatusPrivacy{{Type: types.StatusPrivacyTypeContacts, IsDefault: true}},
			provider.StatusPrivacy{Type: provider.StatusToContacts, List: []chatid.ID{}}},
		{"none stored", nil, provider.StatusPrivacy{Type: provider.StatusToContacts, List: []chatid.ID{}}},
		{"all but some, LIDs by number", []types.StatusPrivacy{{Type: types.StatusPrivacyTypeBlacklist, IsDefault: true,
			List: []types.JID{alicePN, bobLID, carolLID, types.NewJID("x", types.BotServer)}}},
			provider.StatusPrivacy{Type: provider.StatusToContactsExcept, List: []chatid.ID{aliceID, bob, chatid.MustParse("100000000000003@lid")}}},
		{"the default, not the first", []types.StatusPrivacy{
			{Type: types.StatusPrivacyTypeBlacklist, List: []types.JID{bobPN}},
			{Type: types.StatusPrivacyTypeWhitelist, IsDefault: true, List: []types.JID{alicePN}}},
			provider.StatusPrivacy{Type: provider.StatusToOnly, List: []chatid.ID{aliceID}}},
		{"the first without default", []types.StatusPrivacy{
			{Type: types.StatusPrivacyTypeWhitelist, List: []types.JID{bobPN}},
			{Type: types.StatusPrivacyTypeContacts}},
			provider.StatusPrivacy{Type: provider.StatusToOnly, List: []chatid.ID{bob}}},
	} {
		c.set(func(c *channelFake) { c.privacy = tc.lists })
		got, err := r.p.StatusPrivacy(ctxT(t))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	if log := c.calls(); len(log) != 5 || log[0] != "GetStatusPrivacy" {
		t.Errorf("calls %q", log)
	}

	c.set(func(c *channelFake) { c.privacy = []types.StatusPrivacy{{Type: "close_friends", IsDefault: true}} })
	if _, err := r.p.StatusPrivacy(ctxT(t)); err == nil || !strings.Contains(err.Error(), "close_friends") {
		t.Errorf("unknown type: %v, want an error naming it", err)
	}
	for _, tc := range []struct {
		err, want error
	}{
		{&wm.IQError{Code: 403, Text: "forbidden"}, provider.ErrNotAllowed},
		{wm.ErrIQDisconnected, provider.ErrNotConnected},
		{errors.New("boom"), nil},
	} {
		c.set(func(c *channelFake) { c.fail = tc.err })
		_, err := r.p.StatusPrivacy(ctxT(t))
		if !errors.Is(err, tc.err) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%v: %v, want it wrapping %v", tc.err, err, tc.want)
		}
	}
}

// UploadNewsletter of the fake: a clear upload, with a handle and no key.
func (c *fakeClient) UploadNewsletter(ctx context.Context, data []byte, kind wm.MediaType) (wm.UploadResponse, error) {
	c.record("UploadNewsletter")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uploads = append(c.uploads, upload{data: append([]byte(nil), data...), kind: kind})
	if c.uploadErr != nil {
		return wm.UploadResponse{}, c.uploadErr
	}
	return wm.UploadResponse{URL: "https://mmg.whatsapp.net/n", DirectPath: "/v/n", Handle: "handle-1",
		FileSHA256: bytes.Repeat([]byte{3}, 32), FileLength: uint64(len(data))}, nil
}

var _ newsletterUploader = (*fakeClient)(nil)

// A channel's media are uploaded in the clear and sent with their handle; a reaction
// to a post is refused.
func TestSendToChannel(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	channel := chatid.MustParse("120363000000000077@newsletter")
	png := []byte("\x89PNG\r\n\x1a\nimage")
	if _, err := r.p.Send(ctxT(t), provider.Outbound{ID: "n2", ChatID: channel, Kind: provider.KindImage, Text: "menu",
		Media: &provider.Media{Data: png, Mimetype: "image/png"}}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	sent, uploads := c.sent[len(c.sent)-1], c.uploads
	c.mu.Unlock()
	want := &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("menu"), Mimetype: proto.String("image/png"),
		URL: proto.String("https://mmg.whatsapp.net/n"), DirectPath: proto.String("/v/n"), FileSHA256: bytes.Repeat([]byte{3}, 32),
		FileLength: proto.Uint64(uint64(len(png)))}}
	if !proto.Equal(sent.msg, want) || sent.extra.MediaHandle != "handle-1" || sent.to != types.NewJID("120363000000000077", types.NewsletterServer) {
		t.Errorf("sent %v to %v with handle %q\nwant %v with handle-1", sent.msg, sent.to, sent.extra.MediaHandle, want)
	}
	if c.called("UploadNewsletter") != 1 || c.called("Upload") != 0 || len(uploads) != 1 || uploads[0].kind != wm.MediaImage {
		t.Errorf("uploads %v, calls %v: want one clear image upload", uploads, c.calls)
	}
	_, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: channel, Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "3A1", Emoji: "👍"}})
	if !isCode(err, CodeUnsupported, false) || !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("reaction to a channel post: %v", err)
	}
	// Elsewhere media stay encrypted uploads without handle.
	if _, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: aliceID, Kind: provider.KindImage, Media: &provider.Media{Data: png, Mimetype: "image/png"}}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	last := c.sent[len(c.sent)-1]
	c.mu.Unlock()
	if c.called("Upload") != 1 || last.extra.MediaHandle != "" || len(last.msg.GetImageMessage().GetMediaKey()) == 0 {
		t.Errorf("a user's image: handle %q, key %x", last.extra.MediaHandle, last.msg.GetImageMessage().GetMediaKey())
	}
}
