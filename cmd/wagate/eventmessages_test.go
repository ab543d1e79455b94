package main

import (
	"strings"
	"testing"
)

// An event invite from A to a group reaches B as a message of type event with its
// details and A as participant; its record keeps the invite.
func TestEventMessages(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	var g groupCreated
	s.must(201, "POST", "/api/a/groups", map[string]any{"name": "Team", "participants": []map[string]string{{"id": s.chat("b")}}}).json(t, &g)
	id := s.sent("a", "POST", "/api/a/events", map[string]any{"chatId": g.ID, "event": map[string]any{
		"name": "Launch party", "description": "Doors at 6", "startTime": 1_900_000_000, "endTime": 1_900_003_600,
		"location": map[string]any{"name": "Hall A"}, "extraGuestsAllowed": true}})
	got := s.wait("b", "message", func(p map[string]any) bool { return p["type"] == "event" })
	ev, _ := got["event"].(map[string]any)
	loc, _ := ev["location"].(map[string]any)
	if got["chatId"] != g.ID || got["participant"] != s.chat("a") || got["body"] != "Launch party" || ev["name"] != "Launch party" ||
		ev["description"] != "Doors at 6" || ev["startTime"] != float64(1_900_000_000) || ev["endTime"] != float64(1_900_003_600) ||
		loc["name"] != "Hall A" || ev["extraGuestsAllowed"] != true {
		t.Fatalf("b's event: %v", got)
	}
	var rec struct {
		Type    string `json:"type"`
		Payload struct {
			Event struct {
				Name string `json:"name"`
			} `json:"event"`
		} `json:"payload"`
	}
	s.must(200, "GET", "/api/messages/"+id, nil).json(t, &rec)
	if rec.Type != "event" || rec.Payload.Event.Name != "Launch party" {
		t.Fatalf("event record %+v", rec)
	}
}

// Bad input on the event route: 4xx with a stable code; another tenant's session is 404.
func TestEventMessagesBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	to := s.chat("a")
	ev := func(kv ...any) map[string]any {
		m := map[string]any{"name": "E", "startTime": 1_900_000_000}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"chatId": to, "event": m}
	}
	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"chatId": to}, 400, "invalid_event"},
		{map[string]any{"event": map[string]any{"name": "E", "startTime": 1_900_000_000}}, 400, "invalid_chat_id"},
		{ev("name", " "), 400, "invalid_event"},
		{ev("name", strings.Repeat("n", 256)), 400, "invalid_event"},
		{ev("description", strings.Repeat("d", 2049)), 400, "invalid_event"},
		{ev("startTime", 0), 400, "invalid_event"},
		{ev("startTime", 1_900_000_000_000), 400, "invalid_event"},
		{ev("endTime", 1_800_000_000), 400, "invalid_event"},
		{ev("location", map[string]any{"name": ""}), 400, "invalid_event"},
		{ev("location", "Hall"), 400, "wrong_type"},
		{ev("startTime", "tomorrow"), 400, "wrong_type"},
		{ev("extra", 1), 400, "unknown_field"},
	} {
		r := s.call("POST", "/api/a/events", c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("POST /api/a/events %v: %d %s; want %d %s", c.body, r.status, r.body, c.status, c.code)
		}
	}
	if r := s.call("POST", "/api/nope/events", ev()); r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
		t.Errorf("unknown session: %d %s", r.status, r.body)
	}
	other := s.createTenant("globex")
	if r := s.do("POST", "/api/a/events", other, ev()); r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
		t.Errorf("another tenant: %d %s", r.status, r.body)
	}
}
