package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A session silently disconnects (sandbox fault) while messages wait for it: the
// health monitor declares it unresponsive, reconnects it, and every message is sent
// exactly once after the recovery; none is lost.
func TestSilentDisconnectRecoversWithoutLoss(t *testing.T) {
	dir := t.TempDir()
	sendLog := filepath.Join(dir, "sent.log")
	tg := bootConfig(t, `
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
store:
  dir: `+filepath.Join(dir, "data")+`
  gc_interval: 0
admin:
  api_key: `+adminKey+`
log:
  level: error
sessions:
  send_timeout: 200ms
  health:
    interval: 50ms
    unresponsive_after: 200ms
    ping_timeout: 50ms
    send_timeouts: 2
    backoff_base: 50ms
    backoff_max: 200ms
queue:
  rate_per_session: 0
  backoff_base: 10ms
  backoff_max: 50ms
  max_attempts: 50
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 5ms
    read_delay: 5ms
    send_log: `+sendLog+`
`)
	key := tg.createTenant("acme")
	events, cancel := tg.sse(key, "?events=session.status")
	defer cancel()
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "s"}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sandbox/s/link", key, map[string]any{}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "s")

	if r := tg.do("PUT", "/api/sandbox/s/faults", key, map[string]any{"silent_disconnect": true}); r.status != 200 {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	const n = 5
	ids := make([]string, n)
	for i := range ids {
		r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "s", "chatId": fmt.Sprintf("1555000%04d", i), "text": "hi"})
		if r.status != 202 {
			t.Fatalf("send %d: %d %s", i, r.status, r.body)
		}
		var a struct{ ID string }
		r.json(t, &a)
		ids[i] = a.ID
	}
	env := waitEvent(t, events, "session.status", func(p map[string]any) bool {
		return p["status"] == "STARTING" && p["reason"] == "unresponsive"
	})
	var p struct{ Message string }
	json.Unmarshal(env.Payload, &p)
	if p.Message == "" {
		t.Error("the unresponsive status carries no message")
	}
	if r := tg.do("PUT", "/api/sandbox/s/faults", key, map[string]any{}); r.status != 200 {
		t.Fatalf("clearing faults: %d %s", r.status, r.body)
	}
	waitEvent(t, events, "session.status", status("WORKING"))

	for _, id := range ids {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var m struct{ Status, Reason string }
			tg.do("GET", "/api/messages/"+id, key, nil).json(t, &m)
			if m.Status == "sent" || m.Status == "delivered" || m.Status == "read" {
				break
			}
			if m.Status == "failed" || time.Now().After(deadline) {
				t.Fatalf("message %s: %s %s", id, m.Status, m.Reason)
			}
			time.Sleep(5 * time.Millisecond) // polling the API with a deadline
		}
	}
	sent := readSendLog(t, sendLog)
	for _, id := range ids {
		if sent[id] != 1 {
			t.Errorf("message %s sent %d times, want 1", id, sent[id])
		}
	}
	dead := counterValue(tg.g, "wagate_session_health_unresponsive_total", "cause", "send_timeouts") +
		counterValue(tg.g, "wagate_session_health_unresponsive_total", "cause", "silence")
	if dead == 0 {
		t.Error("wagate_session_health_unresponsive_total did not count the dead session")
	}
}
