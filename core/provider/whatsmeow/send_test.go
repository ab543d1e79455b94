package whatsmeow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

func TestSendBuildsMessages(t *testing.T) {
	alice := chatid.MustParse("15551230001")
	group := chatid.MustParse("120363000000000001@g.us")
	png := []byte("\x89PNG\r\n\x1a\nimage")
	checkUpload := func(t *testing.T, name string, url, directPath *string, key []byte, length *uint64, size int) {
		t.Helper()
		if url == nil || *url != "https://mmg.whatsapp.net/x" || directPath == nil || *directPath != "/v/x" ||
			!bytes.Equal(key, bytes.Repeat([]byte{1}, 32)) || length == nil || *length != uint64(size) {
			t.Errorf("%s: upload fields not copied: url %v path %v key %x len %v", name, url, directPath, key, length)
		}
	}
	cases := []struct {
		name   string
		msg    provider.Outbound
		upload wm.MediaType // "" when nothing is uploaded
		to     types.JID
		check  func(t *testing.T, m *waE2E.Message)
	}{
		{"text", provider.Outbound{ID: "t1", ChatID: alice, Kind: provider.KindText, Text: "hi"}, "", alicePN,
			func(t *testing.T, m *waE2E.Message) {
				if m.GetConversation() != "hi" || m.ExtendedTextMessage != nil {
					t.Errorf("text = %v", m)
				}
			}},
		{"event", provider.Outbound{ID: "e1", ChatID: group, Kind: provider.KindEvent, Text: "Launch", ReplyTo: "3AQ",
			Event: &provider.EventInvite{Name: "Launch", Description: "Doors at 6", StartTime: 1_900_000_000, EndTime: 1_900_003_600,
				Location: &provider.EventLocation{Name: "Hall A"}, ExtraGuestsAllowed: true}}, "", groupJID,
			func(t *testing.T, m *waE2E.Message) {
				e := m.GetEventMessage()
				if e.GetName() != "Launch" || e.GetDescription() != "Doors at 6" || e.GetStartTime() != 1_900_000_000 ||
					e.GetEndTime() != 1_900_003_600 || e.GetLocation().GetName() != "Hall A" || !e.GetExtraGuestsAllowed() ||
					e.GetIsCanceled() || e.GetContextInfo().GetStanzaID() != "3AQ" || len(m.GetMessageContextInfo().GetMessageSecret()) != 32 {
					t.Errorf("event = %v", m)
				}
			}},
		{"reply", provider.Outbound{ID: "t2", ChatID: alice, Kind: provider.KindText, Text: "yes", ReplyTo: "3AQUOTED"}, "", alicePN,
			func(t *testing.T, m *waE2E.Message) {
				x := m.GetExtendedTextMessage()
				if x.GetText() != "yes" || x.GetContextInfo().GetStanzaID() != "3AQUOTED" || m.Conversation != nil {
					t.Errorf("reply = %v", m)
				}
			}},
		{"image", provider.Outbound{ID: "i1", ChatID: alice, Kind: provider.KindImage, Text: "cap",
			Media: &provider.Media{Data: png, Mimetype: "image/png"}}, wm.MediaImage, alicePN,
			func(t *testing.T, m *waE2E.Message) {
				im := m.GetImageMessage()
				if im.GetCaption() != "cap" || im.GetMimetype() != "image/png" {
					t.Errorf("image = %v", im)
				}
				checkUpload(t, "image", im.URL, im.DirectPath, im.MediaKey, im.FileLength, len(png))
			}},
		{"video", provider.Outbound{ID: "v1", ChatID: alice, Kind: provider.KindVideo,
			Media: &provider.Media{Data: []byte("mp4"), Mimetype: "video/mp4"}}, wm.MediaVideo, alicePN,
			func(t *testing.T, m *waE2E.Message) {
				v := m.GetVideoMessage()
				if v.Caption != nil || v.GetMimetype() != "video/mp4" {
					t.Errorf("video = %v", v)
				}
				checkUpload(t, "video", v.URL, v.DirectPath, v.MediaKey, v.FileLength, 3)
			}},
		{"voice", provider.Outbound{ID: "a1", ChatID: alice, Kind: provider.KindVoice,
			Media: &provider.Media{Data: []byte("OggS"), Mimetype: "audio/ogg; codecs=opus"}}, wm.MediaAudio, alicePN,
			func(t *testing.T, m *waE2E.Message) {
				a := m.GetAudioMessage()
				if !a.GetPTT() || a.GetMimetype() != "audio/ogg; codecs=opus" {
					t.Errorf("voice = %v", a)
				}
				checkUpload(t, "voice", a.URL, a.DirectPath, a.MediaKey, a.FileLength, 4)
			}},
		{"file", provider.Outbound{ID: "f1", ChatID: alice, Kind: provider.KindFile,
			Media: &provider.Media{Data: []byte("%PDF"), Mimetype: "application/pdf", Filename: "q3.pdf"}}, wm.MediaDocument, alicePN,
			func(t *testing.T, m *waE2E.Message) {
				d := m.GetDocumentMessage()
				if d.GetFileName() != "q3.pdf" || d.GetTitle() != "q3.pdf" || d.GetMimetype() != "application/pdf" || d.Caption != nil {
					t.Errorf("file = %v", d)
				}
				checkUpload(t, "file", d.URL, d.DirectPath, d.MediaKey, d.FileLength, 4)
			}},
		{"file with caption", provider.Outbound{ID: "f2", ChatID: alice, Kind: provider.KindFile, Text: "see",
			Media: &provider.Media{Data: []byte("x"), Mimetype: "text/plain"}}, wm.MediaDocument, alicePN,
			func(t *testing.T, m *waE2E.Message) {
				d := m.GetDocumentWithCaptionMessage().GetMessage().GetDocumentMessage()
				if d.GetCaption() != "see" || d.GetFileName() != "file" || m.DocumentMessage != nil {
					t.Errorf("file with caption = %v", m)
				}
			}},
		{"location", provider.Outbound{ID: "l1", ChatID: alice, Kind: provider.KindLocation,
			Location: &provider.Location{Latitude: 48.8584, Longitude: 2.2945, Title: "Tower", Address: "Champ de Mars"}}, "", alicePN,
			func(t *testing.T, m *waE2E.Message) {
				l := m.GetLocationMessage()
				if l.GetDegreesLatitude() != 48.8584 || l.GetDegreesLongitude() != 2.2945 || l.GetName() != "Tower" || l.GetAddress() != "Champ de Mars" {
					t.Errorf("location = %v", l)
				}
			}},
		{"contact built", provider.Outbound{ID: "c1", ChatID: alice, Kind: provider.KindContact,
			Contacts: []provider.Contact{{FullName: "Jane Doe", Organization: "Acme", Phone: "+1 555 123 4567", WhatsAppID: "15551234567"}}}, "", alicePN,
			func(t *testing.T, m *waE2E.Message) {
				c := m.GetContactMessage()
				want := "BEGIN:VCARD\nVERSION:3.0\nFN:Jane Doe\nORG:Acme;\nTEL;type=CELL;type=VOICE;waid=15551234567:+1 555 123 4567\nEND:VCARD"
				if c.GetDisplayName() != "Jane Doe" || c.GetVcard() != want {
					t.Errorf("contact = %q / %q", c.GetDisplayName(), c.GetVcard())
				}
			}},
		{"contacts", provider.Outbound{ID: "c2", ChatID: alice, Kind: provider.KindContact,
			Contacts: []provider.Contact{{VCard: "BEGIN:VCARD\nFN:A\nEND:VCARD"}, {FullName: "B", Phone: "+1"}}}, "", alicePN,
			func(t *testing.T, m *waE2E.Message) {
				a := m.GetContactsArrayMessage()
				if a.GetDisplayName() != "2 contacts" || len(a.GetContacts()) != 2 ||
					a.GetContacts()[0].GetDisplayName() != "A" || a.GetContacts()[0].GetVcard() != "BEGIN:VCARD\nFN:A\nEND:VCARD" ||
					a.GetContacts()[1].GetDisplayName() != "B" {
					t.Errorf("contacts = %v", a)
				}
			}},
		{"reaction", provider.Outbound{ID: "r1", ChatID: alice, Kind: provider.KindReaction,
			Reaction: &provider.Reaction{MessageID: "3AXYZ", Emoji: "👍"}}, "", alicePN,
			func(t *testing.T, m *waE2E.Message) {
				re := m.GetReactionMessage()
				k := re.GetKey()
				if re.GetText() != "👍" || k.GetID() != "3AXYZ" || k.GetFromMe() || k.GetRemoteJID() != alicePN.String() ||
					k.Participant != nil || re.GetSenderTimestampMS() == 0 {
					t.Errorf("reaction = %v", re)
				}
			}},
		{"reaction in a group", provider.Outbound{ID: "r2", ChatID: group, Kind: provider.KindReaction,
			Reaction: &provider.Reaction{MessageID: "3AXYZ", Emoji: "", Sender: chatid.MustParse("15551230002")}}, "", groupJID,
			func(t *testing.T, m *waE2E.Message) {
				k := m.GetReactionMessage().GetKey()
				if k.GetParticipant() != bobPN.String() || k.GetRemoteJID() != groupJID.String() || m.GetReactionMessage().GetText() != "" {
					t.Errorf("group reaction key = %v", k)
				}
			}},
		{"reaction to own message", provider.Outbound{ID: "r3", ChatID: alice, Kind: provider.KindReaction,
			Reaction: &provider.Reaction{MessageID: "3EB0MINE", Emoji: "✅", FromMe: true}}, "", alicePN,
			func(t *testing.T, m *waE2E.Message) {
				if !m.GetReactionMessage().GetKey().GetFromMe() {
					t.Errorf("FromMe lost: %v", m)
				}
			}},
		{"to a lid", provider.Outbound{ID: "t3", ChatID: chatid.MustParse("100000000000001@lid"), Kind: provider.KindText, Text: "x"}, "", aliceLID,
			func(t *testing.T, m *waE2E.Message) {}},
	}
	r := newRig(t)
	c := r.startPaired()
	c.sendResp = wm.SendResponse{Timestamp: msgTime}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.p.Send(ctxT(t), tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			sent := c.sent[len(c.sent)-1]
			nsent, uploads := len(c.sent), c.uploads
			c.mu.Unlock()
			if nsent != i+1 {
				t.Fatalf("%d messages sent, want %d", nsent, i+1)
			}
			wantID := messageID(r.p.spec, tc.msg.ID)
			if sent.extra.ID != wantID || res.ProviderID != wantID || !res.Timestamp.Equal(msgTime) {
				t.Errorf("id %q, result %+v; want id %q", sent.extra.ID, res, wantID)
			}
			if sent.to != tc.to {
				t.Errorf("sent to %v, want %v", sent.to, tc.to)
			}
			if tc.upload != "" {
				last := uploads[len(uploads)-1]
				if last.kind != tc.upload || !bytes.Equal(last.data, tc.msg.Media.Data) {
					t.Errorf("upload = %s %q, want %s %q", last.kind, last.data, tc.upload, tc.msg.Media.Data)
				}
			}
			tc.check(t, sent.msg)
		})
	}
}

