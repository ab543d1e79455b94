package main

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
)

// surface is a gateway with one tenant and linked sandbox sessions talking to each other
// in the simulated network: the rig of the WhatsApp-surface tests (groups, chats,
// presence, contacts, labels, ...). Session "a" is number 15550000001, "b"
// 15550000002, and so on, in the order given.
type surface struct {
	*testGateway
	key    string
	events <-chan event.Envelope
	// backlog holds the events a wait read but did not want, oldest first, for the
	// waits after it: events of different sessions come in any order.
	backlog []event.Envelope
	// phone is each session's number, as digits.
	phone map[string]string
}

// newSurface boots the gateway on a temp dir, creates tenant "acme", subscribes to its
// events, then creates, starts and links each named sandbox session and waits until it
// is WORKING. Everything stops with the test.
func newSurface(t *testing.T, sessions ...string) *surface {
	t.Helper()
	tg := bootYAML(t, t.TempDir(), "")
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

// chat is a session's number as a user chat id.
func (s *surface) chat(name string) string { return s.phone[name] + "@c.us" }

// call makes an API call with the tenant's key.
func (s *surface) call(method, path string, body any) resp {
	s.t.Helper()
	return s.do(method, path, s.key, body)
}

// must makes an API call and fails the test unless it answers want.
func (s *surface) must(want int, method, path string, body any) resp {
	s.t.Helper()
	r := s.do(method, path, s.key, body)
	if r.status != want {
		s.t.Fatalf("%s %s: %d %s; want %d", method, path, r.status, r.body, want)
	}
	return r
}

// maxBacklog bounds the backlog; past it the oldest events are dropped.
const maxBacklog = 10_000

// wait waits (up to 10s) for an event of the session matching match (nil: any) and
// returns its payload: the oldest such event of the backlog, else the next to come.
// Events read meanwhile that it does not want go to the backlog, for later waits.
func (s *surface) wait(session, name string, match func(p map[string]any) bool) map[string]any {
	s.t.Helper()
	wanted := func(env event.Envelope) (map[string]any, bool) {
		if env.Event != name || env.Session != session {
			return nil, false
		}
		var p map[string]any
		json.Unmarshal(env.Payload, &p)
		return p, match == nil || match(p)
	}
	for i, env := range s.backlog {
		if p, ok := wanted(env); ok {
			s.backlog = slices.Delete(s.backlog, i, i+1)
			return p
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case env, ok := <-s.events:
			if !ok {
				s.t.Fatalf("event stream ended while waiting for %s at %s", name, session)
			}
			if p, ok := wanted(env); ok {
				return p
			}
			if len(s.backlog) == maxBacklog {
				s.backlog = slices.Delete(s.backlog, 0, 1)
			}
			s.backlog = append(s.backlog, env)
		case <-deadline:
			s.t.Fatalf("no %s event at %s within 10s", name, session)
		}
	}
}

// waitEach waits for an event named name matching match at each of the sessions, in
// whatever order they come, and returns the payloads by session.
func (s *surface) waitEach(name string, sessions []string, match func(p map[string]any) bool) map[string]map[string]any {
	s.t.Helper()
	got := map[string]map[string]any{}
	for _, who := range sessions {
		got[who] = s.wait(who, name, match)
	}
	return got
}
