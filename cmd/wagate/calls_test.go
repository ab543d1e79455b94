package main

import (
	"strings"
	"testing"
)

// A calls B (through the sandbox): B gets call.received, rejects it, and both get
// call.rejected; rejecting it again is 404 call_not_found.
func TestCallsRejected(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	var call struct {
		ID      string `json:"id"`
		From    string `json:"from"`
		IsVideo bool   `json:"isVideo"`
	}
	s.must(200, "POST", "/api/sandbox/b/call", map[string]any{"from": s.chat("a"), "video": true}).json(t, &call)
	got := s.wait("b", "call.received", func(p map[string]any) bool { return p["id"] == call.ID })
	if got["from"] != s.chat("a") || got["isVideo"] != true {
		t.Fatalf("call.received %v", got)
	}
	s.must(200, "POST", "/api/b/calls/reject", map[string]any{"from": s.chat("a"), "id": call.ID})
	s.waitEach("call.rejected", []string{"a", "b"}, func(p map[string]any) bool { return p["id"] == call.ID })
	r := s.call("POST", "/api/b/calls/reject", map[string]any{"from": s.chat("a"), "id": call.ID})
	if r.status != 404 || !strings.Contains(string(r.body), `"call_not_found"`) {
		t.Fatalf("rejecting twice: %d %s", r.status, r.body)
	}
}

func TestCallsBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	for _, c := range []struct {
		path   string
		body   any
		status int
		code   string
	}{
		{"/api/a/calls/reject", map[string]any{"id": "CA1"}, 400, "invalid_contact_id"},
		{"/api/a/calls/reject", map[string]any{"from": "120363000000000001@g.us", "id": "CA1"}, 400, "invalid_contact_id"},
		{"/api/a/calls/reject", map[string]any{"from": "15550000002"}, 400, "invalid_call_id"},
		{"/api/a/calls/reject", map[string]any{"from": "15550000002", "id": "a b"}, 400, "invalid_call_id"},
		{"/api/a/calls/reject", map[string]any{"from": "15550000002", "id": strings.Repeat("c", 129)}, 400, "invalid_call_id"},
		{"/api/a/calls/reject", map[string]any{"from": "15550000002", "id": "CA1", "x": 1}, 400, "unknown_field"},
		{"/api/a/calls/reject", map[string]any{"from": "15550000002", "id": "CA1"}, 404, "call_not_found"},
		{"/api/nope/calls/reject", map[string]any{"from": "15550000002", "id": "CA1"}, 404, "session_not_found"},
		{"/api/sandbox/a/call", map[string]any{"from": "nope"}, 400, "invalid_contact_id"},
	} {
		r := s.call("POST", c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("POST %s %v: %d %s; want %d %s", c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	other := s.createTenant("globex")
	for _, path := range []string{"/api/a/calls/reject", "/api/sandbox/a/call"} {
		r := s.do("POST", path, other, map[string]any{"from": "15550000002", "id": "CA1"})
		if r.status != 404 {
			t.Errorf("POST %s as another tenant: %d %s", path, r.status, r.body)
		}
	}
}
