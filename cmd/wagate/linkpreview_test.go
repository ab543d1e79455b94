package main

import (
	"strings"
	"testing"
)

// Link previews between sandbox numbers: a sender's own card (link-custom-preview)
// reaches B as the message's preview; sendText with a link shows a card of the link
// unless linkPreview is false; WAHA's deprecated sendLinkPreview sends the link with
// its title; the card is in the message's record.
func TestLinkPreviews(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	preview := func(p map[string]any) map[string]any {
		card, _ := p["preview"].(map[string]any)
		return card
	}

	id := s.sent("a", "POST", "/api/send/link-custom-preview", map[string]any{"session": "a", "chatId": s.chat("b"),
		"text": "New shoes https://shop.example/shoes", "linkPreviewHighQuality": true,
		"preview": map[string]any{"url": "https://shop.example/shoes", "title": "Blue shoes", "description": "Size 42",
			"image": map[string]any{"url": "https://shop.example/shoes.jpg"}}})
	got := s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "New shoes https://shop.example/shoes" })
	card := preview(got)
	img, _ := card["image"].(map[string]any)
	if card["url"] != "https://shop.example/shoes" || card["title"] != "Blue shoes" || card["description"] != "Size 42" ||
		card["highQuality"] != true || img["url"] != "https://shop.example/shoes.jpg" {
		t.Fatalf("b's card: %v", got)
	}
	var rec struct {
		Payload struct {
			Preview struct {
				Title string `json:"title"`
			} `json:"preview"`
		} `json:"payload"`
	}
	s.must(200, "GET", "/api/messages/"+id, nil).json(t, &rec)
	if rec.Payload.Preview.Title != "Blue shoes" {
		t.Fatalf("the record lost the card: %+v", rec)
	}

	s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "see https://a.example/page."})
	got = s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "see https://a.example/page." })
	if card := preview(got); card["url"] != "https://a.example/page" {
		t.Fatalf("sendText's card: %v", got)
	}
	s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "no card https://a.example/x", "linkPreview": false})
	got = s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "no card https://a.example/x" })
	if _, ok := got["preview"]; ok {
		t.Fatalf("linkPreview false still shows a card: %v", got)
	}

	s.sent("a", "POST", "/api/sendLinkPreview", map[string]any{"session": "a", "chatId": s.chat("b"), "url": "https://b.example/", "title": "B"})
	got = s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "https://b.example/" })
	if card := preview(got); card["title"] != "B" || card["url"] != "https://b.example/" {
		t.Fatalf("sendLinkPreview's card: %v", got)
	}
}

// Bad input on the link preview routes: 4xx with a stable code; another tenant's
// session is 404.
func TestLinkPreviewBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	to := s.chat("a")
	card := func(kv ...any) map[string]any {
		m := map[string]any{"url": "https://x.example/p", "title": "T"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	body := func(p any) map[string]any {
		return map[string]any{"session": "a", "chatId": to, "text": "look https://x.example/p", "preview": p}
	}
	for _, c := range []struct {
		path   string
		body   any
		status int
		code   string
	}{
		{"/api/send/link-custom-preview", map[string]any{"session": "a", "chatId": to, "text": "x https://x.example/p"}, 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("url", "")), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("url", "ftp://x.example/p")), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("url", "https://other.example/")), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("title", " ")), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("title", strings.Repeat("t", 257))), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("description", strings.Repeat("d", 1025))), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("image", map[string]any{"url": "https://x.example/a.pdf", "mimetype": "application/pdf"})), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("image", map[string]any{})), 400, "invalid_preview"},
		{"/api/send/link-custom-preview", body(card("image", "https://x.example/a.jpg")), 400, "wrong_type"},
		{"/api/send/link-custom-preview", body(card("extra", 1)), 400, "unknown_field"},
		{"/api/send/link-custom-preview", map[string]any{"session": "a", "chatId": to, "preview": card()}, 400, "invalid_text"},
		{"/api/send/link-custom-preview", map[string]any{"session": "a", "chatId": "nope", "text": "x", "preview": card()}, 400, "invalid_chat_id"},
		{"/api/sendLinkPreview", map[string]any{"session": "a", "chatId": to, "url": "https://x.example/"}, 400, "invalid_preview"},
		{"/api/sendLinkPreview", map[string]any{"session": "a", "chatId": to, "url": "x.example", "title": "T"}, 400, "invalid_preview"},
		{"/api/sendLinkPreview", map[string]any{"session": "nope", "chatId": to, "url": "https://x.example/", "title": "T"}, 404, "session_not_found"},
	} {
		r := s.call("POST", c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("POST %s %v: %d %s; want %d %s", c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	other := s.createTenant("globex")
	for _, path := range []string{"/api/send/link-custom-preview", "/api/sendLinkPreview"} {
		b := body(card())
		if path == "/api/sendLinkPreview" {
			b = map[string]any{"session": "a", "chatId": to, "url": "https://x.example/", "title": "T"}
		}
		if r := s.do("POST", path, other, b); r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("POST %s as another tenant: %d %s", path, r.status, r.body)
		}
	}
}
