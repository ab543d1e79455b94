package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/provider"
)

// channelEnv is a sendEnv with tenant acme's session "alice" linked to 15550000001.
func channelEnv(t *testing.T) (*sendEnv, string) {
	e := newSendEnv(t)
	key := e.createTenant("acme")
	e.createSession(key, "alice", true)
	e.linkSession(key, "alice", "15550000001")
	return e, key
}

// Bad input on every channel route: 4xx with a stable code.
func TestChannelsBadInput(t *testing.T) {
	e, key := channelEnv(t)
	resp, b := e.do("POST", "/api/alice/channels", key, `{"name":"News"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var ch provider.Channel
	if err := json.Unmarshal(b, &ch); err != nil {
		t.Fatal(err)
	}
	id := ch.ID.String()
	const unknown = "120363999999999999@newsletter"
	png := `"data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"`
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/api/alice/channels?role=GUEST", "", 400, "invalid_role"},
		{"GET", "/api/alice/channels?role=owner", "", 400, "invalid_role"},
		{"POST", "/api/alice/channels", `{}`, 400, "invalid_name"},
		{"POST", "/api/alice/channels", `{"name":"   "}`, 400, "invalid_name"},
		{"POST", "/api/alice/channels", `{"name":"` + strings.Repeat("n", 101) + `"}`, 400, "invalid_name"},
		{"POST", "/api/alice/channels", `{"name":"x","description":"` + strings.Repeat("d", 2049) + `"}`, 400, "invalid_description"},
		{"POST", "/api/alice/channels", `{"name":"x","picture":{}}`, 400, "invalid_picture"},
		{"POST", "/api/alice/channels", `{"name":"x","picture":{"url":"ftp://x.example/p.jpg"}}`, 400, "invalid_picture"},
		{"POST", "/api/alice/channels", `{"name":"x","picture":{"mimetype":"application/pdf",` + png + `}}`, 400, "invalid_picture"},
		{"POST", "/api/alice/channels", `{"name":"x","picture":{"mimetype":"image/png","data":"dGV4dA=="}}`, 422, "invalid_picture"},
		{"POST", "/api/alice/channels", `{"name":"x","extra":1}`, 400, "unknown_field"},
		{"POST", "/api/alice/channels", `{"name":1}`, 400, "wrong_type"},
		{"GET", "/api/alice/channels/nope@c.us", "", 400, "invalid_channel_id"},
		{"GET", "/api/alice/channels/15550000002@c.us", "", 400, "invalid_channel_id"},
		{"GET", "/api/alice/channels/a%20b", "", 400, "invalid_channel_id"},
		{"GET", "/api/alice/channels/https%3A%2F%2Fwww.whatsapp.com%2Fchannel%2F", "", 400, "invalid_channel_id"},
		{"GET", "/api/alice/channels/" + unknown, "", 404, "channel_not_found"},
		{"GET", "/api/alice/channels/AbCdEfGhIjKlMnOpQrStUv", "", 404, "channel_not_found"},
		{"DELETE", "/api/alice/channels/AbCdEf", "", 400, "invalid_channel_id"},
		{"DELETE", "/api/alice/channels/" + unknown, "", 404, "channel_not_found"},
		{"POST", "/api/alice/channels/123@g.us/follow", "", 400, "invalid_channel_id"},
		{"POST", "/api/alice/channels/" + unknown + "/follow", "", 404, "channel_not_found"},
		{"POST", "/api/alice/channels/" + unknown + "/unfollow", "", 404, "channel_not_found"},
		{"POST", "/api/alice/channels/x/mute", "", 400, "invalid_channel_id"},
		{"POST", "/api/alice/channels/" + id + "/mute", "", 403, "not_allowed"},
		{"POST", "/api/alice/channels/" + id + "/unmute", "", 403, "not_allowed"},
		{"GET", "/api/alice/channels/" + id + "/messages/preview?limit=0", "", 400, "invalid_limit"},
		{"GET", "/api/alice/channels/" + id + "/messages/preview?limit=101", "", 400, "invalid_limit"},
		{"GET", "/api/alice/channels/" + id + "/messages/preview?limit=x", "", 400, "invalid_limit"},
		{"GET", "/api/alice/channels/" + id + "/messages/preview?downloadMedia=yes", "", 400, "invalid_download_media"},
		{"GET", "/api/alice/channels/" + unknown + "/messages/preview", "", 404, "channel_not_found"},
		{"GET", "/api/alice/channels/nope/messages/preview", "", 400, "invalid_channel_id"},
		{"GET", "/api/nope/channels", "", 404, "session_not_found"},
	} {
		resp, b := e.do(c.method, c.path, key, c.body)
		if resp.StatusCode != c.status || !strings.Contains(string(b), `"`+c.code+`"`) {
			t.Errorf("%s %s %s: %d %s; want %d %s", c.method, c.path, c.body, resp.StatusCode, b, c.status, c.code)
		}
	}

	// The good forms of GET channels/{id}: id, code, link (escaped or not).
	code := strings.TrimPrefix(ch.Invite, "https://www.whatsapp.com/channel/")
	for _, ref := range []string{id, code, "https%3A%2F%2Fwww.whatsapp.com%2Fchannel%2F" + code} {
		resp, b := e.do("GET", "/api/alice/channels/"+ref, key, "")
		var got provider.Channel
		json.Unmarshal(b, &got)
		if resp.StatusCode != 200 || got.ID != ch.ID || got.Role != provider.ChannelOwner {
			t.Errorf("GET channels/%s: %d %s", ref, resp.StatusCode, b)
		}
	}
	resp, b = e.do("GET", "/api/alice/channels/"+id+"/messages/preview?downloadMedia=true", key, "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("preview of a channel without posts: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/api/alice/channels?role=SUBSCRIBER", key, "")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("alice's channels as subscriber: %d %s", resp.StatusCode, b)
	}
}

// Another tenant is 404 session_not_found on every channel route, before any check of
// the body or the id.
func TestChannelsOtherTenant(t *testing.T) {
	e, _ := channelEnv(t)
	other := e.createTenant("globex")
	const id = "/api/alice/channels/120363000000000001@newsletter"
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/alice/channels", ""},
		{"POST", "/api/alice/channels", `{"name":"x"}`},
		{"GET", id, ""},
		{"GET", "/api/alice/channels/AbCdEf", ""},
		{"DELETE", id, ""},
		{"POST", id + "/follow", ""},
		{"POST", id + "/unfollow", ""},
		{"POST", id + "/mute", ""},
		{"POST", id + "/unmute", ""},
		{"GET", id + "/messages/preview", ""},
	} {
		resp, b := e.do(c.method, c.path, other, c.body)
		if resp.StatusCode != 404 || !strings.Contains(string(b), "session_not_found") {
			t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, resp.StatusCode, b)
		}
	}
}

// FuzzChannelsRequests feeds arbitrary path ids, queries and bodies to the decoding
// and checks of the channel routes: every answer is success or a 4xx with a code,
// never a panic, and what is accepted is within bounds.
func FuzzChannelsRequests(f *testing.F) {
	f.Add("120363123456789012@newsletter", "limit=10&downloadMedia=false&role=OWNER", []byte(`{"name":"News","description":"d"}`))
	f.Add("https://www.whatsapp.com/channel/0029VaAbCdEf", "limit=0", []byte(`{"name":"x","picture":{"url":"https://x.example/p.jpg"}}`))
	f.Add("AbCd_-12", "limit=101&role=GUEST", []byte(`{"name":"x","picture":{"mimetype":"image/png","data":"iVBORw0K"}}`))
	f.Add("1@g.us", "downloadMedia=1", []byte(`{"name":"","picture":{}}`))
	f.Add("", "role=", []byte(`{"name":"x","picture":{"url":"https://x","data":"eA=="}}`))
	f.Fuzz(func(t *testing.T, id, query string, body []byte) {
		var c fasthttp.RequestCtx
		c.Request.Header.SetContentType("application/json")
		c.Request.SetBody(body)
		c.Request.SetRequestURI("/x?" + query)
		c.SetUserValue("id", id)

		cid, err := channelPathID(&c)
		checkClientError(t, "channel id", err)
		if err == nil && !cid.IsNewsletter() {
			t.Fatalf("accepted channel id %v", cid)
		}
		ref, err := parseChannelRef(id, "id")
		checkClientError(t, "channel ref", err)
		if err == nil && (ref.code == "") == ref.id.IsZero() {
			t.Fatalf("ref %+v from %q", ref, id)
		}
		if err == nil && len(ref.code) > maxChannelInvite {
			t.Fatalf("accepted code %q", ref.code)
		}
		limit, err := parseChannelPreview(c.QueryArgs())
		checkClientError(t, "preview query", err)
		if err == nil && (limit < 1 || limit > maxChannelPreview) {
			t.Fatalf("accepted limit %d", limit)
		}
		role, err := parseChannelRole(string(c.QueryArgs().Peek("role")))
		checkClientError(t, "role", err)
		if err == nil && role == provider.ChannelGuest {
			t.Fatal("accepted role GUEST")
		}
		var b createChannelBody
		if err := decodeJSON(&c, &b); err != nil {
			checkClientError(t, "create body", err)
			return
		}
		pic, err := b.parse()
		checkClientError(t, "create body", err)
		if err == nil && (strings.TrimSpace(b.Name) == "" || len([]rune(b.Name)) > maxChannelName || len([]rune(b.Description)) > maxChannelDescription) {
			t.Fatalf("accepted %q / %q", b.Name, b.Description)
		}
		if err == nil && pic != nil && (pic.URL == "") == (len(pic.Data) == 0) {
			t.Fatalf("accepted picture %+v", pic)
		}
	})
}
