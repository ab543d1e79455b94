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

// A session set to reject calls (config.calls) rejects B's call by itself and answers
// B with its message; the setting shows in the session's config, changes without a
// restart, and bad settings are refused.
func TestCallsAutoReject(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	var info struct {
		Status string `json:"status"`
		Config struct {
			Calls *struct {
				Reject  bool   `json:"reject"`
				Message string `json:"message"`
			} `json:"calls"`
		} `json:"config"`
	}
	s.must(200, "PUT", "/api/sessions/a", map[string]any{"config": map[string]any{"calls": map[string]any{
		"reject": true, "message": "We can't take calls here: please write to us."}}}).json(t, &info)
	if info.Status != "WORKING" || info.Config.Calls == nil || !info.Config.Calls.Reject {
		t.Fatalf("after PUT: %+v", info)
	}
	var call struct {
		ID string `json:"id"`
	}
	s.must(200, "POST", "/api/sandbox/a/call", map[string]any{"from": s.chat("b")}).json(t, &call)
	s.wait("a", "call.received", func(p map[string]any) bool { return p["id"] == call.ID })
	s.waitEach("call.rejected", []string{"a", "b"}, func(p map[string]any) bool { return p["id"] == call.ID })
	got := s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "We can't take calls here: please write to us." })
	if got["from"] != s.chat("a") {
		t.Fatalf("b's answer %v", got)
	}

	// Turned off: the next call rings until rejected by hand.
	info.Config.Calls = nil
	s.must(200, "PUT", "/api/sessions/a", map[string]any{"config": map[string]any{"calls": nil, "metadata": map[string]string{"team": "support"}}}).json(t, &info)
	if info.Config.Calls != nil {
		t.Fatalf("calls after null: %+v", info.Config.Calls)
	}
	s.must(200, "POST", "/api/sandbox/a/call", map[string]any{"from": s.chat("b")}).json(t, &call)
	s.wait("a", "call.received", func(p map[string]any) bool { return p["id"] == call.ID })
	s.must(200, "POST", "/api/a/calls/reject", map[string]any{"from": s.chat("b"), "id": call.ID})

	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PUT", "/api/sessions/a", map[string]any{"config": map[string]any{"calls": map[string]any{"message": "hi"}}}},
		{"PUT", "/api/sessions/a", map[string]any{"config": map[string]any{"calls": map[string]any{"reject": "yes"}}}},
		{"PUT", "/api/sessions/a", map[string]any{"config": map[string]any{"calls": map[string]any{"reject": true, "extra": 1}}}},
		{"PUT", "/api/sessions/a", map[string]any{"config": map[string]any{"calls": map[string]any{"reject": true, "message": strings.Repeat("m", 4097)}}}},
		{"POST", "/api/sessions", map[string]any{"name": "z", "config": map[string]any{"calls": []any{}}}},
	} {
		r := s.call(c.method, c.path, c.body)
		if r.status != 400 || !strings.Contains(string(r.body), `"invalid_calls"`) {
			t.Errorf("%s %s %v: %d %s; want 400 invalid_calls", c.method, c.path, c.body, r.status, r.body)
		}
	}
}
