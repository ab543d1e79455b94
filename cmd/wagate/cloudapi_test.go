package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider/cloudapi"
)

const (
	e2ePhoneNumberID = "106540352242922"
	e2eToken         = "EAAJB-e2e-token"
	e2eAppSecret     = "e2e-app-secret"
	e2eVerifyToken   = "e2e-verify-token"
)

// graphFake is a Graph API on 127.0.0.1 answering as Meta documents: the phone number
// node and /messages. Every message post is handed to posts.
type graphFake struct {
	srv   *httptest.Server
	posts chan graphPost
	mu    sync.Mutex
	n     int
}

type graphPost struct {
	path, auth string
	body       map[string]any
}

func newGraphFake(t *testing.T) *graphFake {
	g := &graphFake{posts: make(chan graphPost, 64)}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		base := "/v23.0/" + e2ePhoneNumberID
		switch {
		case r.Header.Get("Authorization") == "Bearer expired":
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"A1"}}`)
		case r.Method == "GET" && r.URL.Path == base:
			io.WriteString(w, `{"verified_name":"Acme Support","display_phone_number":"+1 555-078-3881","id":"`+e2ePhoneNumberID+`"}`)
		case r.Method == "GET" && strings.Count(r.URL.Path, "/") == 2 && strings.HasPrefix(r.URL.Path, "/v23.0/"):
			id := strings.TrimPrefix(r.URL.Path, "/v23.0/")
			fmt.Fprintf(w, `{"verified_name":"Acme","display_phone_number":"1555%s","id":%q}`, id[len(id)-7:], id)
		case r.Method == "POST" && r.URL.Path == base+"/messages":
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			g.mu.Lock()
			g.n++
			id := fmt.Sprintf("wamid.E2E%d", g.n)
			g.mu.Unlock()
			g.posts <- graphPost{path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body}
			fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":%q}]}`, body["to"], body["to"], id)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"message":"Unknown path components","type":"OAuthException","code":2500}}`)
		}
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *graphFake) next(t *testing.T) graphPost {
	t.Helper()
	select {
	case p := <-g.posts:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("the fake Graph API received no message within 10s")
		return graphPost{}
	}
}

// signMeta is X-Hub-Signature-256 as Meta computes it: HMAC-SHA256 of the raw body
// with the app secret.
func signMeta(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// statusPayload is Meta's status webhook for message id, now.
func statusPayload(id, status string, errs string) []byte {
	extra := ""
	if errs != "" {
		extra = `,"errors":` + errs
	}
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},
"statuses":[{"id":%q,"status":%q,"timestamp":"%d","recipient_id":"16505551234"%s}]},"field":"messages"}]}]}`,
		e2ePhoneNumberID, id, status, time.Now().Unix(), extra))
}

