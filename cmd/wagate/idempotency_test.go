package main

import (
	"testing"
)

// TestIdempotencyKeyMismatch: a key reused with the same message (whatever its JSON
// spacing or field order) answers the first message; reused with a different message —
// another text, chat, session or kind — it is refused with 422 idempotency_key_mismatch
// naming the first message, and nothing is queued or counted. Batch items behave alike,
// item by item.
func TestIdempotencyKeyMismatch(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	for _, name := range []string{"main", "other"} {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": name}); r.status != 201 {
			t.Fatalf("create session %s: %d %s", name, r.status, r.body)
		}
	}
	send := func(idem string, body any) resp {
		t.Helper()
		return tg.doHeaders("POST", "/api/sendText", key, body, "Idempotency-Key", idem)
	}
	first := send("k1", map[string]any{"session": "main", "chatId": "15551234567", "text": "hello"})
	if first.status != 202 {
		t.Fatalf("first send: %d %s", first.status, first.body)
	}
	var a1 struct{ ID string }
	first.json(t, &a1)

	// The same message, written differently (field order, spacing, chat id form).
	same := send("k1", `{ "text":"hello", "chatId":"15551234567@c.us",  "session":"main" }`)
	var a2 struct{ ID string }
	same.json(t, &a2)
	if same.status != 202 || a2.ID != a1.ID || same.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("same message again: %d %s %v", same.status, same.body, same.header)
	}

	for _, tc := range []struct {
		name string
		path string
		body any
	}{
		{"other text", "/api/sendText", map[string]any{"session": "main", "chatId": "15551234567", "text": "HELLO"}},
		{"other chat", "/api/sendText", map[string]any{"session": "main", "chatId": "15557654321", "text": "hello"}},
		{"other session", "/api/sendText", map[string]any{"session": "other", "chatId": "15551234567", "text": "hello"}},
		{"other kind", "/api/sendLocation", map[string]any{"session": "main", "chatId": "15551234567", "latitude": 1, "longitude": 2}},
	} {
		r := tg.doHeaders("POST", tc.path, key, tc.body, "Idempotency-Key", "k1")
		if r.status != 422 || r.errCode() != "idempotency_key_mismatch" {
			t.Errorf("%s: %d %s, want 422 idempotency_key_mismatch", tc.name, r.status, r.body)
			continue
		}
		var e struct {
			Error struct {
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		r.json(t, &e)
		if e.Error.Details["message_id"] != a1.ID {
			t.Errorf("%s: details %v, want message_id %s", tc.name, e.Error.Details, a1.ID)
		}
	}

	// Any send route: a location replays under its own key, and mismatches another.
	loc := map[string]any{"session": "main", "chatId": "15551234567", "latitude": 1.5, "longitude": 2, "title": "Office"}
	l1 := tg.doHeaders("POST", "/api/sendLocation", key, loc, "Idempotency-Key", "loc")
	l2 := tg.doHeaders("POST", "/api/sendLocation", key, loc, "Idempotency-Key", "loc")
	if l1.status != 202 || l2.status != 202 || l2.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("location replay: %d %s / %d %s", l1.status, l1.body, l2.status, l2.body)
	}
	loc["title"] = "Home"
	if r := tg.doHeaders("POST", "/api/sendLocation", key, loc, "Idempotency-Key", "loc"); r.status != 422 {
		t.Errorf("location with another title: %d %s", r.status, r.body)
	}

	// Batch: item 0 reuses k1 with its own message (mismatch), item 1 replays k1's
	// message, item 2 is new; within the batch, item 3 reuses item 2's key differently.
	r := tg.do("POST", "/api/messages/batch", key, map[string]any{"messages": []map[string]any{
		{"session": "main", "chatId": "15551234567", "text": "not hello", "idempotencyKey": "k1"},
		{"session": "main", "chatId": "15551234567", "text": "hello", "idempotencyKey": "k1"},
		{"session": "main", "chatId": "15551234567", "text": "new", "idempotencyKey": "k2"},
		{"session": "main", "chatId": "15551234567", "text": "newer", "idempotencyKey": "k2"},
	}})
	if r.status != 202 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var b struct {
		Results []struct {
			ID       string
			Replayed bool
			Error    *struct {
				Code    string
				Details map[string]any
			}
		}
		Queued int
	}
	r.json(t, &b)
	if len(b.Results) != 4 || b.Queued != 1 {
		t.Fatalf("batch answer: %s", r.body)
	}
	if e := b.Results[0].Error; e == nil || e.Code != "idempotency_key_mismatch" || e.Details["field"] != "messages[0].idempotencyKey" {
		t.Errorf("batch item 0: %s", r.body)
	}
	if b.Results[1].ID != a1.ID || !b.Results[1].Replayed {
		t.Errorf("batch item 1 should replay %s: %s", a1.ID, r.body)
	}
	if b.Results[2].ID == "" || b.Results[2].Error != nil {
		t.Errorf("batch item 2 should be queued: %s", r.body)
	}
	if e := b.Results[3].Error; e == nil || e.Code != "idempotency_key_mismatch" {
		t.Errorf("batch item 3: %s", r.body)
	}

	// Only the two accepted messages were queued.
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	tg.do("GET", "/api/main/chats/15551234567/messages", key, nil).json(t, &list)
	if len(list.Messages) != 3 {
		t.Errorf("chat history holds %d messages, want 3 (hello, the location, new): %v", len(list.Messages), list.Messages)
	}
}
