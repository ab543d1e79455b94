package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// channel is a channel answer.
type channel struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Invite      string `json:"invite"`
	Role        string `json:"role"`
	Muted       bool   `json:"muted"`
	Followers   int    `json:"subscribersCount"`
}

// channelPost is a preview answer's item.
type channelPost struct {
	Message struct {
		ID     string `json:"id"`
		From   string `json:"from"`
		FromMe bool   `json:"fromMe"`
		Body   string `json:"body"`
		Type   string `json:"type"`
	} `json:"message"`
	ViewCount int            `json:"viewCount"`
	Reactions map[string]int `json:"reactions"`
}

// The must-show of channels: A creates one, B follows it by its invite, A posts to it
// through POST /api/sendText and B gets the post as a message of the channel's chat;
// the preview counts B's view; B mutes, unmutes and unfollows, and A's next post
// no longer reaches B; B may not delete A's channel, A may.
func TestChannelsThroughTheGateway(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	var ch channel
	s.must(201, "POST", "/api/a/channels", map[string]any{"name": "Acme News", "description": "What is new"}).json(t, &ch)
	if !strings.HasSuffix(ch.ID, "@newsletter") || ch.Role != "OWNER" || !strings.HasPrefix(ch.Invite, "https://www.whatsapp.com/channel/") {
		t.Fatalf("created %+v", ch)
	}
	path := "/api/b/channels/" + ch.ID

	// B sees it by its link as a guest, follows it, lists it as a subscriber.
	var seen channel
	s.must(200, "GET", "/api/b/channels/"+strings.ReplaceAll(ch.Invite, "/", "%2F"), nil).json(t, &seen)
	if seen.ID != ch.ID || seen.Role != "GUEST" {
		t.Fatalf("b by invite link: %+v", seen)
	}
	s.must(200, "POST", path+"/follow", nil)
	var list []channel
	s.must(200, "GET", "/api/b/channels?role=SUBSCRIBER", nil).json(t, &list)
	if len(list) != 1 || list[0].ID != ch.ID || list[0].Role != "SUBSCRIBER" || list[0].Name != "Acme News" {
		t.Fatalf("b's subscribed channels: %+v", list)
	}
	s.must(200, "GET", "/api/b/channels?role=OWNER", nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("b owns %+v", list)
	}

	// A posts; B gets it from the channel's chat.
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": ch.ID, "text": "Launch day"})
	s.wait("b", "message", func(p map[string]any) bool {
		return p["chatId"] == ch.ID && p["from"] == ch.ID && p["body"] == "Launch day" && p["fromMe"] == false
	})
	var posts []channelPost
	s.must(200, "GET", path+"/messages/preview?limit=5&downloadMedia=true", nil).json(t, &posts)
	if len(posts) != 1 || posts[0].Message.Body != "Launch day" || posts[0].ViewCount != 1 || posts[0].Message.From != ch.ID || posts[0].Reactions == nil {
		t.Fatalf("preview: %+v", posts)
	}

	// A follower's send to the channel is accepted, then fails: only the owner posts.
	var sent struct {
		ID string `json:"id"`
	}
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "b", "chatId": ch.ID, "text": "Me too"}).json(t, &sent)
	waitMessageStatus(t, s.testGateway, s.key, sent.ID, "failed")
	if r := s.call("GET", "/api/messages/"+sent.ID, nil); !strings.Contains(string(r.body), "not_allowed") {
		t.Errorf("b's post failed as %s, want not_allowed", r.body)
	}

	// B mutes and unmutes; only a follower may.
	s.must(200, "POST", path+"/mute", nil)
	s.must(200, "GET", path, nil).json(t, &seen)
	if !seen.Muted || seen.Role != "SUBSCRIBER" {
		t.Fatalf("muted: %+v", seen)
	}
	s.must(200, "POST", path+"/unmute", nil)
	s.must(200, "GET", path, nil).json(t, &seen)
	if seen.Muted {
		t.Fatalf("unmuted: %+v", seen)
	}

	// B unfollows: A's next post does not reach B. A's direct message sent after it,
	// through the same session queue, marks when it would have.
	s.must(200, "POST", path+"/unfollow", nil)
	s.must(200, "GET", path, nil).json(t, &seen)
	if seen.Role != "GUEST" {
		t.Fatalf("after unfollow: %+v", seen)
	}
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": ch.ID, "text": "Nobody home"})
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "marker"})
	s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "marker" })
	for _, env := range s.backlog {
		if env.Session == "b" && env.Event == "message" && strings.Contains(string(env.Payload), "Nobody home") {
			t.Fatalf("b got a post after unfollowing: %s", env.Payload)
		}
	}
	s.must(200, "GET", "/api/a/channels/"+ch.ID+"/messages/preview", nil).json(t, &posts)
	if len(posts) != 2 || posts[0].Message.Body != "Nobody home" || posts[0].ViewCount != 0 || !posts[0].Message.FromMe {
		t.Fatalf("a's preview: %+v", posts)
	}

	// Only the owner deletes.
	if r := s.call("DELETE", path, nil); r.status != 403 || !strings.Contains(string(r.body), `"not_allowed"`) {
		t.Fatalf("b deletes: %d %s, want 403 not_allowed", r.status, r.body)
	}
	s.must(200, "DELETE", "/api/a/channels/"+ch.ID, nil)
	if r := s.call("GET", path, nil); r.status != 404 || !strings.Contains(string(r.body), `"channel_not_found"`) {
		t.Fatalf("after delete: %d %s, want 404 channel_not_found", r.status, r.body)
	}
	s.must(200, "GET", "/api/a/channels", nil).json(t, &list)
	if len(list) != 0 {
		t.Fatalf("a's channels after delete: %+v", list)
	}
}