func TestMessageID(t *testing.T) {
	spec := provider.Spec{Tenant: tenant, Session: session}
	a, b := messageID(spec, "msg_1"), messageID(spec, "msg_1")
	if a != b || len(a) != 22 || !strings.HasPrefix(a, "3EB0") || strings.ToUpper(a) != a {
		t.Fatalf("messageID = %q, %q; want one stable 3EB0 id of 22 characters", a, b)
	}
	if messageID(spec, "msg_2") == a || messageID(provider.Spec{Tenant: tenant, Session: "other"}, "msg_1") == a {
		t.Error("different messages share an id")
	}
	if x, y := messageID(spec, ""), messageID(spec, ""); x == y || len(x) != 22 {
		t.Errorf("random ids %q %q", x, y)
	}
}

func TestVCard(t *testing.T) {
	cases := []struct {
		in   provider.Contact
		want string
	}{
		{provider.Contact{VCard: "BEGIN:VCARD\nFN:X\nEND:VCARD", FullName: "ignored"}, "BEGIN:VCARD\nFN:X\nEND:VCARD"},
		{provider.Contact{FullName: "Jane"}, "BEGIN:VCARD\nVERSION:3.0\nFN:Jane\nEND:VCARD"},
		{provider.Contact{FullName: "Doe, Jane; Jr\\", WhatsAppID: "15551234567"},
			"BEGIN:VCARD\nVERSION:3.0\nFN:Doe\\, Jane\\; Jr\\\\\nTEL;type=CELL;type=VOICE;waid=15551234567:+15551234567\nEND:VCARD"},
		{provider.Contact{FullName: "A\nB", Phone: "+1 555"}, "BEGIN:VCARD\nVERSION:3.0\nFN:A\\nB\nTEL;type=CELL;type=VOICE:+1 555\nEND:VCARD"},
	}
	for _, c := range cases {
		if got := VCard(c.in); got != c.want {
			t.Errorf("VCard(%+v) =\n%q\nwant\n%q", c.in, got, c.want)
		}
	}
	if n := contactName(provider.Contact{VCard: "BEGIN:VCARD\r\nFN:From Card\r\nEND:VCARD"}); n != "From Card" {
		t.Errorf("contactName = %q", n)
	}
}

