package main

import (
	"strings"
	"testing"
)

// label is a label answer.
type label struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Color    int    `json:"color"`
	ColorHex string `json:"colorHex"`
}

// The must-show of labels: A labels its chat with B, sees the label on the chat and the
// chat under the label, with label.* events; the full-set PUT takes one off; deleting a
// label takes it off the chat.
func TestLabelsOnAChat(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	var vip, paid label
	s.must(201, "POST", "/api/a/labels", map[string]any{"name": "VIP", "color": 1}).json(t, &vip)
	if vip.ID == "" || vip.ColorHex != "#64c4ff" {
		t.Fatalf("created %+v", vip)
	}
	s.wait("a", "label.upsert", func(p map[string]any) bool { return p["id"] == vip.ID && p["name"] == "VIP" })
	s.must(201, "POST", "/api/a/labels", map[string]any{"name": "Paid", "colorHex": "#55CCB3"}).json(t, &paid)
	if paid.Color != 5 {
		t.Fatalf("colorHex #55CCB3 gave %+v", paid)
	}

	chat := "/api/a/labels/chats/" + s.chat("b")
	s.must(200, "PUT", chat, map[string]any{"labels": []map[string]string{{"id": vip.ID}, {"id": paid.ID}}})
	s.wait("a", "label.chat.added", func(p map[string]any) bool {
		l, _ := p["label"].(map[string]any)
		return p["labelId"] == paid.ID && p["chatId"] == s.chat("b") && l["name"] == "Paid"
	})
	var on []label
	s.must(200, "GET", chat, nil).json(t, &on)
	if len(on) != 2 || on[0].ID != vip.ID || on[1].ID != paid.ID {
		t.Fatalf("labels on the chat: %+v", on)
	}
	var chats []struct {
		ID string `json:"id"`
	}
	s.must(200, "GET", "/api/a/labels/"+vip.ID+"/chats", nil).json(t, &chats)
	if len(chats) != 1 || chats[0].ID != s.chat("b") {
		t.Fatalf("chats of VIP: %+v", chats)
	}
	// B's account has labels of its own: none.
	var bs []label
	s.must(200, "GET", "/api/b/labels", nil).json(t, &bs)
	if len(bs) != 0 {
		t.Fatalf("b's labels: %+v", bs)
	}

	s.must(200, "PUT", chat, map[string]any{"labels": []map[string]string{{"id": vip.ID}}})
	s.wait("a", "label.chat.deleted", func(p map[string]any) bool { return p["labelId"] == paid.ID })
	var renamed label
	s.must(200, "PUT", "/api/a/labels/"+vip.ID, map[string]any{"name": "Gold", "color": 16}).json(t, &renamed)
	if renamed.Name != "Gold" || renamed.ColorHex != "#ffaf04" {
		t.Fatalf("renamed %+v", renamed)
	}
	s.must(200, "DELETE", "/api/a/labels/"+vip.ID, nil)
	s.wait("a", "label.chat.deleted", func(p map[string]any) bool { return p["labelId"] == vip.ID })
	s.wait("a", "label.deleted", func(p map[string]any) bool { return p["id"] == vip.ID })
	s.must(200, "GET", chat, nil).json(t, &on)
	var all []label
	s.must(200, "GET", "/api/a/labels", nil).json(t, &all)
	if len(on) != 0 || len(all) != 1 || all[0].ID != paid.ID {
		t.Fatalf("after delete: on the chat %+v, all %+v", on, all)
	}
}

// Bad input on the label routes: 4xx with a stable code; another tenant is 404 on each.
func TestLabelsBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	chat := "/api/a/labels/chats/15550000002@c.us"
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/a/labels", map[string]any{"color": 1}, 400, "invalid_name"},
		{"POST", "/api/a/labels", map[string]any{"name": strings.Repeat("n", 101)}, 400, "invalid_name"},
		{"POST", "/api/a/labels", map[string]any{"name": "x", "color": 20}, 400, "invalid_color"},
		{"POST", "/api/a/labels", map[string]any{"name": "x", "color": -1}, 400, "invalid_color"},
		{"POST", "/api/a/labels", map[string]any{"name": "x", "colorHex": "#000000"}, 400, "invalid_color"},
		{"POST", "/api/a/labels", map[string]any{"name": "x", "color": 1, "colorHex": "#ff9485"}, 400, "invalid_color"},
		{"POST", "/api/a/labels", map[string]any{"name": "x", "color": "red"}, 400, "wrong_type"},
		{"POST", "/api/a/labels", map[string]any{"name": "x", "extra": 1}, 400, "unknown_field"},
		{"PUT", "/api/a/labels/42", map[string]any{"name": "x"}, 404, "label_not_found"},
		{"PUT", "/api/a/labels/a%20b", map[string]any{"name": "x"}, 400, "invalid_label_id"},
		{"DELETE", "/api/a/labels/42", nil, 404, "label_not_found"},
		{"GET", "/api/a/labels/42/chats", nil, 404, "label_not_found"},
		{"GET", "/api/a/labels/chats/nope", nil, 400, "invalid_chat_id"},
		{"PUT", chat, map[string]any{}, 400, "invalid_labels"},
		{"PUT", chat, map[string]any{"labels": make([]map[string]string, 21)}, 400, "invalid_labels"},
		{"PUT", chat, map[string]any{"labels": []map[string]string{{"id": ""}}}, 400, "invalid_label_id"},
		{"PUT", chat, map[string]any{"labels": []map[string]string{{"id": "42"}}}, 404, "label_not_found"},
		{"GET", "/api/nope/labels", nil, 404, "session_not_found"},
	} {
		r := s.call(c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("%s %s %v: %d %s; want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	for range 20 {
		s.must(201, "POST", "/api/a/labels", map[string]any{"name": "l"})
	}
	if r := s.call("POST", "/api/a/labels", map[string]any{"name": "21st"}); r.status != 403 || !strings.Contains(string(r.body), `"not_allowed"`) {
		t.Errorf("label 21: %d %s, want 403 not_allowed", r.status, r.body)
	}

	other := s.createTenant("globex")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/a/labels", nil},
		{"POST", "/api/a/labels", map[string]any{"name": "x"}},
		{"PUT", "/api/a/labels/1", map[string]any{"name": "x"}},
		{"DELETE", "/api/a/labels/1", nil},
		{"GET", chat, nil},
		{"PUT", chat, map[string]any{"labels": []any{}}},
		{"GET", "/api/a/labels/1/chats", nil},
	} {
		r := s.do(c.method, c.path, other, c.body)
		if r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}
