package main

import (
	"testing"
	"time"
)

// GET /api/sessions/{session}/queue: a stopped session's backlog grows with each send
// and says since when its oldest message waits; it drains once the session runs;
// another tenant's session is a 404.
func TestSessionQueueBacklog(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "parked", "start": false}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var b struct {
		Waiting          int        `json:"waiting"`
		Oldest           *time.Time `json:"oldest"`
		OldestAgeSeconds float64    `json:"oldestAgeSeconds"`
	}
	get := func() {
		t.Helper()
		r := tg.do("GET", "/api/sessions/parked/queue", key, nil)
		if r.status != 200 {
			t.Fatalf("queue: %d %s", r.status, r.body)
		}
		b.Oldest = nil
		r.json(t, &b)
	}
	get()
	if b.Waiting != 0 || b.Oldest != nil || b.OldestAgeSeconds != 0 {
		t.Fatalf("empty queue: %+v", b)
	}
	before := time.Now().Add(-time.Second)
	for _, text := range []string{"one", "two", "three"} {
		if r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "parked", "chatId": "15550001111", "text": text}); r.status != 202 {
			t.Fatalf("send: %d %s", r.status, r.body)
		}
	}
	get()
	if b.Waiting != 3 || b.Oldest == nil || b.Oldest.Before(before) || b.Oldest.After(time.Now()) || b.OldestAgeSeconds < 0 {
		t.Fatalf("three waiting: %+v", b)
	}
	tg.do("POST", "/api/sessions/parked/start", key, nil)
	tg.do("POST", "/api/sandbox/parked/link", key, map[string]any{})
	deadline := time.Now().Add(15 * time.Second)
	for get(); b.Waiting != 0; get() {
		if time.Now().After(deadline) {
			t.Fatalf("the backlog did not drain: %+v", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.Oldest != nil {
		t.Errorf("drained queue still names an oldest message: %+v", b)
	}
	other := tg.createTenant("globex")
	if r := tg.do("GET", "/api/sessions/parked/queue", other, nil); r.status != 404 || r.errCode() != "session_not_found" {
		t.Errorf("another tenant: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/sessions/nope/queue", key, nil); r.status != 404 {
		t.Errorf("unknown session: %d %s", r.status, r.body)
	}
}
