package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/store"
)

// sendEnv is a testEnv with the sending pipeline wired as cmd/wagate wires it: a
// session manager over a sandbox network, the durable queue and its dispatcher (in a
// store of their own, next to the tenants').
type sendEnv struct {
	*testEnv
	net *sandbox.Network
	q   *queue.Queue
}

func newSendEnv(t *testing.T, opts ...func(*envOptions)) *sendEnv {
	t.Helper()
	se := &sendEnv{}
	opts = append(opts, func(o *envOptions) {
		o.deps = func(d *Deps) {
			db, err := store.Open(store.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			q, err := queue.Open(db, queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var dispatch *queue.Dispatcher
			cfg := config.Defaults().Providers.Sandbox
			cfg.SendLatency, cfg.DeliveryDelay, cfg.ReadDelay = 0, config.Duration(time.Millisecond), 0
			net := sandbox.NewNetwork(cfg, sandbox.NewMemoryLinkStore())
			tenants := d.Tenants
			sessions := session.NewManager(db, d.Bus, session.Options{
				StartTimeout: 2 * time.Second, StopTimeout: time.Second, SendTimeout: 2 * time.Second,
				DefaultProvider: sandbox.Name,
				MaxSessions: func(ctx context.Context, id string) (int, error) {
					tn, err := tenants.Get(ctx, id)
					return tn.Plan.MaxSessions, err
				},
				OnStatus: func(tenant, name string, st session.State) {
					dispatch.SessionStatus(tenant, name, st == session.StateWorking)
				},
				OnAck: func(tenant, name, msgID string, ack provider.Ack, errText string) {
					dispatch.Ack(tenant, msgID, ack, errText)
				},
			}, net)
			dispatch = queue.NewDispatcher(q, sessions, queue.DispatchOptions{})
			if err := sessions.Restore(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				dispatch.Close()
				sessions.Close(context.Background())
				q.Close()
				net.Close()
				db.Close()
			})
			d.Sessions, d.Queue, d.Sandbox = sessions, q, net
			se.net, se.q = net, q
		}
	})
	se.testEnv = newEnv(t, opts...)
	return se
}

// createSession creates a stopped (start false) or started session.
func (e *sendEnv) createSession(key, name string, start bool) {
	e.t.Helper()
	body := `{"name":"` + name + `","start":false}`
	if start {
		body = `{"name":"` + name + `"}`
	}
	if resp, b := e.do("POST", "/api/sessions", key, body); resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("creating session %s: %d %s", name, resp.StatusCode, b)
	}
}

// linkSession starts pairing of a started session and links it to phone.
func (e *sendEnv) linkSession(key, name, phone string) {
	e.t.Helper()
	waitFor(e.t, name+" showing QR codes", func() bool {
		_, b := e.do("GET", "/api/sessions/"+name, key, "")
		return strings.Contains(string(b), `"SCAN_QR_CODE"`)
	})
	if resp, b := e.do("POST", "/api/sandbox/"+name+"/link", key, `{"phone":"`+phone+`"}`); resp.StatusCode != http.StatusOK {
		e.t.Fatalf("linking %s: %d %s", name, resp.StatusCode, b)
	}
	waitFor(e.t, name+" WORKING", func() bool {
		_, b := e.do("GET", "/api/sessions/"+name, key, "")
		return strings.Contains(string(b), `"WORKING"`)
	})
}