// A Cloud API session has no channels: every route answers 501 naming the provider
// and the capability, as labels do.
func TestCloudAPIChannels(t *testing.T) {
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "GET" && r.URL.Path == "/v23.0/"+e2ePhoneNumberID {
			io.WriteString(w, `{"verified_name":"Acme Support","display_phone_number":"+1 555-078-3881","id":"`+e2ePhoneNumberID+`"}`)
			return
		}
		w.WriteHeader(404)
		io.WriteString(w, `{"error":{"message":"Unknown path components","type":"OAuthException","code":2500}}`)
	}))
	t.Cleanup(graph.Close)
	tg := bootYAML(t, t.TempDir(), "  cloudapi:\n    base_url: "+graph.URL+"\n    request_timeout: 5s\n")
	t.Cleanup(tg.stop)
	key := tg.createTenant("acme")
	cfg := map[string]any{"phoneNumberId": e2ePhoneNumberID, "accessToken": e2eToken, "appSecret": e2eAppSecret, "verifyToken": e2eVerifyToken}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "cloud", "provider": "cloudapi", "config": cfg}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "cloud")
	const id = "/api/cloud/channels/120363000000000001@newsletter"
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/cloud/channels", nil},
		{"POST", "/api/cloud/channels", map[string]any{"name": "News"}},
		{"GET", id, nil},
		{"GET", "/api/cloud/channels/AbCdEf", nil},
		{"DELETE", id, nil},
		{"POST", id + "/follow", nil},
		{"POST", id + "/unfollow", nil},
		{"POST", id + "/mute", nil},
		{"POST", id + "/unmute", nil},
		{"GET", id + "/messages/preview", nil},
	} {
		r := tg.do(tc.method, tc.path, key, tc.body)
		var e struct {
			Error struct {
				Code    string         `json:"code"`
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		json.Unmarshal(r.body, &e)
		if r.status != 501 || e.Error.Code != "not_supported_by_provider" || e.Error.Details["provider"] != "cloudapi" || e.Error.Details["capability"] != "channels" {
			t.Errorf("%s %s: %d %s, want 501 naming cloudapi and channels", tc.method, tc.path, r.status, r.body)
		}
	}
}