func TestSendRefusesBadMessages(t *testing.T) {
	r := newRig(t, func(r *rig) { r.cfg.MaxMediaBytes = 1 << 10 })
	c := r.startPaired()
	alice := chatid.MustParse("15551230001")
	cases := []struct {
		name string
		msg  provider.Outbound
		code string
		is   error
	}{
		{"empty chat", provider.Outbound{Kind: provider.KindText}, CodeInvalidRecipient, provider.ErrInvalidRecipient},
		{"bad chat", provider.Outbound{ChatID: chatid.ID{Local: "x", Server: chatid.User}, Kind: provider.KindText}, CodeInvalidRecipient, provider.ErrInvalidRecipient},
		{"image without media", provider.Outbound{ChatID: alice, Kind: provider.KindImage}, CodeInvalidMessage, ErrInvalidMessage},
		{"media with url and data", provider.Outbound{ChatID: alice, Kind: provider.KindFile,
			Media: &provider.Media{URL: "https://x/y", Data: []byte("z")}}, CodeInvalidMessage, ErrInvalidMessage},
		{"location without place", provider.Outbound{ChatID: alice, Kind: provider.KindLocation}, CodeInvalidMessage, ErrInvalidMessage},
		{"contact without cards", provider.Outbound{ChatID: alice, Kind: provider.KindContact}, CodeInvalidMessage, ErrInvalidMessage},
		{"reaction without id", provider.Outbound{ChatID: alice, Kind: provider.KindReaction, Reaction: &provider.Reaction{}}, CodeInvalidMessage, ErrInvalidMessage},
		{"edit without target", provider.Outbound{ChatID: alice, Kind: provider.KindEdit, Text: "x"}, CodeInvalidMessage, ErrInvalidMessage},
		{"revoke without target", provider.Outbound{ChatID: alice, Kind: provider.KindRevoke}, CodeInvalidMessage, ErrInvalidMessage},
		{"poll of one option", provider.Outbound{ChatID: alice, Kind: provider.KindPoll, Poll: &provider.Poll{Name: "q", Options: []string{"a"}}}, CodeInvalidMessage, ErrInvalidMessage},
		{"vote without poll", provider.Outbound{ChatID: alice, Kind: provider.KindPollVote}, CodeInvalidMessage, ErrInvalidMessage},
		{"unknown kind", provider.Outbound{ChatID: alice, Kind: "hologram"}, CodeUnsupported, provider.ErrUnsupported},
		{"data too large", provider.Outbound{ChatID: alice, Kind: provider.KindImage,
			Media: &provider.Media{Data: make([]byte, 1025), Mimetype: "image/png"}}, CodeMediaTooLarge, ErrMediaTooLarge},
	}
	for _, tc := range cases {
		_, err := r.p.Send(ctxT(t), tc.msg)
		if !isCode(err, tc.code, false) || !errors.Is(err, tc.is) || provider.Retryable(err) {
			t.Errorf("%s: %v, want %s (%v), not retryable", tc.name, err, tc.code, tc.is)
		}
	}
	if c.called("SendMessage") != 0 || c.called("Upload") != 0 {
		t.Errorf("refused messages reached whatsmeow: %v", c.calls)
	}
}

func TestSendFetchesMediaURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/cat.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte("jpeg bytes"))
		case "/untyped":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte("%PDF-1.4 ..."))
		case "/big":
			w.Write(make([]byte, 2048))
		case "/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			http.NotFound(w, req)
		}
	}))
	defer srv.Close()
	r := newRig(t, func(r *rig) { r.cfg.MaxMediaBytes = 1 << 10 })
	r.f.http = srv.Client()
	c := r.startPaired()
	alice := chatid.MustParse("15551230001")

	if _, err := r.p.Send(ctxT(t), provider.Outbound{ID: "u1", ChatID: alice, Kind: provider.KindImage,
		Media: &provider.Media{URL: srv.URL + "/cat.jpg"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.Send(ctxT(t), provider.Outbound{ID: "u2", ChatID: alice, Kind: provider.KindFile,
		Media: &provider.Media{URL: srv.URL + "/untyped", Filename: "doc.pdf"}}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	img, doc := c.sent[0].msg.GetImageMessage(), c.sent[1].msg.GetDocumentMessage()
	uploaded := string(c.uploads[0].data)
	c.mu.Unlock()
	if uploaded != "jpeg bytes" || img.GetMimetype() != "image/jpeg" {
		t.Errorf("fetched %q as %q", uploaded, img.GetMimetype())
	}
	if doc.GetMimetype() != "application/pdf" {
		t.Errorf("sniffed mimetype = %q, want application/pdf", doc.GetMimetype())
	}

	for _, tc := range []struct {
		path, code string
		retryable  bool
	}{
		{"/missing", CodeMediaUnavailable, false},
		{"/busy", CodeMediaFetch, true},
		{"/big", CodeMediaTooLarge, false},
	} {
		_, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: alice, Kind: provider.KindImage, Media: &provider.Media{URL: srv.URL + tc.path}})
		if !isCode(err, tc.code, tc.retryable) || provider.Retryable(err) != tc.retryable {
			t.Errorf("%s: %v, want %s retryable=%v", tc.path, err, tc.code, tc.retryable)
		}
	}
}

func TestDefaultHTTPClientRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { w.Write([]byte("secret")) }))
	defer srv.Close()
	r := newRig(t)
	r.startPaired()
	_, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: chatid.MustParse("15551230001"), Kind: provider.KindImage,
		Media: &provider.Media{URL: srv.URL + "/x.png"}})
	if !errors.Is(err, ErrMediaURLForbidden) || !isCode(err, CodeMediaUnavailable, false) {
		t.Fatalf("fetch from %s: %v, want ErrMediaURLForbidden", srv.URL, err)
	}
	for _, addr := range []string{"10.0.0.1:80", "192.168.1.1:443", "169.254.169.254:80", "[::1]:80", "0.0.0.0:80", "[fe80::1]:80"} {
		if err := refuseNonPublic("tcp", addr, nil); !errors.Is(err, ErrMediaURLForbidden) {
			t.Errorf("refuseNonPublic(%s) = %v", addr, err)
		}
	}
	for _, addr := range []string{"93.184.216.34:443", "[2606:2800:220:1::]:443"} {
		if err := refuseNonPublic("tcp", addr, nil); err != nil {
			t.Errorf("refuseNonPublic(%s) = %v, want allowed", addr, err)
		}
	}
}

