package main

import (
	"strings"
	"testing"
)

// newChatsSurface is newSurface on a gateway whose sandbox never reads a message by
// itself (read_delay 0): read receipts come only from the recipient's sendSeen.
func newChatsSurface(t *testing.T, sessions ...string) *surface {
	t.Helper()
	dir := t.TempDir()
	tg := bootConfig(t, `
server:
  listen: 127.0.0.1:0
  max_body_bytes: 64KiB
  shutdown_timeout: 5s
store:
  dir: `+dir+`
  gc_interval: 0
admin:
  api_key: `+adminKey+`
log:
  level: error
limits:
  subscriber_buffer: 16384 # the surface's one stream takes every event of bursts of 1,000 sends
queue:
  rate_per_session: 0
  backoff_base: 10ms
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`)
	t.Cleanup(tg.stop)
	s := &surface{testGateway: tg, key: tg.createTenant("acme"), phone: map[string]string{}}
	events, stop := tg.sse(s.key, "")
	t.Cleanup(stop)
	s.events = events
	for i, name := range sessions {
		phone := "1555000000" + string(rune('1'+i))
		s.phone[name] = phone
		if r := tg.do("POST", "/api/sessions", s.key, map[string]any{"name": name}); r.status != 201 {
			t.Fatalf("create session %s: %d %s", name, r.status, r.body)
		}
		waitEvent(t, events, "session.qr", func(map[string]any) bool { return true })
		if r := tg.do("POST", "/api/sandbox/"+name+"/link", s.key, map[string]any{"phone": phone}); r.status != 200 {
			t.Fatalf("link %s: %d %s", name, r.status, r.body)
		}
		waitWorking(t, tg, s.key, name)
	}
	return s
}

// presenceOf returns the one presence of a presence.update payload for chat.
func presenceOf(chat, state string) func(p map[string]any) bool {
	return func(p map[string]any) bool {
		ps, _ := p["presences"].([]any)
		if p["id"] != chat || len(ps) != 1 {
			return false
		}
		one, _ := ps[0].(map[string]any)
		return one["participant"] == chat && one["lastKnownPresence"] == state
	}
}

// startTyping by A is seen by B as presence.update typing, stopTyping as paused,
// recording through POST presence; no subscription needed inside the chat.
func TestPresenceTyping(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	s.must(200, "POST", "/api/startTyping", map[string]any{"session": "a", "chatId": s.chat("b")})
	s.wait("b", "presence.update", presenceOf(s.chat("a"), "typing"))
	s.must(200, "POST", "/api/stopTyping", map[string]any{"session": "a", "chatId": s.chat("b")})
	s.wait("b", "presence.update", presenceOf(s.chat("a"), "paused"))
	s.must(200, "POST", "/api/a/presence", map[string]any{"presence": "recording", "chatId": s.chat("b")})
	s.wait("b", "presence.update", presenceOf(s.chat("a"), "recording"))
}

// After B subscribes to A's presence, B hears A's current presence at once (offline),
// then online and offline as A sets them, with lastSeen once A went offline.
func TestPresenceSubscribe(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	s.must(200, "POST", "/api/b/presence/"+s.chat("a")+"/subscribe", nil)
	s.wait("b", "presence.update", presenceOf(s.chat("a"), "offline"))
	s.must(200, "POST", "/api/a/presence", map[string]any{"presence": "online"})
	s.wait("b", "presence.update", presenceOf(s.chat("a"), "online"))
	s.must(200, "POST", "/api/a/presence", map[string]any{"presence": "offline"})
	p := s.wait("b", "presence.update", presenceOf(s.chat("a"), "offline"))
	if ls, _ := p["presences"].([]any)[0].(map[string]any)["lastSeen"].(float64); ls <= 0 {
		t.Fatalf("offline after online without lastSeen: %v", p)
	}
}

