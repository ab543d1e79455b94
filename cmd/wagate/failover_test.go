package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
)

// counterValue reads a counter of the gateway's registry by name and one label.
func counterValue(g *gateway, name, label, value string) float64 {
	mfs, _ := g.registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// The primary number is banned mid-run (sandbox fault): the messages still queued for
// it continue through its fallback session; each reroute is an event and a metric;
// every message is sent exactly once (the sandbox's send log), none is lost.
func TestFailoverWhenPrimaryBanned(t *testing.T) {
	dir := t.TempDir()
	sendLog := filepath.Join(dir, "sent.log")
	tg := bootYAMLWith(t, filepath.Join(dir, "data"), "", `    send_log: `+sendLog+"\n")
	key := tg.createTenant("fo")
	events, cancel := tg.sse(key, "?events=message.failover")
	defer cancel()
	for _, s := range []map[string]any{{"name": "backup"}, {"name": "web", "fallback": "backup"}} {
		if r := tg.do("POST", "/api/sessions", key, s); r.status != 201 {
			t.Fatalf("create %v: %d %s", s, r.status, r.body)
		}
		if r := tg.do("POST", "/api/sandbox/"+s["name"].(string)+"/link", key, map[string]any{}); r.status != 200 {
			t.Fatalf("link: %d %s", r.status, r.body)
		}
		waitWorking(t, tg, key, s["name"].(string))
	}
	// Slow sends on web, so that messages are still queued when the ban comes.
	if r := tg.do("PUT", "/api/sandbox/web/faults", key, map[string]any{"send_latency": "20ms"}); r.status != 200 {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "web", "chatId": fmt.Sprintf("1555000%04d", i), "text": "hi"})
		if r.status != 202 {
			t.Fatalf("send %d: %d %s", i, r.status, r.body)
		}
		var a struct{ ID string }
		r.json(t, &a)
		ids[i] = a.ID
	}
	// Ban web once a few went out through it.
	deadline := time.Now().Add(15 * time.Second)
	for len(readSendLog(t, sendLog)) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("web sent nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r := tg.do("PUT", "/api/sandbox/web/faults", key, map[string]any{"temp_ban": true}); r.status != 200 {
		t.Fatalf("ban: %d %s", r.status, r.body)
	}

	bySession := map[string]int{}
	for _, id := range ids {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var m struct{ Status, Session, Reason string }
			tg.do("GET", "/api/messages/"+id, key, nil).json(t, &m)
			if m.Status == "sent" || m.Status == "delivered" || m.Status == "read" {
				bySession[m.Session]++
				break
			}
			if m.Status == "failed" || time.Now().After(deadline) {
				t.Fatalf("message %s: %s %s on %s", id, m.Status, m.Reason, m.Session)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if bySession["backup"] == 0 || bySession["web"] == 0 {
		t.Fatalf("sent by session: %v; want some through web before the ban and the rest through backup", bySession)
	}
	sent := readSendLog(t, sendLog)
	for _, id := range ids {
		if sent[id] != 1 {
			t.Errorf("message %s sent %d times", id, sent[id])
		}
	}
	rerouted := counterValue(tg.g, "wagate_dispatch_failovers_total", "outcome", "rerouted")
	if int(rerouted) != bySession["backup"] {
		t.Errorf("failovers_total{rerouted} = %v, want %d", rerouted, bySession["backup"])
	}
	seen := 0
	for seen < bySession["backup"] {
		select {
		case env := <-events:
			var p map[string]any
			json.Unmarshal(env.Payload, &p)
			if env.Event != event.MessageFailover || p["from"] != "web" || p["to"] != "backup" {
				t.Fatalf("event %s %s", env.Event, env.Payload)
			}
			seen++
		case <-time.After(10 * time.Second):
			t.Fatalf("%d message.failover events, want %d", seen, bySession["backup"])
		}
	}
}
