package main

import (
	"strings"
	"testing"
)

// Status updates between sandbox numbers: A's text status reaches its contact B as a
// message of status@broadcast with A as participant; a status for an explicit audience
// reaches that audience (C, no contact of A); deleting it reaches C as a revoke.
func TestStatusUpdates(t *testing.T) {
	s := newChatsSurface(t, "a", "b", "c")
	// B becomes A's contact by an exchange of messages.
	s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "hi"})
	s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "hi" })

	var privacy struct {
		Type string `json:"type"`
		List []any  `json:"list"`
	}
	s.must(200, "GET", "/api/a/status/privacy", nil).json(t, &privacy)
	if privacy.Type != "contacts" || privacy.List == nil || len(privacy.List) != 0 {
		t.Fatalf("privacy %+v", privacy)
	}

	id := s.sent("a", "POST", "/api/a/status/text", map[string]any{"text": "Open till 9", "backgroundColor": "#112233", "font": 2,
		"linkPreview": false})
	got := s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "Open till 9" })
	if got["chatId"] != "status@broadcast" || got["from"] != "status@broadcast" || got["participant"] != s.chat("a") {
		t.Fatalf("b's status: %v", got)
	}
	var rec struct {
		ChatID  string `json:"chatId"`
		Payload struct {
			Status struct {
				BackgroundColor string `json:"backgroundColor"`
				Font            int    `json:"font"`
			} `json:"status"`
		} `json:"payload"`
	}
	s.must(200, "GET", "/api/messages/"+id, nil).json(t, &rec)
	if rec.ChatID != "status@broadcast" || rec.Payload.Status.BackgroundColor != "#112233" || rec.Payload.Status.Font != 2 {
		t.Fatalf("status record %+v", rec)
	}

	img := s.sent("a", "POST", "/api/a/status/image", map[string]any{"contacts": []string{s.chat("c")},
		"file": map[string]any{"url": "https://example.com/menu.jpg"}, "caption": "Today's menu"})
	got = s.wait("c", "message", func(p map[string]any) bool { return p["body"] == "Today's menu" })
	if got["chatId"] != "status@broadcast" || got["type"] != "image" || got["participant"] != s.chat("a") {
		t.Fatalf("c's image status: %v", got)
	}
	providerID := got["id"].(string)
	s.sent("a", "POST", "/api/a/status/delete", map[string]any{"id": img, "contacts": []string{s.chat("c")}})
	rv := s.wait("c", "message.revoked", nil)
	if rv["revokedMessageId"] != providerID {
		t.Fatalf("c's revoke: %v", rv)
	}
}

// Bad input on the status routes: 4xx with a stable code; another tenant's session is
// 404 on each.
func TestStatusBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	url := map[string]any{"url": "https://example.com/x.jpg"}
	for _, c := range []struct {
		path   string
		body   any
		status int
		code   string
	}{
		{"/api/a/status/text", map[string]any{}, 400, "invalid_text"},
		{"/api/a/status/text", map[string]any{"text": strings.Repeat("x", 701)}, 400, "invalid_text"},
		{"/api/a/status/text", map[string]any{"text": "x", "backgroundColor": "green"}, 400, "invalid_color"},
		{"/api/a/status/text", map[string]any{"text": "x", "font": 11}, 400, "invalid_font"},
		{"/api/a/status/text", map[string]any{"text": "x", "font": -1}, 400, "invalid_font"},
		{"/api/a/status/text", map[string]any{"text": "x", "contacts": []string{"120363000000000001@g.us"}}, 400, "invalid_contacts"},
		{"/api/a/status/text", map[string]any{"text": "x", "contacts": []string{"nope"}}, 400, "invalid_contacts"},
		{"/api/a/status/text", map[string]any{"text": "x", "contacts": "15550000002"}, 400, "wrong_type"},
		{"/api/a/status/text", map[string]any{"text": "x", "extra": true}, 400, "unknown_field"},
		{"/api/a/status/image", map[string]any{}, 400, "invalid_media"},
		{"/api/a/status/image", map[string]any{"file": map[string]any{"url": "https://example.com/x.mp4", "mimetype": "video/mp4"}}, 400, "invalid_media"},
		{"/api/a/status/image", map[string]any{"file": url, "caption": strings.Repeat("c", 1025)}, 400, "invalid_caption"},
		{"/api/a/status/video", map[string]any{"file": url, "backgroundColor": "#000000"}, 400, "unknown_field"},
		{"/api/a/status/voice", map[string]any{"file": map[string]any{"url": "https://example.com/x.ogg"}, "backgroundColor": "#12"}, 400, "invalid_color"},
		{"/api/a/status/delete", map[string]any{}, 400, "invalid_message_id"},
		{"/api/a/status/delete", map[string]any{"id": "msg_unknown"}, 404, "message_not_found"},
		{"/api/a/status/delete", map[string]any{"id": "false_status@broadcast_ABC"}, 403, "not_allowed"},
		{"/api/nope/status/text", map[string]any{"text": "x"}, 404, "session_not_found"},
	} {
		r := s.call("POST", c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("POST %s %v: %d %s; want %d %s", c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	other := s.createTenant("globex")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/a/status/text", map[string]any{"text": "x"}},
		{"POST", "/api/a/status/image", map[string]any{"file": url}},
		{"POST", "/api/a/status/video", map[string]any{"file": map[string]any{"url": "https://example.com/x.mp4"}}},
		{"POST", "/api/a/status/voice", map[string]any{"file": map[string]any{"url": "https://example.com/x.ogg"}}},
		{"POST", "/api/a/status/delete", map[string]any{"id": "ABC"}},
		{"GET", "/api/a/status/privacy", nil},
	} {
		if r := s.do(c.method, c.path, other, c.body); r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}