// GET presence answers the last presence known: B's view of A once A typed, and of a
// group where A typed; a contact not known yet is subscribed to by the GET itself.
func TestPresenceKnown(t *testing.T) {
	s := newChatsSurface(t, "a", "b", "c")
	s.must(200, "POST", "/api/startTyping", map[string]any{"session": "a", "chatId": s.chat("b")})
	s.wait("b", "presence.update", presenceOf(s.chat("a"), "typing"))
	var one struct {
		ID        string `json:"id"`
		Presences []struct {
			Participant       string `json:"participant"`
			LastKnownPresence string `json:"lastKnownPresence"`
		} `json:"presences"`
	}
	s.must(200, "GET", "/api/b/presence/"+s.chat("a"), nil).json(t, &one)
	if one.ID != s.chat("a") || len(one.Presences) != 1 || one.Presences[0].LastKnownPresence != "typing" {
		t.Fatalf("b's presence of a: %+v", one)
	}

	var g groupCreated
	s.must(201, "POST", "/api/a/groups", map[string]any{"name": "Team",
		"participants": []map[string]string{{"id": s.chat("b")}, {"id": s.chat("c")}}}).json(t, &g)
	s.must(200, "POST", "/api/a/presence", map[string]any{"presence": "recording", "chatId": g.ID})
	for who, p := range s.waitEach("presence.update", []string{"b", "c"}, func(p map[string]any) bool { return p["id"] == g.ID }) {
		if ps := p["presences"].([]any); ps[0].(map[string]any)["participant"] != s.chat("a") {
			t.Fatalf("%s saw %v", who, p)
		}
	}
	var all []struct {
		ID string `json:"id"`
	}
	s.must(200, "GET", "/api/c/presence", nil).json(t, &all)
	if len(all) != 1 || all[0].ID != g.ID {
		t.Fatalf("c's known presences: %+v", all)
	}

	// C knows nothing of B: the GET subscribes, and B's presence (offline) arrives.
	s.must(200, "GET", "/api/c/presence/"+s.chat("b"), nil)
	s.wait("c", "presence.update", presenceOf(s.chat("b"), "offline"))
	s.must(200, "GET", "/api/c/presence/"+s.chat("b"), nil).json(t, &one)
	if len(one.Presences) != 1 || one.Presences[0].LastKnownPresence != "offline" {
		t.Fatalf("c's presence of b after the subscription: %+v", one)
	}
	s.must(200, "GET", "/api/c/presence/120363000000000009@g.us", nil).json(t, &one)
	if len(one.Presences) != 0 {
		t.Fatalf("unknown group: %+v", one)
	}
}

func TestPresenceBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	long := strings.Repeat("1", 200)
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/startTyping", map[string]any{"session": "a"}, 400, "invalid_chat_id"},
		{"POST", "/api/startTyping", map[string]any{"session": "a", "chatId": "x@y"}, 400, "invalid_chat_id"},
		{"POST", "/api/startTyping", map[string]any{"session": "a", "chatId": long}, 400, "invalid_chat_id"},
		{"POST", "/api/startTyping", map[string]any{"session": "bad name", "chatId": "123@c.us"}, 400, "invalid_session_name"},
		{"POST", "/api/stopTyping", map[string]any{"session": "a", "chatId": 5}, 400, "wrong_type"},
		{"POST", "/api/stopTyping", map[string]any{"session": "a", "chat": "123@c.us"}, 400, "unknown_field"},
		{"POST", "/api/startTyping", nil, 415, "unsupported_media_type"},
		{"POST", "/api/startTyping", map[string]any{"session": "nope", "chatId": "15551234567@c.us"}, 404, "session_not_found"},
		{"POST", "/api/a/presence", map[string]any{"presence": "away"}, 400, "invalid_presence"},
		{"POST", "/api/a/presence", map[string]any{"presence": "typing"}, 400, "invalid_chat_id"},
		{"POST", "/api/a/presence", map[string]any{}, 400, "invalid_presence"},
		{"POST", "/api/nope/presence", map[string]any{"presence": "online"}, 404, "session_not_found"},
		{"POST", "/api/a/presence/123@g.us/subscribe", nil, 400, "invalid_contact_id"},
		{"POST", "/api/a/presence/abc/subscribe", nil, 400, "invalid_contact_id"},
		{"GET", "/api/a/presence/abc", nil, 400, "invalid_chat_id"},
		{"GET", "/api/nope/presence", nil, 404, "session_not_found"},
		{"GET", "/api/nope/presence/15551234567@c.us", nil, 404, "session_not_found"},
	} {
		r := s.call(c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("%s %s %v: %d %s; want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
}

// Another tenant's session is 404 session_not_found on every presence route.
func TestPresenceOtherTenant(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	other := s.createTenant("globex")
	for _, c := range []struct {
		path string
		body any
	}{
		{"/api/startTyping", map[string]any{"session": "a", "chatId": s.chat("b")}},
		{"/api/stopTyping", map[string]any{"session": "a", "chatId": s.chat("b")}},
		{"/api/a/presence", map[string]any{"presence": "online"}},
		{"/api/a/presence/" + s.chat("b") + "/subscribe", nil},
	} {
		r := s.do("POST", c.path, other, c.body)
		if r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("POST %s as another tenant: %d %s", c.path, r.status, r.body)
		}
	}
	for _, path := range []string{"/api/a/presence", "/api/a/presence/" + s.chat("b")} {
		if r := s.do("GET", path, other, nil); r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("GET %s as another tenant: %d %s", path, r.status, r.body)
		}
	}
}
