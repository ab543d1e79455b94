package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/plugins/antiban"
)

// The pacing section's defaults are anti-ban's: the two are kept in step.
func TestPacingRuleMatchesDefaults(t *testing.T) {
	got, err := antiban.Parse(pacingRule(config.Defaults().Pacing))
	if err != nil {
		t.Fatal(err)
	}
	if want := antiban.Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("pacing section gives\n %+v\nanti-ban defaults are\n %+v", got, want)
	}
	p := config.Defaults().Pacing
	p.Providers = ""
	if c, err := antiban.Parse(pacingRule(p)); err != nil || len(c.Providers) != 0 {
		t.Errorf("empty providers: %v %v, want every provider", c.Providers, err)
	}
	if pacingTyping(p) == nil {
		t.Error("typing on by default, but no typing decision")
	}
	def := pacingTyping(config.Defaults().Pacing)
	msg := provider.Outbound{Kind: provider.KindText, Text: "hello there"}
	if d := def("whatsmeow", msg); d < 800*time.Millisecond || d > 12*time.Second {
		t.Errorf("typing on whatsmeow: %s", d)
	}
	if d := def("cloudapi", msg); d != 0 {
		t.Errorf("typing on a provider that is not paced: %s", d)
	}
	p.Enabled = false
	if pacingTyping(p) != nil {
		t.Error("pacing off still types")
	}
}

// metricValue reads a counter or gauge of the gateway's registry by one label.
func metricValue(g *gateway, name, label, value string) float64 {
	mfs, _ := g.registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// Anti-ban pacing through the real gateway, on a sandbox session: the per-contact cap
// refuses a third message to a contact that never answered but not to one that wrote,
// the first-contact cap fails a message with its reason, and a reach-out timelock
// (sandbox fault) pauses the session until it is lifted, after which the held message
// goes out. The antiban counters are process-wide, so the test reads their increase.
func TestPacingThroughGateway(t *testing.T) {
	tg := bootYAMLWith(t, t.TempDir(), "", `pacing:
  providers: sandbox
  min_gap: 0s
  jitter: 0s
  per_minute: 0
  per_hour: 0
  per_day: 0
  warmup:
    days: 0
  contact_per_hour: 2
  first_contacts_per_day: 3
  over_first_contacts: reject
  pause_unknown: 1h
  pause_recheck: 100ms
  typing:
    enabled: false
`)
	key := tg.createTenant("pace")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main"}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sandbox/main/link", key, map[string]any{}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "main")

	send := func(chat string) string {
		t.Helper()
		r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": chat, "text": "hello"})
		if r.status != 202 {
			t.Fatalf("send to %s: %d %s", chat, r.status, r.body)
		}
		var a struct{ ID string }
		r.json(t, &a)
		return a.ID
	}
	type message struct{ Status, Reason string }
	get := func(id string) message {
		var m message
		tg.do("GET", "/api/messages/"+id, key, nil).json(t, &m)
		return m
	}
	// wait polls (with a deadline) until cond holds.
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	sent := func(id string) func() bool {
		return func() bool {
			s := get(id).Status
			return s == "sent" || s == "delivered" || s == "read"
		}
	}
	delays := func(reason string) float64 { return metricValue(tg.g, "wagate_antiban_delays_total", "reason", reason) }

	// A contact that never wrote: two messages in the hour, the third fails with its
	// reason (a delay would hold the session's whole queue).
	a1, a2, a3 := send("15550000001"), send("15550000001"), send("15550000001")
	wait("two messages to a silent contact", func() bool { return sent(a1)() && sent(a2)() })
	wait("the third refused by the contact cap", func() bool { return get(a3).Status == "failed" })
	if m := get(a3); m.Reason != antiban.RejectContactLimit {
		t.Errorf("third message to a silent contact: %+v, want failed %s", m, antiban.RejectContactLimit)
	}

	// A contact that wrote in the hour: no cap, and not a first contact.
	if r := tg.do("POST", "/api/sandbox/main/inbound", key, map[string]any{"from": "15550000002", "text": "hi"}); r.status != 200 {
		t.Fatalf("inbound: %d %s", r.status, r.body)
	}
	// The inbound time is recorded by the session's report, asynchronously.
	wait("the contact's message recorded", func() bool {
		return !tg.g.router.Inbound("pace", "15550000002@c.us", "main").IsZero()
	})
	b := []string{send("15550000002"), send("15550000002"), send("15550000002")}
	for _, id := range b {
		wait("messages to a contact that wrote", sent(id))
	}

	// First contacts: the silent contact was one; two more go, the fourth fails.
	c, d := send("15550000003"), send("15550000004")
	wait("first contacts under the cap", func() bool { return sent(c)() && sent(d)() })
	e := send("15550000005")
	wait("first contact over the cap", func() bool { return get(e).Status == "failed" })
	if m := get(e); m.Reason != antiban.RejectFirstContactLimit {
		t.Errorf("over the first-contact cap: %+v, want failed %s", m, antiban.RejectFirstContactLimit)
	}

	// A reach-out timelock pauses every send of the session; lifting it frees the queue.
	if r := tg.do("PUT", "/api/sandbox/main/faults", key, map[string]any{"reachout_timelock": true}); r.status != 200 {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	wait("the restriction seen by pacing", func() bool {
		return metricValue(tg.g, "wagate_pacing_restricted_sessions", "reason", "reachout_timelock") == 1
	})
	pauses := delays(antiban.ReasonReachout)
	held := send("15550000002") // a contact that wrote: WhatsApp would take it, pacing holds all
	wait("the message paused", func() bool { return delays(antiban.ReasonReachout) >= pauses+2 })
	if m := get(held); m.Status != "queued" {
		t.Fatalf("message during a timelock: %+v, want queued", m)
	}
	if r := tg.do("PUT", "/api/sandbox/main/faults", key, map[string]any{}); r.status != 200 {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	wait("the held message sent once the timelock is lifted", sent(held))
	if v := metricValue(tg.g, "wagate_pacing_restricted_sessions", "reason", "reachout_timelock"); v != 0 {
		t.Errorf("restricted sessions after the lift: %v", v)
	}
	if v := metricValue(tg.g, "wagate_pacing_restrictions_total", "reason", "reachout_timelock"); v != 1 {
		t.Errorf("restrictions_total{reachout_timelock} = %v, want 1", v)
	}
}
