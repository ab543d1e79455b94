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

// inboundPayload is Meta's webhook for a text message from a contact, now: it opens the
// contact's 24-hour window on the receiving number.
func inboundPayload(from, text string, n int) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{
"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},
"contacts":[{"profile":{"name":"Customer"},"wa_id":%q}],
"messages":[{"from":%q,"id":"wamid.IN%d","timestamp":"%d","type":"text","text":{"body":%q}}]},"field":"messages"}]}]}`,
		e2ePhoneNumberID, from, from, n, time.Now().Unix(), text))
}

// The must-show of failover between providers: the primary (sandbox) number is banned
// mid-run; the messages still queued continue through its fallback, a Cloud API number
// (a fake Graph API); the one to a contact outside the Cloud API's 24-hour window is
// refused, not sent to fail at Meta; every reroute is an event and a metric; nothing is
// lost or sent twice.
func TestFailoverSandboxToCloudAPI(t *testing.T) {
	dir := t.TempDir()
	sendLog := filepath.Join(dir, "sent.log")
	fake := newGraphFake(t)
	tg := bootYAMLWith(t, filepath.Join(dir, "data"), "", "    send_log: "+sendLog+"\n",
		"  cloudapi:\n    base_url: "+fake.srv.URL+"\n    request_timeout: 5s\n")
	key := tg.createTenant("acme")
	events, cancel := tg.sse(key, "?events=message.failover")
	defer cancel()

	cfg := map[string]any{"phoneNumberId": e2ePhoneNumberID, "accessToken": e2eToken,
		"appSecret": e2eAppSecret, "verifyToken": e2eVerifyToken}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "cloud", "provider": "cloudapi", "config": cfg}); r.status != 201 {
		t.Fatalf("cloud session: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "cloud")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "web", "fallback": "cloud"}); r.status != 201 {
		t.Fatalf("web session: %d %s", r.status, r.body)
	}
	tg.do("POST", "/api/sandbox/web/link", key, map[string]any{})
	waitWorking(t, tg, key, "web")

	const n = 20
	chat := func(i int) string { return fmt.Sprintf("1555000%04d", i) }
	// Every contact but the last has written to the Cloud API number: its window is open.
	for i := 0; i < n-1; i++ {
		body := inboundPayload(chat(i), "hi", i)
		if r := tg.doHeaders("POST", "/api/webhooks/meta/acme/cloud", "", string(body), "X-Hub-Signature-256", signMeta(e2eAppSecret, body)); r.status != 200 {
			t.Fatalf("inbound webhook: %d %s", r.status, r.body)
		}
	}
	if r := tg.do("PUT", "/api/sandbox/web/faults", key, map[string]any{"send_latency": "30ms"}); r.status != 200 {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	ids := make([]string, n)
	for i := range ids {
		r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "web", "chatId": chat(i), "text": fmt.Sprint("m", i)})
		var a struct{ ID string }
		r.json(t, &a)
		if r.status != 202 {
			t.Fatalf("send %d: %d %s", i, r.status, r.body)
		}
		ids[i] = a.ID
	}
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
	for i, id := range ids {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var m struct{ Status, Session, Reason string }
			tg.do("GET", "/api/messages/"+id, key, nil).json(t, &m)
			if i == n-1 && m.Status == "failed" {
				if m.Reason != "outside_customer_service_window" {
					t.Fatalf("the message outside the window failed with %q", m.Reason)
				}
				break
			}
			if m.Status == "sent" || m.Status == "delivered" || m.Status == "read" {
				bySession[m.Session]++
				break
			}
			if m.Status == "failed" || time.Now().After(deadline) {
				t.Fatalf("message %d: %s %s on %s", i, m.Status, m.Reason, m.Session)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if bySession["web"] == 0 || bySession["cloud"] == 0 || bySession["web"]+bySession["cloud"] != n-1 {
		t.Fatalf("sent by session %v; want %d in all, through both", bySession, n-1)
	}
	// Exactly once: the sandbox's log and the Graph API's posts together.
	sent := map[string]int{}
	for id, c := range readSendLog(t, sendLog) {
		sent[id] += c
	}
	texts := map[string]int{}
	for range bySession["cloud"] {
		p := fake.next(t)
		texts[fmt.Sprint(p.body["text"].(map[string]any)["body"])]++
	}
	select {
	case p := <-fake.posts:
		t.Fatalf("the Graph API got an extra message: %v", p.body)
	default:
	}
	for i, id := range ids[:n-1] {
		if sent[id]+texts[fmt.Sprint("m", i)] != 1 {
			t.Errorf("message %d sent %d times by web and %d by cloud", i, sent[id], texts[fmt.Sprint("m", i)])
		}
	}
	if got := counterValue(tg.g, "wagate_dispatch_failovers_total", "outcome", "rerouted"); int(got) != bySession["cloud"] {
		t.Errorf("rerouted metric %v, want %d", got, bySession["cloud"])
	}
	if got := counterValue(tg.g, "wagate_dispatch_failovers_total", "outcome", "refused"); got != 1 {
		t.Errorf("refused metric %v, want 1", got)
	}
	moved, refused := 0, 0
	for moved+refused < bySession["cloud"]+1 {
		select {
		case env := <-events:
			var p map[string]any
			json.Unmarshal(env.Payload, &p)
			switch {
			case p["to"] == "cloud":
				moved++
			case p["refused"] == "outside_customer_service_window":
				refused++
			default:
				t.Fatalf("event %s", env.Payload)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d reroute and %d refusal events, want %d and 1", moved, refused, bySession["cloud"])
		}
	}
}
