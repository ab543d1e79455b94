package main

import (
	"fmt"
	"testing"
)

// POST /api/sendTemplate queues a template; the Cloud API session sends it as Meta
// documents; bad templates are 400.
func TestSendTemplate(t *testing.T) {
	fake := newGraphFake(t)
	tg := bootYAML(t, t.TempDir(), "  cloudapi:\n    base_url: "+fake.srv.URL+"\n    request_timeout: 5s\n")
	key := tg.createTenant("acme")
	cfg := map[string]any{"phoneNumberId": e2ePhoneNumberID, "accessToken": e2eToken, "appSecret": e2eAppSecret, "verifyToken": e2eVerifyToken}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "cloud", "provider": "cloudapi", "config": cfg}); r.status != 201 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "cloud")
	components := []map[string]any{{"type": "body", "parameters": []map[string]any{{"type": "text", "text": "A-1234"}}}}
	r := tg.do("POST", "/api/sendTemplate", key, map[string]any{"session": "cloud", "chatId": "16505551234",
		"name": "order_shipped", "language": "en_US", "components": components})
	if r.status != 202 {
		t.Fatalf("sendTemplate: %d %s", r.status, r.body)
	}
	p := fake.next(t)
	tpl, _ := p.body["template"].(map[string]any)
	if p.body["type"] != "template" || tpl["name"] != "order_shipped" ||
		fmt.Sprint(tpl["language"]) != "map[code:en_US]" || fmt.Sprint(tpl["components"]) != fmt.Sprint([]any{map[string]any{"type": "body", "parameters": []any{map[string]any{"type": "text", "text": "A-1234"}}}}) {
		t.Fatalf("Graph request: %v", p.body)
	}
	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"chatId": "16505551234", "name": "Order Shipped", "language": "en_US"}, "invalid_template"},
		{map[string]any{"chatId": "16505551234", "name": "order_shipped", "language": "english"}, "invalid_template"},
		{map[string]any{"chatId": "16505551234", "name": "order_shipped", "language": "en", "components": map[string]any{}}, "invalid_template"},
		{map[string]any{"chatId": "not a chat", "name": "order_shipped", "language": "en"}, "invalid_chat_id"},
	} {
		c.body["session"] = "cloud"
		if r := tg.do("POST", "/api/sendTemplate", key, c.body); r.status != 400 || r.errCode() != c.code {
			t.Errorf("%v: %d %s, want 400 %s", c.body, r.status, r.body, c.code)
		}
	}
}

// GET /api/{session}/media/{messageId}: a provider that cannot download says so; an
// unknown session is 404.
func TestMediaRouteRefusals(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main"}); r.status != 201 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	tg.do("POST", "/api/sandbox/main/link", key, map[string]any{})
	waitWorking(t, tg, key, "main")
	if r := tg.do("GET", "/api/main/media/ABC123", key, nil); r.status != 400 || r.errCode() != "download_unsupported" {
		t.Errorf("sandbox media: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/nope/media/ABC123", key, nil); r.status != 404 || r.errCode() != "session_not_found" {
		t.Errorf("unknown session: %d %s", r.status, r.body)
	}
}