// message gets a queued message through the API.
func (e *sendEnv) message(key, id string) queue.Message {
	e.t.Helper()
	resp, b := e.do("GET", "/api/messages/"+id, key, "")
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /api/messages/%s: %d %s", id, resp.StatusCode, b)
	}
	var m queue.Message
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func b64(n int) string { return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", n))) }

func TestMediaRoutes(t *testing.T) {
	e := newSendEnv(t)
	key := e.createTenant("acme")
	e.createSession(key, "s1", false)
	png := []byte("\x89PNG\r\n\x1a\n")
	pngB64 := base64.StdEncoding.EncodeToString(png)
	long := func(n int) string { return strings.Repeat("é", n) }

	type good struct {
		text    string
		payload queue.Payload
	}
	for _, tc := range []struct {
		name, method, path, body string
		// want is set for bodies that must be queued; code and field for 400s.
		want        *good
		code, field string
	}{
		// sendImage
		{name: "image by url", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"+15557654321","file":{"url":"https://cdn.example.com/a.jpg"},"caption":"look"}`,
			want: &good{"look", queue.Payload{Media: &provider.Media{URL: "https://cdn.example.com/a.jpg"}}}},
		{name: "image by data", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321@c.us","file":{"mimetype":"image/png","filename":"dot.png","data":"` + pngB64 + `"}}`,
			want: &good{"", queue.Payload{Media: &provider.Media{Data: png, Mimetype: "image/png", Filename: "dot.png"}}}},
		{name: "image, url with mimetype and 1024-character caption", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"http://example.com/x?y=1","mimetype":"image/webp"},"caption":"` + long(1024) + `"}`,
			want: &good{long(1024), queue.Payload{Media: &provider.Media{URL: "http://example.com/x?y=1", Mimetype: "image/webp"}}}},
		{name: "image, bad chat", path: "/api/sendImage", body: `{"session":"s1","chatId":"555-1234","file":{"url":"https://e.com/a.jpg"}}`,
			code: "invalid_chat_id", field: "chatId"},
		{name: "image, no chat", path: "/api/sendImage", body: `{"session":"s1","file":{"url":"https://e.com/a.jpg"}}`,
			code: "invalid_chat_id", field: "chatId"},
		{name: "image, no file", path: "/api/sendImage", body: `{"session":"s1","chatId":"15557654321"}`,
			code: "invalid_media", field: "file"},
		{name: "image, empty file", path: "/api/sendImage", body: `{"session":"s1","chatId":"15557654321","file":{}}`,
			code: "invalid_media", field: "file"},
		{name: "image, url and data", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/a.png","mimetype":"image/png","data":"` + pngB64 + `"}}`,
			code: "invalid_media", field: "file"},
		{name: "image, ftp url", path: "/api/sendImage", body: `{"session":"s1","chatId":"15557654321","file":{"url":"ftp://e.com/a.jpg"}}`,
			code: "invalid_media", field: "file.url"},
		{name: "image, relative url", path: "/api/sendImage", body: `{"session":"s1","chatId":"15557654321","file":{"url":"/a.jpg"}}`,
			code: "invalid_media", field: "file.url"},
		{name: "image, url without host", path: "/api/sendImage", body: `{"session":"s1","chatId":"15557654321","file":{"url":"https:///a.jpg"}}`,
			code: "invalid_media", field: "file.url"},
		{name: "image, url that does not parse", path: "/api/sendImage", body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/%zz"}}`,
			code: "invalid_media", field: "file.url"},
		{name: "image, url over 2048 bytes", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/` + strings.Repeat("a", 2048) + `"}}`,
			code: "invalid_media", field: "file.url"},
		{name: "image, data without mimetype", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"data":"` + pngB64 + `"}}`, code: "invalid_media", field: "file.mimetype"},
		{name: "image, data not base64", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"image/png","data":"not base64!"}}`, code: "invalid_media", field: "file.data"},
		{name: "image, url-safe base64", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"image/png","data":"-_-_"}}`, code: "invalid_media", field: "file.data"},
		{name: "image, unpadded base64", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"image/png","data":"eA"}}`, code: "invalid_media", field: "file.data"},
		{name: "image, mimetype of a video", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"video/mp4","data":"` + pngB64 + `"}}`, code: "invalid_media", field: "file.mimetype"},
		{name: "image, url with a mimetype of a document", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/a","mimetype":"application/pdf"}}`, code: "invalid_media", field: "file.mimetype"},
		{name: "image, malformed mimetype", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"image","data":"` + pngB64 + `"}}`, code: "invalid_media", field: "file.mimetype"},
		{name: "image, filename with a slash", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/a.jpg","filename":"../a.jpg"}}`, code: "invalid_media", field: "file.filename"},
		{name: "image, filename too long", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/a.jpg","filename":"` + strings.Repeat("a", 256) + `"}}`, code: "invalid_media", field: "file.filename"},
		{name: "image, caption over 1024 characters", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/a.jpg"},"caption":"` + long(1025) + `"}`,
			code: "invalid_caption", field: "caption"},
		{name: "image, unknown field", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/a.jpg","size":3}}`, code: "unknown_field", field: "size"},
		{name: "image, file of the wrong type", path: "/api/sendImage",
			body: `{"session":"s1","chatId":"15557654321","file":"https://e.com/a.jpg"}`, code: "wrong_type", field: "file"},

		// sendFile
		{name: "file of any type", path: "/api/sendFile",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"application/pdf","filename":"Q3 report.pdf","data":"JVBERi0xLjc="},"caption":"the report"}`,
			want: &good{"the report", queue.Payload{Media: &provider.Media{Data: []byte("%PDF-1.7"), Mimetype: "application/pdf", Filename: "Q3 report.pdf"}}}},
		{name: "file that is an image", path: "/api/sendFile",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"image/png","data":"` + pngB64 + `"}}`,
			want: &good{"", queue.Payload{Media: &provider.Media{Data: png, Mimetype: "image/png"}}}},
		{name: "file, mimetype with parameters", path: "/api/sendFile",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"text/plain; charset=utf-8","data":"aGk="}}`,
			want: &good{"", queue.Payload{Media: &provider.Media{Data: []byte("hi"), Mimetype: "text/plain; charset=utf-8"}}}},
		{name: "file, filename with a control character", path: "/api/sendFile",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"text/plain","data":"aGk=","filename":"a\nb"}}`, code: "invalid_media", field: "file.filename"},
		{name: "file, empty data is no data", path: "/api/sendFile",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"text/plain","data":""}}`, code: "invalid_media", field: "file"},

		// sendVoice
		{name: "voice", path: "/api/sendVoice",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"audio/ogg; codecs=opus","url":"https://e.com/v.opus"}}`,
			want: &good{"", queue.Payload{Media: &provider.Media{URL: "https://e.com/v.opus", Mimetype: "audio/ogg; codecs=opus"}}}},
		{name: "voice, video mimetype", path: "/api/sendVoice",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"video/ogg","url":"https://e.com/v.ogg"}}`, code: "invalid_media", field: "file.mimetype"},
		{name: "voice has no caption", path: "/api/sendVoice",
			body: `{"session":"s1","chatId":"15557654321","file":{"url":"https://e.com/v.ogg"},"caption":"x"}`, code: "unknown_field", field: "caption"},

		// sendVideo
		{name: "video", path: "/api/sendVideo",
			body: `{"session":"s1","chatId":"120363012345678901@g.us","file":{"mimetype":"video/mp4","url":"https://e.com/v.mp4"},"caption":"clip","reply_to":"3EB0AAAA"}`,
			want: &good{"clip", queue.Payload{Media: &provider.Media{URL: "https://e.com/v.mp4", Mimetype: "video/mp4"}}}},
		{name: "video, image mimetype", path: "/api/sendVideo",
			body: `{"session":"s1","chatId":"15557654321","file":{"mimetype":"image/gif","url":"https://e.com/v.gif"}}`, code: "invalid_media", field: "file.mimetype"},

		// sendLocation
		{name: "location", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":52.516275,"longitude":13.377704,"title":"Brandenburger Tor","address":"Pariser Platz, Berlin"}`,
			want: &good{"", queue.Payload{Location: &provider.Location{Latitude: 52.516275, Longitude: 13.377704, Title: "Brandenburger Tor", Address: "Pariser Platz, Berlin"}}}},
		{name: "location at the edges", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":-90,"longitude":180}`,
			want: &good{"", queue.Payload{Location: &provider.Location{Latitude: -90, Longitude: 180}}}},
		{name: "location at 0,0", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":0,"longitude":0}`,
			want: &good{"", queue.Payload{Location: &provider.Location{}}}},
		{name: "location without latitude", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","longitude":13.4}`, code: "invalid_location", field: "latitude"},
		{name: "location without longitude", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":52.5}`, code: "invalid_location", field: "longitude"},
		{name: "latitude over 90", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":90.0001,"longitude":0}`, code: "invalid_location", field: "latitude"},
		{name: "longitude under -180", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":0,"longitude":-180.5}`, code: "invalid_location", field: "longitude"},
		{name: "latitude as a string", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":"52.5","longitude":0}`, code: "wrong_type", field: "latitude"},
		{name: "title too long", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"15557654321","latitude":1,"longitude":1,"title":"` + long(1025) + `"}`, code: "invalid_location", field: "title"},
		{name: "location, bad chat", path: "/api/sendLocation",
			body: `{"session":"s1","chatId":"x","latitude":1,"longitude":1}`, code: "invalid_chat_id", field: "chatId"},

		// sendContactVcard
		{name: "contact from fields", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"fullName":"John Doe","organization":"Acme","phoneNumber":"+91 11111 11111","whatsappId":"911111111111"}]}`,
			want: &good{"", queue.Payload{Contacts: []provider.Contact{{FullName: "John Doe", Organization: "Acme", Phone: "+91 11111 11111", WhatsAppID: "911111111111"}}}}},
		{name: "contact by vcard, name taken from FN", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"vcard":"BEGIN:VCARD\nVERSION:3.0\nFN:Jane\\, Doe\nTEL;type=CELL:+1 555 0100\nEND:VCARD"}]}`,
			want: &good{"", queue.Payload{Contacts: []provider.Contact{{VCard: "BEGIN:VCARD\nVERSION:3.0\nFN:Jane\\, Doe\nTEL;type=CELL:+1 555 0100\nEND:VCARD", FullName: "Jane, Doe"}}}}},
		{name: "two contacts, WAHA's example shape", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"fullName":"A","phoneNumber":"(555) 010-0000"},` +
				`{"fullName":"Jane","vcard":"begin:vcard\r\nitem1.FN:J\r\n ane\r\nend:vcard"}]}`,
			want: &good{"", queue.Payload{Contacts: []provider.Contact{{FullName: "A", Phone: "(555) 010-0000"},
				{FullName: "Jane", VCard: "begin:vcard\r\nitem1.FN:J\r\n ane\r\nend:vcard"}}}}},
		{name: "no contacts", path: "/api/sendContactVcard", body: `{"session":"s1","chatId":"15557654321","contacts":[]}`,
			code: "invalid_contact", field: "contacts"},
		{name: "contacts missing", path: "/api/sendContactVcard", body: `{"session":"s1","chatId":"15557654321"}`,
			code: "invalid_contact", field: "contacts"},
		{name: "51 contacts", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[` + strings.TrimSuffix(strings.Repeat(`{"fullName":"A","phoneNumber":"15550100"},`, 51), ",") + `]}`,
			code: "invalid_contact", field: "contacts"},
		{name: "contact without phone", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"fullName":"A","phoneNumber":"15550100"},{"fullName":"B"}]}`,
			code: "invalid_contact", field: "contacts[1].phoneNumber"},
		{name: "contact without name", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"phoneNumber":"15550100"}]}`, code: "invalid_contact", field: "contacts[0].fullName"},
		{name: "contact, letters in the phone", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"fullName":"A","phoneNumber":"call me"}]}`, code: "invalid_contact", field: "contacts[0].phoneNumber"},
		{name: "contact, short phone", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"fullName":"A","phoneNumber":"+1 23"}]}`, code: "invalid_contact", field: "contacts[0].phoneNumber"},
		{name: "contact, whatsappId not digits", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"fullName":"A","phoneNumber":"15550100","whatsappId":"15550100@c.us"}]}`, code: "invalid_contact", field: "contacts[0].whatsappId"},
		{name: "contact, name with a newline", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"fullName":"A\nEND:VCARD","phoneNumber":"15550100"}]}`, code: "invalid_contact", field: "contacts[0].fullName"},
		{name: "contact, vcard without END", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"vcard":"BEGIN:VCARD\nFN:A"}]}`, code: "invalid_contact", field: "contacts[0].vcard"},
		{name: "contact, vcard without FN", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"vcard":"BEGIN:VCARD\nN:Doe;John\nEND:VCARD"}]}`, code: "invalid_contact", field: "contacts[0].vcard"},
		{name: "contact, not a vcard", path: "/api/sendContactVcard",
			body: `{"session":"s1","chatId":"15557654321","contacts":[{"vcard":"John Doe, +1 555 0100"}]}`, code: "invalid_contact", field: "contacts[0].vcard"},

		// reaction
		{name: "reaction", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15557654321","messageId":"3EB0A1B2C3D4E5F60718","reaction":"👍"}`,
			want: &good{"", queue.Payload{Reaction: &provider.Reaction{MessageID: "3EB0A1B2C3D4E5F60718", Emoji: "👍"}}}},
		{name: "reaction removed", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15557654321","messageId":"3EB0A1B2C3D4E5F60718","reaction":""}`,
			want: &good{"", queue.Payload{Reaction: &provider.Reaction{MessageID: "3EB0A1B2C3D4E5F60718"}}}},
		{name: "reaction, WAHA's serialized id", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","messageId":"true_15557654321@c.us_3EB0A1B2C3D4E5F60718","reaction":"❤️"}`,
			want: &good{"", queue.Payload{Reaction: &provider.Reaction{MessageID: "3EB0A1B2C3D4E5F60718", Emoji: "❤️", FromMe: true}}}},
		{name: "reaction, serialized group id with participant", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"120363012345678901@g.us","messageId":"false_120363012345678901@g.us_ABCDEF_15550001111@c.us","reaction":"😂"}`,
			want: &good{"", queue.Payload{Reaction: &provider.Reaction{MessageID: "ABCDEF", Emoji: "😂", Sender: chatid.MustParse("15550001111")}}}},
		{name: "reaction of 10 characters", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15557654321","messageId":"X","reaction":"👨‍👩‍👧‍👦"}`,
			want: &good{"", queue.Payload{Reaction: &provider.Reaction{MessageID: "X", Emoji: "👨‍👩‍👧‍👦"}}}},
		{name: "reaction without messageId", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15557654321","reaction":"👍"}`, code: "invalid_reaction", field: "messageId"},
		{name: "reaction, messageId with a space", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15557654321","messageId":"3EB0 A1","reaction":"👍"}`, code: "invalid_reaction", field: "messageId"},
		{name: "reaction, malformed serialized id", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","messageId":"true_notachat_3EB0","reaction":"👍"}`, code: "invalid_reaction", field: "messageId"},
		{name: "reaction, serialized id with an empty id", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","messageId":"false_15557654321@c.us_","reaction":"👍"}`, code: "invalid_reaction", field: "messageId"},
		{name: "reaction missing", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15557654321","messageId":"3EB0"}`, code: "invalid_reaction", field: "reaction"},
		{name: "reaction over 10 characters", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15557654321","messageId":"3EB0","reaction":"👍👍👍👍👍👍👍👍👍👍👍"}`, code: "invalid_reaction", field: "reaction"},
		{name: "reaction without chat", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","messageId":"3EB0","reaction":"👍"}`, code: "invalid_chat_id", field: "chatId"},
		{name: "reaction, chat not the serialized one", method: "PUT", path: "/api/reaction",
			body: `{"session":"s1","chatId":"15550000000","messageId":"true_15557654321@c.us_3EB0","reaction":"👍"}`, code: "invalid_chat_id", field: "chatId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "POST"
			}
			resp, b := e.do(method, tc.path, key, tc.body)
			if tc.want == nil {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("%d %s, want 400 %s", resp.StatusCode, b, tc.code)
				}
				got := errorOf(t, b)
				if got.Code != tc.code || got.Details["field"] != tc.field {
					t.Fatalf("error %s (field %v), want %s (field %s): %s", got.Code, got.Details["field"], tc.code, tc.field, got.Message)
				}
				return
			}
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("%d %s, want 202", resp.StatusCode, b)
			}
			var a sendAnswer
			if err := json.Unmarshal(b, &a); err != nil || a.Status != queue.StatusQueued || a.Session != "s1" || !strings.HasPrefix(a.ID, "msg_") {
				t.Fatalf("answer %s (%v)", b, err)
			}
			m := e.message(key, a.ID)
			wantKind := map[string]provider.Kind{"/api/sendImage": provider.KindImage, "/api/sendFile": provider.KindFile,
				"/api/sendVoice": provider.KindVoice, "/api/sendVideo": provider.KindVideo, "/api/sendLocation": provider.KindLocation,
				"/api/sendContactVcard": provider.KindContact, "/api/reaction": provider.KindReaction}[tc.path]
			if m.Type != wantKind || m.Text != tc.want.text || m.ChatID != a.ChatID {
				t.Fatalf("stored type %q text %q chat %q, want %q %q %q", m.Type, m.Text, m.ChatID, wantKind, tc.want.text, a.ChatID)
			}
			if m.Payload == nil || !reflect.DeepEqual(*m.Payload, tc.want.payload) {
				got, _ := json.Marshal(m.Payload)
				want, _ := json.Marshal(tc.want.payload)
				t.Fatalf("stored payload %s\nwant %s", got, want)
			}
		})
	}
}

// TestMediaRoutesMethodAndAuth: the routes take a tenant key, and reaction is PUT only.
func TestMediaRoutesMethodAndAuth(t *testing.T) {
	e := newSendEnv(t)
	key := e.createTenant("acme")
	body := `{"chatId":"15557654321","messageId":"3EB0","reaction":"👍"}`
	if resp, b := e.do("POST", "/api/reaction", key, body); resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "PUT") {
		t.Fatalf("POST /api/reaction: %d %s (Allow %q)", resp.StatusCode, b, resp.Header.Get("Allow"))
	}
	for _, path := range []string{"/api/sendImage", "/api/sendFile", "/api/sendVoice", "/api/sendVideo", "/api/sendLocation", "/api/sendContactVcard"} {
		if resp, _ := e.do("POST", path, "", `{}`); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without a key: %d", path, resp.StatusCode)
		}
		if resp, b := e.do("POST", path, testAdminKey, `{}`); resp.StatusCode != http.StatusForbidden || errorOf(t, b).Code != "tenant_key_required" {
			t.Errorf("POST %s with the admin key: %d %s", path, resp.StatusCode, b)
		}
	}
	// Valid bodies for a session that does not exist: 404, nothing queued.
	resp, b := e.do("POST", "/api/sendLocation", key, `{"session":"nope","chatId":"15557654321","latitude":1,"longitude":2}`)
	if resp.StatusCode != http.StatusNotFound || errorOf(t, b).Code != "session_not_found" {
		t.Fatalf("unknown session: %d %s", resp.StatusCode, b)
	}
}

