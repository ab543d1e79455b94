package main

import (
	"strings"
	"testing"
	"time"
)

// GET /api/sessions/{session}/health through the real gateway: a healthy session's
// verdict and pacing state (the built-in rule paces sandbox here: min_gap holds the next
// send), a session whose sends all fail shows them among its recent failures, newest
// first, with the message's final failure; another tenant's session and an unknown one
// are 404; a read-only admin view sees the same.
func TestSessionHealth(t *testing.T) {
	tg := bootConfig(t, `
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
store:
  dir: `+t.TempDir()+`
  gc_interval: 0
admin:
  api_key: `+adminKey+`
log:
  level: error
queue:
  rate_per_session: 0
  backoff_base: 10ms
  max_attempts: 1
providers:
  sandbox:
    send_latency: 0
pacing:
  enabled: true
  providers: sandbox
  min_gap: 1m
  jitter: 0s
  per_minute: 0
  per_hour: 0
  per_day: 1000
  contact_per_hour: 0
  first_contacts_per_day: 0
  warmup:
    days: 7
    first_day: 20
    growth: 2
  typing:
    enabled: false
`)
	key := tg.createTenant("acme")
	for _, name := range []string{"good", "flaky"} {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": name}); r.status != 201 {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
		if r := tg.do("POST", "/api/sandbox/"+name+"/link", key, map[string]any{}); r.status != 200 {
			t.Fatalf("link %s: %d %s", name, r.status, r.body)
		}
		waitWorking(t, tg, key, name)
	}
	type health struct {
		Session string
		Health  struct {
			Status, Verdict    string
			Monitored          bool
			Since, LastAliveAt time.Time
			Failures           []struct {
				At                              time.Time
				Kind, Reason, MessageID, Detail string
			}
		}
		Queue  struct{ Waiting int }
		Pacing *struct {
			SentDay    int
			LastSentAt *time.Time
			LinkedAt   time.Time
			Rule       *struct {
				Rule                string
				Applies, WarmingUp  bool
				WarmupDay, DailyCap int
				NextAt              time.Time
				HeldBy              string
			}
		}
	}
	get := func(name string) health {
		t.Helper()
		r := tg.do("GET", "/api/sessions/"+name+"/health", key, nil)
		if r.status != 200 {
			t.Fatalf("health of %s: %d %s", name, r.status, r.body)
		}
		var h health
		r.json(t, &h)
		return h
	}

	h := get("good")
	if h.Session != "good" || h.Health.Status != "WORKING" || h.Health.Verdict != "healthy" || len(h.Health.Failures) != 0 ||
		h.Pacing == nil || h.Pacing.Rule == nil || !h.Pacing.Rule.Applies || !h.Pacing.Rule.WarmingUp || h.Pacing.Rule.WarmupDay != 1 ||
		h.Pacing.Rule.DailyCap != 20 || h.Pacing.Rule.HeldBy != "" || h.Pacing.LastSentAt != nil {
		t.Fatalf("a fresh WORKING session: %+v", h)
	}
	if r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "good", "chatId": "15550001111", "text": "hi"}); r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h = get("good"); h.Pacing.LastSentAt == nil; h = get("good") {
		if time.Now().After(deadline) {
			t.Fatalf("the send is not counted: %+v", h.Pacing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := h.Pacing; p.SentDay != 1 || p.Rule.HeldBy != "min_gap" || (p.Rule.NextAt.Sub(*p.LastSentAt)-time.Minute).Abs() > time.Millisecond {
		t.Errorf("after one send: %+v %+v", p, p.Rule)
	}

	// Every send of flaky fails (the sandbox fault); with queue.max_attempts 1 the
	// dispatcher fails the message at once: its health lists the message's failure, then
	// the send's, newest first.
	if r := tg.do("PUT", "/api/sandbox/flaky/faults", key, map[string]any{"send_failure_rate": 1}); r.status != 200 {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "flaky", "chatId": "15550001111", "text": "doomed"})
	if r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	var sent struct{ ID string }
	r.json(t, &sent)
	deadline = time.Now().Add(10 * time.Second)
	for h = get("flaky"); len(h.Health.Failures) < 2; h = get("flaky") {
		if time.Now().After(deadline) {
			t.Fatalf("the failures are not recorded: %+v", h.Health)
		}
		time.Sleep(20 * time.Millisecond)
	}
	msg, send := h.Health.Failures[0], h.Health.Failures[1]
	if msg.Kind != "message" || msg.MessageID != sent.ID || !strings.Contains(msg.Reason, "sandbox_send_failure") {
		t.Errorf("the message's failure: %+v", msg)
	}
	if send.Kind != "send" || send.Reason != "sandbox_send_failure" || send.MessageID != sent.ID || send.Detail == "" || send.At.After(msg.At) {
		t.Errorf("the send's failure: %+v", send)
	}
	if h.Health.Verdict != "healthy" { // a failing send is not a sick session
		t.Errorf("flaky's verdict: %s", h.Health.Verdict)
	}

	// Bad input: unknown session, another tenant's session.
	if r := tg.do("GET", "/api/sessions/nope/health", key, nil); r.status != 404 || r.errCode() != "session_not_found" {
		t.Errorf("unknown session: %d %s", r.status, r.body)
	}
	other := tg.createTenant("globex")
	if r := tg.do("GET", "/api/sessions/good/health", other, nil); r.status != 404 || r.errCode() != "session_not_found" {
		t.Errorf("another tenant's session: %d %s", r.status, r.body)
	}
	if r := tg.doHeaders("GET", "/api/sessions/good/health", adminKey, nil, "X-Wagate-Tenant", "acme"); r.status != 200 {
		t.Errorf("the admin's read-only view: %d %s", r.status, r.body)
	}
}