func TestSendErrorsMapped(t *testing.T) {
	cases := []struct {
		err       error
		code      string
		retryable bool
		is        error
	}{
		{wm.ErrMessageTimedOut, CodeTimeout, true, nil},
		{wm.ErrIQTimedOut, CodeTimeout, true, nil},
		{wm.ErrNotConnected, CodeNotConnected, true, provider.ErrNotConnected},
		{wm.ErrNotLoggedIn, CodeNotConnected, true, provider.ErrNotConnected},
		{fmt.Errorf("%w s.whatsapp.bad", wm.ErrUnknownServer), CodeInvalidRecipient, false, provider.ErrInvalidRecipient},
		{wm.ErrBroadcastListUnsupported, CodeInvalidRecipient, false, provider.ErrInvalidRecipient},
		{fmt.Errorf("failed to get group members: %w", wm.ErrGroupNotFound), CodeInvalidRecipient, false, provider.ErrInvalidRecipient},
		{fmt.Errorf("failed to get group members: %w", wm.ErrNotInGroup), CodeInvalidRecipient, false, provider.ErrInvalidRecipient},
		{&wm.IQError{Code: 429, Text: "rate-overlimit"}, CodeRateLimited, true, nil},
		{fmt.Errorf("%w %d", wm.ErrServerReturnedError, 479), CodeServerError, false, nil},
		{wm.ErrNoSession, CodeSendFailed, true, nil},
		{errors.New("something new"), CodeSendFailed, true, nil},
	}
	r := newRig(t)
	c := r.startPaired()
	for _, tc := range cases {
		c.mu.Lock()
		c.sendErr = tc.err
		c.mu.Unlock()
		_, err := r.p.Send(ctxT(t), provider.Outbound{ID: "e", ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText, Text: "x"})
		if !isCode(err, tc.code, tc.retryable) || provider.Retryable(err) != tc.retryable || !errors.Is(err, tc.err) {
			t.Errorf("%v: got %v, want code %s retryable %v", tc.err, err, tc.code, tc.retryable)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%v: %v does not wrap %v", tc.err, err, tc.is)
		}
	}
	c.mu.Lock()
	c.sendErr, c.uploadErr = nil, errors.New("media conn refused")
	c.mu.Unlock()
	_, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: chatid.MustParse("15551230001"), Kind: provider.KindVoice,
		Media: &provider.Media{Data: []byte("OggS"), Mimetype: "audio/ogg"}})
	if !isCode(err, CodeUpload, true) {
		t.Errorf("upload failure: %v", err)
	}
}