// TestCloudAPIEndToEnd: a cloudapi session of the real gateway against a fake Graph
// API: WORKING after the credential check, a text sent through POST /api/sendText
// reaches the fake as Meta's request, signed status webhooks posted to
// /api/webhooks/meta/{tenant}/{session} become message.ack delivered and read, an
// inbound message becomes a message event and opens the 24-hour window, and the
// webhook route refuses what it must.
func TestCloudAPIEndToEnd(t *testing.T) {
	fake := newGraphFake(t)
	tg := bootYAML(t, t.TempDir(), "  cloudapi:\n    base_url: "+fake.srv.URL+"\n    request_timeout: 5s\n")
	key := tg.createTenant("acme")
	events, stopSSE := tg.sse(key, "")
	defer stopSSE()

	cfg := map[string]any{"phoneNumberId": e2ePhoneNumberID, "accessToken": e2eToken,
		"appSecret": e2eAppSecret, "verifyToken": e2eVerifyToken}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "cloud", "provider": "cloudapi", "config": map[string]any{"phoneNumberId": "x"}}); r.status != 400 || r.errCode() != "invalid_session_config" {
		t.Fatalf("bad config: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "cloud", "provider": "cloudapi", "config": cfg}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "cloud")
	var info struct {
		Me struct {
			ID       string `json:"id"`
			PushName string `json:"pushName"`
		} `json:"me"`
	}
	tg.do("GET", "/api/sessions/cloud", key, nil).json(t, &info)
	if info.Me.ID != "15550783881@c.us" || info.Me.PushName != "Acme Support" {
		t.Errorf("account %+v", info.Me)
	}

	// Send: the fake receives Meta's request.
	r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "cloud", "chatId": "16505551234@c.us", "text": "hello from wagate"})
	if r.status != 202 {
		t.Fatalf("sendText: %d %s", r.status, r.body)
	}
	var sent struct {
		ID string `json:"id"`
	}
	r.json(t, &sent)
	post := fake.next(t)
	if post.auth != "Bearer "+e2eToken {
		t.Errorf("Authorization %q", post.auth)
	}
	want := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
		"type": "text", "text": map[string]any{"preview_url": false, "body": "hello from wagate"}}
	if fmt.Sprint(post.body) != fmt.Sprint(want) {
		t.Errorf("request body %v, want %v", post.body, want)
	}
	ack := waitEvent(t, events, "message.ack", func(p map[string]any) bool { return p["id"] == sent.ID && p["status"] == "sent" })
	var ap struct {
		ProviderID string `json:"providerId"`
	}
	json.Unmarshal(ack.Payload, &ap)
	if ap.ProviderID != "wamid.E2E1" {
		t.Fatalf("sent ack provider id %q", ap.ProviderID)
	}

	hook := "/api/webhooks/meta/acme/cloud"
	postHook := func(path string, body []byte, sig string) resp {
		return tg.doHeaders("POST", path, "", string(body), "X-Hub-Signature-256", sig)
	}
	// Meta's statuses, signed: delivered, then read.
	for _, st := range []string{"delivered", "read"} {
		body := statusPayload(ap.ProviderID, st, "")
		if r := postHook(hook, body, signMeta(e2eAppSecret, body)); r.status != 200 || !strings.Contains(string(r.body), `"received"`) {
			t.Fatalf("status webhook %s: %d %s", st, r.status, r.body)
		}
		waitEvent(t, events, "message.ack", func(p map[string]any) bool { return p["id"] == sent.ID && p["status"] == st })
	}
	waitMessageStatus(t, tg, key, sent.ID, "read")

	// A replay of the same delivery is answered and not processed again.
	body := statusPayload(ap.ProviderID, "read", "")
	postHook(hook, body, signMeta(e2eAppSecret, body))
	if r := postHook(hook, body, signMeta(e2eAppSecret, body)); r.status != 200 || !strings.Contains(string(r.body), "duplicate") {
		t.Errorf("replay: %d %s", r.status, r.body)
	}

	// A failed status carries Meta's error to the message.
	r = tg.do("POST", "/api/sendText", key, map[string]any{"session": "cloud", "chatId": "16505551234", "text": "are you there?"})
	var second struct {
		ID string `json:"id"`
	}
	r.json(t, &second)
	fake.next(t)
	waitEvent(t, events, "message.ack", func(p map[string]any) bool { return p["id"] == second.ID && p["status"] == "sent" })
	failed := statusPayload("wamid.E2E2", "failed", `[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message","error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]`)
	if r := postHook(hook, failed, signMeta(e2eAppSecret, failed)); r.status != 200 {
		t.Fatalf("failed status webhook: %d %s", r.status, r.body)
	}
	env := waitEvent(t, events, "message.ack", func(p map[string]any) bool { return p["id"] == second.ID && p["status"] == "failed" })
	if !strings.Contains(string(env.Payload), "reengagement_required: (#131047)") {
		t.Errorf("failed ack %s", env.Payload)
	}

	// An inbound message: a message event, and the contact's window opens.
	inbound := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},