// TestMediaSizeLimits: server.max_body_bytes applies first (413); past it, inline data
// is bounded at 16 MiB decoded.
func TestMediaSizeLimits(t *testing.T) {
	t.Run("body limit first", func(t *testing.T) {
		e := newSendEnv(t) // max_body_bytes 4096 in tests
		key := e.createTenant("acme")
		e.createSession(key, "s1", false)
		body := `{"session":"s1","chatId":"15557654321","file":{"mimetype":"text/plain","data":"` + b64(4096) + `"}}`
		resp, b := e.do("POST", "/api/sendFile", key, body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || errorOf(t, b).Code != "payload_too_large" {
			t.Fatalf("%d %s, want 413 payload_too_large", resp.StatusCode, b)
		}
	})
	t.Run("16 MiB decoded", func(t *testing.T) {
		e := newSendEnv(t, func(o *envOptions) { o.cfg.MaxBodyBytes = 32 << 20 })
		key := e.createTenant("acme")
		e.createSession(key, "s1", false)
		for _, tc := range []struct {
			n      int
			status int
		}{
			{16<<20 + 1, http.StatusBadRequest},
			{20 << 20, http.StatusBadRequest}, // refused before decoding
			{16 << 20, http.StatusAccepted},
		} {
			body := `{"session":"s1","chatId":"15557654321","file":{"mimetype":"application/octet-stream","data":"` + b64(tc.n) + `"}}`
			resp, b := e.do("POST", "/api/sendFile", key, body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d bytes: %d %.200s, want %d", tc.n, resp.StatusCode, b, tc.status)
			}
			if tc.status == http.StatusBadRequest {
				if got := errorOf(t, b); got.Code != "invalid_media" || got.Details["field"] != "file.data" {
					t.Fatalf("%d bytes: %+v", tc.n, got)
				}
			}
		}
	})
}

// TestMediaReachesRecipient sends every kind through the API between two sandbox
// numbers: each is dispatched with its payload, the recipient gets a message event of
// its type, and the sender's message goes sent, then delivered.
func TestMediaReachesRecipient(t *testing.T) {
	e := newSendEnv(t)
	key := e.createTenant("acme")
	e.createSession(key, "alice", true)
	e.linkSession(key, "alice", "15550000001")
	e.createSession(key, "bob", true)
	e.linkSession(key, "bob", "15550000002")
	sub, err := e.bus.Subscribe(event.Filter{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	for _, tc := range []struct {
		method, path, body string
		kind               provider.Kind
		text               string
	}{
		{"POST", "/api/sendImage", `{"file":{"url":"https://example.invalid/a.jpg"},"caption":"pic"}`, provider.KindImage, "pic"},
		{"POST", "/api/sendFile", `{"file":{"mimetype":"application/pdf","data":"JVBERi0xLjc=","filename":"a.pdf"}}`, provider.KindFile, ""},
		{"POST", "/api/sendVoice", `{"file":{"mimetype":"audio/ogg","url":"https://example.invalid/v.ogg"}}`, provider.KindVoice, ""},
		{"POST", "/api/sendVideo", `{"file":{"mimetype":"video/mp4","url":"https://example.invalid/v.mp4"},"caption":"clip"}`, provider.KindVideo, "clip"},
		{"POST", "/api/sendLocation", `{"latitude":48.8584,"longitude":2.2945,"title":"Tour Eiffel"}`, provider.KindLocation, ""},
		{"POST", "/api/sendContactVcard", `{"contacts":[{"fullName":"Jane","phoneNumber":"+1 555 0100"}]}`, provider.KindContact, ""},
		{"PUT", "/api/reaction", `{"messageId":"3EB0A1B2C3D4E5F60718","reaction":"👍"}`, provider.KindReaction, ""},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			body := `{"session":"alice","chatId":"15550000002",` + tc.body[1:]
			resp, b := e.do(tc.method, tc.path, key, body)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			var a sendAnswer
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			deadline := time.After(5 * time.Second)
			for got := false; !got; {
				select {
				case env := <-sub.C():
					want := event.Message
					if tc.kind == provider.KindReaction {
						want = event.MessageReaction // WAHA's event for reactions
					}
					if env.Event != want || env.Session != "bob" {
						continue
					}
					var p session.MessagePayload
					if err := json.Unmarshal(env.Payload, &p); err != nil {
						t.Fatal(err)
					}
					if p.Type != tc.kind || p.Body != tc.text || p.From != "15550000001@c.us" {
						t.Fatalf("bob got %s", env.Payload)
					}
					got = true
				case <-deadline:
					t.Fatalf("bob got no message; alice's message: %+v", e.message(key, a.ID))
				}
			}
			waitFor(t, "delivered", func() bool { return e.message(key, a.ID).Status == queue.StatusDelivered })
		})
	}
}