func TestSendNotConnected(t *testing.T) {
	r := newRig(t)
	msg := provider.Outbound{ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText, Text: "x"}
	if _, err := r.p.Send(ctxT(t), msg); !errors.Is(err, provider.ErrNotConnected) || !provider.Retryable(err) {
		t.Errorf("send before Start: %v", err)
	}
	r.pair()
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Connected but not logged in yet (or reconnecting).
	if _, err := r.p.Send(ctxT(t), msg); !errors.Is(err, provider.ErrNotConnected) || !isCode(err, CodeNotConnected, true) {
		t.Errorf("send before Connected: %v", err)
	}
	if r.client().called("SendMessage") != 0 {
		t.Error("send before Connected reached whatsmeow")
	}
}

// TestCallsHonourDeadline makes each whatsmeow call hang (as one stuck on the client's
// locks would) and checks that every provider call returns by its deadline.
func TestCallsHonourDeadline(t *testing.T) {
	const limit = 50 * time.Millisecond
	alice := chatid.MustParse("15551230001")
	short := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		t.Cleanup(cancel)
		return ctx
	}
	within := func(t *testing.T, what string, f func() error) error {
		t.Helper()
		start := time.Now()
		err := f()
		if d := time.Since(start); d > limit+2*time.Second {
			t.Errorf("%s took %v with a %v deadline", what, d, limit)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want a deadline error", what, err)
		}
		return err
	}

	t.Run("start", func(t *testing.T) {
		r := newRig(t)
		r.pair()
		var release func()
		r.prepare = func(c *fakeClient) { release = c.hangOn(t, "ConnectContext") }
		within(t, "Start", func() error { return r.p.Start(short(t)) })
		c := r.client()
		release()
		waitFor(t, "the abandoned connect to be disconnected", func() bool { return c.called("Disconnect") > 0 })
		if err := r.p.Stop(ctxT(t)); err != nil {
			t.Errorf("Stop after a timed out Start: %v", err)
		}
	})
	t.Run("send", func(t *testing.T) {
		r := newRig(t)
		c := r.startPaired()
		c.hangOn(t, "SendMessage")
		err := within(t, "Send", func() error {
			_, err := r.p.Send(short(t), provider.Outbound{ChatID: alice, Kind: provider.KindText, Text: "x"})
			return err
		})
		if !isCode(err, CodeTimeout, true) {
			t.Errorf("send timeout: %v, want code timeout, retryable", err)
		}
	})
	t.Run("upload", func(t *testing.T) {
		r := newRig(t)
		c := r.startPaired()
		c.hangOn(t, "Upload")
		err := within(t, "Send", func() error {
			_, err := r.p.Send(short(t), provider.Outbound{ChatID: alice, Kind: provider.KindImage, Media: &provider.Media{Data: []byte("x"), Mimetype: "image/png"}})
			return err
		})
		if !isCode(err, CodeTimeout, true) {
			t.Errorf("upload timeout: %v", err)
		}
	})
	t.Run("stop", func(t *testing.T) {
		r := newRig(t)
		c := r.startPaired()
		release := c.hangOn(t, "Disconnect")
		within(t, "Stop", func() error { return r.p.Stop(short(t)) })
		release()
		// The provider is stopped; a new Start works.
		if err := r.p.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("logout", func(t *testing.T) {
		r := newRig(t)
		c := r.startPaired()
		c.hangOn(t, "Logout")
		// A hung unlink leaves half the time for the rest: the device is deleted anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := r.p.Logout(ctx); err != nil {
			t.Fatalf("Logout with a hung unlink: %v", err)
		}
		if r.devices() != 0 {
			t.Fatal("device kept")
		}
		r.status(provider.StatusLoggedOut, reasonLogout)
		c2 := r.startPaired()
		c2.hangOn(t, "Logout")
		c2.hangOn(t, "Disconnect")
		within(t, "Logout", func() error { return r.p.Logout(short(t)) })
	})
	t.Run("pairing code", func(t *testing.T) {
		r := newRig(t)
		if err := r.p.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		c := r.client()
		c.qr <- wm.QRChannelItem{Event: wm.QRChannelEventCode, Code: "2@x", Timeout: time.Minute}
		r.next()
		r.next()
		c.hangOn(t, "PairPhone")
		within(t, "RequestPairingCode", func() error { _, err := r.p.RequestPairingCode(short(t), "15551230000"); return err })
	})
	t.Run("typing", func(t *testing.T) {
		r := newRig(t)
		c := r.startPaired()
		c.hangOn(t, "SendPresence")
		c.hangOn(t, "SendChatPresence")
		within(t, "SetTyping", func() error { return r.p.SetTyping(short(t), alice, true) })
	})
	t.Run("download", func(t *testing.T) {
		r := newRig(t)
		c := r.startPaired()
		c.emit(textMessage("ignored", alicePN, "x"))
		c.emitImage("img")
		r.next()
		r.next()
		c.hangOn(t, "Download")
		within(t, "DownloadMedia", func() error { _, err := r.p.DownloadMedia(short(t), "img"); return err })
	})
	t.Run("lifecycle lock", func(t *testing.T) {
		r := newRig(t)
		c := r.startPaired()
		release := c.hangOn(t, "Disconnect")
		go r.p.Stop(context.Background()) // holds the lifecycle lock while Disconnect hangs
		waitFor(t, "Stop to reach Disconnect", func() bool { return c.called("Disconnect") > 0 })
		within(t, "Start behind a hung Stop", func() error { return r.p.Start(short(t)) })
		within(t, "Logout behind a hung Stop", func() error { return r.p.Logout(short(t)) })
		release()
	})
}