"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],
"messages":[{"from":"16505551234","id":"wamid.IN1","timestamp":"%d","type":"text","text":{"body":"Does it come in another color?"}}]},
"field":"messages"}]}]}`, e2ePhoneNumberID, time.Now().Unix()))
	if r := postHook(hook, inbound, signMeta(e2eAppSecret, inbound)); r.status != 200 {
		t.Fatalf("message webhook: %d %s", r.status, r.body)
	}
	msg := waitEvent(t, events, "message", nil)
	var mp struct {
		ID, ChatID, From, Type, Body string
	}
	json.Unmarshal(msg.Payload, &mp)
	if msg.Session != "cloud" || mp.ID != "wamid.IN1" || mp.From != "16505551234@c.us" || mp.Type != "text" || mp.Body != "Does it come in another color?" {
		t.Errorf("message event %s %s", msg.Session, msg.Payload)
	}
	last, ok, err := cloudapi.StoreInbound{DB: tg.g.db}.LastInbound(context.Background(), "acme", "cloud", chatid.MustParse("16505551234").String())
	if err != nil || !ok || !cloudapi.WindowOpen(last, time.Now()) {
		t.Errorf("last inbound %v %v %v: window not open", last, ok, err)
	}

	// Meta's verification handshake.
	q := "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token="
	if r := tg.do("GET", hook+q+e2eVerifyToken, "", nil); r.status != 200 || string(r.body) != "1158201444" {
		t.Errorf("challenge: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", hook+q+"wrong", "", nil); r.status != 403 || r.errCode() != "verification_failed" {
		t.Errorf("challenge with a wrong token: %d %s", r.status, r.body)
	}

	// Refusals: bad signature, another tenant, unknown session, a session of another
	// provider.
	if r := postHook(hook, inbound, signMeta("not-the-secret", inbound)); r.status != 401 || r.errCode() != "signature_invalid" {
		t.Errorf("bad signature: %d %s", r.status, r.body)
	}
	if r := postHook(hook, inbound, ""); r.status != 401 || r.errCode() != "signature_missing" {
		t.Errorf("no signature: %d %s", r.status, r.body)
	}
	tg.createTenant("globex")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "web", "provider": "sandbox", "start": false}); r.status != 201 {
		t.Fatalf("sandbox session: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/api/webhooks/meta/globex/cloud", "/api/webhooks/meta/acme/nope", "/api/webhooks/meta/acme/web"} {
		if r := postHook(path, inbound, signMeta(e2eAppSecret, inbound)); r.status != 404 || r.errCode() != "webhook_not_found" {
			t.Errorf("POST %s: %d %s", path, r.status, r.body)
		}
		if r := tg.do("GET", path+q+e2eVerifyToken, "", nil); r.status != 404 {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}

	// An expired token: the session starts and reports FAILED auth_failed.
	expired := map[string]any{"phoneNumberId": e2ePhoneNumberID, "accessToken": "expired",
		"appSecret": e2eAppSecret, "verifyToken": e2eVerifyToken}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "stale", "provider": "cloudapi", "config": expired}); r.status != 201 {
		t.Fatalf("create stale: %d %s", r.status, r.body)
	}
	waitEvent(t, events, "session.status", func(p map[string]any) bool { return p["status"] == "FAILED" && p["reason"] == "auth_failed" })

	// A stopped session takes no deliveries: 503, nothing processed.
	if r := tg.do("POST", "/api/sessions/cloud/stop", key, nil); r.status != 200 {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	late := statusPayload("wamid.E2E1", "read", "")
	late = append(late, ' ') // another body than the one already seen
	if r := postHook(hook, late, signMeta(e2eAppSecret, late)); r.status != 503 || r.errCode() != "session_not_working" {
		t.Errorf("webhook to a stopped session: %d %s", r.status, r.body)
	}
	// The challenge still works: Meta may verify while the session is down.
	if r := tg.do("GET", hook+q+e2eVerifyToken, "", nil); r.status != 200 {
		t.Errorf("challenge of a stopped session: %d", r.status)
	}
}

// waitMessageStatus polls GET /api/messages/{id} (with a deadline) for status.
func waitMessageStatus(t *testing.T, tg *testGateway, key, id, status string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var m struct {
			Status string `json:"status"`
		}
		tg.do("GET", "/api/messages/"+id, key, nil).json(t, &m)
		if m.Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not %s within 10s (is %s)", id, status, m.Status)
		}
		time.Sleep(20 * time.Millisecond) // polling the API with a deadline
	}
}

// TestCloudAPIWebhookFansOutToTheAppsNumbers: Meta sends every number of an app to the
// app's one callback URL; a delivery posted to one session's URL reaches the session
// of each number it concerns (same tenant, same app secret), and no other.
func TestCloudAPIWebhookFansOutToTheAppsNumbers(t *testing.T) {
	fake := newGraphFake(t)
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	events, stopSSE := tg.sse(key, "")
	defer stopSSE()
	sessions := []struct{ name, id, secret string }{
		{"first", e2ePhoneNumberID, e2eAppSecret},
		{"second", "209876543210987", e2eAppSecret},
		{"foreign", "309876543210987", "another-app-secret"},
	}
	for _, s := range sessions {
		cfg := map[string]any{"phoneNumberId": s.id, "accessToken": e2eToken, "appSecret": s.secret,
			"verifyToken": e2eVerifyToken, "baseUrl": fake.srv.URL}
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": s.name, "provider": "cloudapi", "config": cfg, "start": false}); r.status != 201 {
			t.Fatalf("create %s: %d %s", s.name, r.status, r.body)
		}
	}
	tg.do("POST", "/api/sessions/first/start", key, nil)
	waitWorking(t, tg, key, "first")

	now := time.Now().Unix()
	change := func(pnid, wamid string) string {
		return fmt.Sprintf(`{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1555","phone_number_id":%q},
"messages":[{"from":"16505551234","id":%q,"timestamp":"%d","type":"text","text":{"body":"hi"}}]},"field":"messages"}`, pnid, wamid, now)
	}
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[` +
		change(e2ePhoneNumberID, "wamid.FIRST") + "," + change("209876543210987", "wamid.SECOND") + "," +
		change("309876543210987", "wamid.FOREIGN") + `]}]}`)

	// "second" is stopped: the delivery reached "first", and says "second" was down.
	r := tg.doHeaders("POST", "/api/webhooks/meta/acme/first", "", string(body), "X-Hub-Signature-256", signMeta(e2eAppSecret, body))
	if r.status != 503 || r.errCode() != "session_not_working" {
		t.Errorf("delivery with a stopped sibling: %d %s", r.status, r.body)
	}
	env := waitEvent(t, events, "message", nil)
	if env.Session != "first" || !strings.Contains(string(env.Payload), "wamid.FIRST") {
		t.Errorf("first message %s %s", env.Session, env.Payload)
	}

	// With "second" running, a new delivery reaches both numbers of the app; "foreign"
	// (another app's secret) never, although it runs and has its number.
	tg.do("POST", "/api/sessions/second/start", key, nil)
	tg.do("POST", "/api/sessions/foreign/start", key, nil)
	waitWorking(t, tg, key, "second")
	waitWorking(t, tg, key, "foreign")
	body = append(body, '\n')
	r = tg.doHeaders("POST", "/api/webhooks/meta/acme/first", "", string(body), "X-Hub-Signature-256", signMeta(e2eAppSecret, body))
	if r.status != 200 {
		t.Fatalf("delivery: %d %s", r.status, r.body)
	}
	// Then a marker to "foreign" through its own URL and secret: a session's events
	// arrive in order, so a FOREIGN message would come before the marker.
	marker := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[` + change("309876543210987", "wamid.MARKER") + `]}]}`)
	r = tg.doHeaders("POST", "/api/webhooks/meta/acme/foreign", "", string(marker), "X-Hub-Signature-256", signMeta("another-app-secret", marker))
	if r.status != 200 {
		t.Fatalf("marker: %d %s", r.status, r.body)
	}
	got := map[string][]string{}
	for !slices.Contains(got["foreign"], "wamid.MARKER") || len(got["second"]) == 0 || len(got["first"]) == 0 {
		env := waitEvent(t, events, "message", nil)
		var p struct {
			ID string `json:"id"`
		}
		json.Unmarshal(env.Payload, &p)
		got[env.Session] = append(got[env.Session], p.ID)
	}
	if !slices.Equal(got["first"], []string{"wamid.FIRST"}) || !slices.Equal(got["second"], []string{"wamid.SECOND"}) ||
		!slices.Equal(got["foreign"], []string{"wamid.MARKER"}) {
		t.Errorf("messages by session %v", got)
	}
}