// emitImage delivers an inbound image message of id.
func (c *fakeClient) emitImage(id string) {
	c.emit(&events.Message{Info: dm(id), Message: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Mimetype: proto.String("image/jpeg")}}})
}

func TestSetTyping(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	alice := chatid.MustParse("15551230001")
	ctx := ctxT(t)
	for _, on := range []bool{true, false, true} {
		if err := r.p.SetTyping(ctx, alice, on); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	got := strings.Join(c.presences, ", ")
	c.mu.Unlock()
	want := "available, 15551230001@s.whatsapp.net composing, 15551230001@s.whatsapp.net paused, 15551230001@s.whatsapp.net composing"
	if got != want {
		t.Errorf("presences = %s\nwant %s", got, want)
	}
	// A new connection announces availability again.
	c.emit(&events.Connected{})
	r.status(provider.StatusWorking, "")
	if err := r.p.SetTyping(ctx, alice, true); err != nil {
		t.Fatal(err)
	}
	if n := c.called("SendPresence"); n != 2 {
		t.Errorf("SendPresence called %d times, want 2", n)
	}
	if err := r.p.SetTyping(ctx, chatid.ID{}, true); !errors.Is(err, chatid.ErrInvalid) {
		t.Errorf("typing to no chat: %v", err)
	}
	if err := r.p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.p.SetTyping(ctx, alice, true); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("typing while stopped: %v", err)
	}
}
