package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/event"
)

// wahaAck is WAHA's WAMessageAck of each status, written out here so the test does not
// trust the mapping it checks.
var wahaAck = map[string]struct {
	n    float64
	name string
}{
	"queued": {0, "PENDING"}, "sending": {0, "PENDING"}, "sent": {1, "SERVER"},
	"delivered": {2, "DEVICE"}, "read": {3, "READ"}, "played": {4, "PLAYED"}, "failed": {-1, "ERROR"},
}

// checkContext fails unless env carries the sandbox session's context: engine,
// environment, the metadata wantMD (nil: none) and me (nil: none).
func checkContext(t *testing.T, how string, env event.Envelope, wantMD map[string]string, wantMe *event.Me) {
	t.Helper()
	what := fmt.Sprintf("%s %s (%s)", how, env.Event, env.Payload)
	if env.Engine != "sandbox" {
		t.Errorf("%s: engine %q, want sandbox", what, env.Engine)
	}
	if e := env.Environment; e == nil || e.Version != buildVersion() || e.Engine != "sandbox" || e.Tier != "OSS" || e.Browser != nil {
		t.Errorf("%s: environment %+v, want {%s sandbox OSS null}", what, e, buildVersion())
	}
	if !maps.Equal(env.Metadata, wantMD) || (wantMD == nil) != (env.Metadata == nil) {
		t.Errorf("%s: metadata %v, want %v", what, env.Metadata, wantMD)
	}
	switch {
	case wantMe == nil && env.Me != nil:
		t.Errorf("%s: me %+v before the session was linked", what, env.Me)
	case wantMe != nil && (env.Me == nil || *env.Me != *wantMe):
		t.Errorf("%s: me %+v, want %+v", what, env.Me, wantMe)
	}
}

// waitAcks waits for the acks of message id until status last, checking each one's
// WAHA ack against its status and its context.
func waitAcks(t *testing.T, events <-chan event.Envelope, id, last string, md map[string]string, me *event.Me) {
	t.Helper()
	seen := map[string]bool{}
	for !seen[last] {
		env := waitEvent(t, events, "message.ack", func(p map[string]any) bool { return p["id"] == id })
		var p struct {
			Status  string   `json:"status"`
			Ack     *float64 `json:"ack"`
			AckName string   `json:"ackName"`
		}
		json.Unmarshal(env.Payload, &p)
		want, ok := wahaAck[p.Status]
		if !ok || p.Ack == nil || *p.Ack != want.n || p.AckName != want.name {
			t.Errorf("ack %s: status %q ack %v %q; want %v %q", env.Payload, p.Status, p.Ack, p.AckName, want.n, want.name)
		}
		checkContext(t, "SSE", env, md, me)
		seen[p.Status] = true
	}
	if !seen["queued"] && last != "queued" {
		// queued is published by the API, sent by the dispatcher, delivered and read by
		// the session: three publishers, one context.
		t.Errorf("acks of %s: no queued among %v", id, seen)
	}
}

// Every event of a sandbox session carries WAHA's me, engine, environment and
// metadata, on SSE and on webhooks, whoever published it; metadata changes reach the
// events that follow without a restart.
func TestEventEnvelopeCarriesSessionContext(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 10ms
`)
	key := tg.createTenant("acme")
	h := newHookReceiver(t)
	r := tg.do("POST", "/api/webhooks", key, map[string]any{"url": h.srv.URL + "/wa", "events": []string{"*"}})
	if r.status != 201 {
		t.Fatalf("create webhook: %d %s", r.status, r.body)
	}
	var hook struct {
		Secret string `json:"secret"`
	}
	r.json(t, &hook)
	h.mu.Lock()
	h.secret = hook.Secret
	h.mu.Unlock()
	events, stop := tg.sse(key, "")
	defer stop()

	md := map[string]string{"user.id": "123", "crm": "acct-9"}
	r = tg.do("POST", "/api/sessions", key, map[string]any{"name": "a", "config": map[string]any{"metadata": md}})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var info struct {
		Config struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"config"`
	}
	r.json(t, &info)
	if !maps.Equal(info.Config.Metadata, md) {
		t.Errorf("created session shows config %s", r.body)
	}
	checkContext(t, "SSE", waitEvent(t, events, "session.qr", nil), md, nil)
	if r := tg.do("POST", "/api/sandbox/a/link", key, map[string]any{"phone": "15550000001"}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	me := &event.Me{ID: "15550000001@c.us", PushName: "Sandbox 15550000001"}
	checkContext(t, "SSE", waitEvent(t, events, "session.status", status("WORKING")), md, me)

	send := func() string {
		t.Helper()
		r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "a", "chatId": "15557654321", "text": "hi"})
		if r.status != 202 {
			t.Fatalf("send: %d %s", r.status, r.body)
		}
		var sent struct{ ID string }
		r.json(t, &sent)
		return sent.ID
	}
	id := send()
	waitAcks(t, events, id, "read", md, me)
	checkContext(t, "webhook", h.waitFor(t, "message.ack", "status", "read"), md, me)
	checkContext(t, "webhook", h.waitFor(t, "session.status", "status", "WORKING"), md, me)

	// A config of metadata alone changes the metadata, not the session: no restart.
	md2 := map[string]string{"user.id": "456"}
	r = tg.do("PUT", "/api/sessions/a", key, map[string]any{"config": map[string]any{"metadata": md2}})
	if r.status != 200 || !strings.Contains(string(r.body), `"status":"WORKING"`) || !strings.Contains(string(r.body), `"metadata":{"user.id":"456"}`) {
		t.Fatalf("PUT metadata: %d %s", r.status, r.body)
	}
	waitAcks(t, events, send(), "delivered", md2, me)

	if r := tg.do("PUT", "/api/sessions/a", key, map[string]any{"config": map[string]any{"metadata": nil}}); r.status != 200 ||
		strings.Contains(string(r.body), "metadata") {
		t.Fatalf("PUT metadata null: %d %s", r.status, r.body)
	}
	waitAcks(t, events, send(), "sent", nil, me)
}

// Bad metadata is a 400 with a stable code, on create and update alike, and changes
// nothing; another tenant's session is 404 whatever the body.
func TestSessionMetadataBadInput(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	other := tg.createTenant("other")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "a", "start": false,
		"config": map[string]any{"metadata": map[string]string{"k": "v"}}}); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	many := map[string]string{}
	for i := range 33 {
		many[fmt.Sprint("k", i)] = "v"
	}
	big := map[string]string{}
	for i := range 9 {
		big[fmt.Sprint("k", i)] = strings.Repeat("x", 500)
	}
	for _, tc := range []struct {
		name     string
		metadata any
		code     string
	}{
		{"a string", "user", "invalid_metadata"},
		{"an array", []string{"a"}, "invalid_metadata"},
		{"a number value", map[string]any{"n": 1}, "invalid_metadata"},
		{"an object value", map[string]any{"n": map[string]string{}}, "invalid_metadata"},
		{"a null value", map[string]any{"n": nil}, "invalid_metadata"},
		{"an empty key", map[string]string{"": "v"}, "invalid_metadata"},
		{"a control character", map[string]string{"a\nb": "v"}, "invalid_metadata"},
		{"33 keys", many, "metadata_too_large"},
		{"a 65-byte key", map[string]string{strings.Repeat("k", 65): "v"}, "metadata_too_large"},
		{"a 513-byte value", map[string]string{"k": strings.Repeat("v", 513)}, "metadata_too_large"},
		{"4.5 KB in all", big, "metadata_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "b", "config": map[string]any{"metadata": tc.metadata}})
			if r.status != 400 || !strings.Contains(string(r.body), `"code":"`+tc.code+`"`) {
				t.Errorf("POST: %d %s; want 400 %s", r.status, r.body, tc.code)
			}
			if r := tg.do("GET", "/api/sessions/b", key, nil); r.status != 404 {
				t.Errorf("session b created by a refused POST: %d", r.status)
			}
			r = tg.do("PUT", "/api/sessions/a", key, map[string]any{"config": map[string]any{"metadata": tc.metadata}})
			if r.status != 400 || !strings.Contains(string(r.body), `"code":"`+tc.code+`"`) {
				t.Errorf("PUT: %d %s; want 400 %s", r.status, r.body, tc.code)
			}
			if r := tg.do("GET", "/api/sessions/a", key, nil); !strings.Contains(string(r.body), `"metadata":{"k":"v"}`) {
				t.Errorf("metadata changed by a refused PUT: %s", r.body)
			}
		})
	}
	// Good metadata with a config the provider refuses: nothing changes.
	r := tg.do("PUT", "/api/sessions/a", key, map[string]any{"config": map[string]any{"metadata": map[string]string{"x": "y"}, "nope": 1}})
	if r.status != 400 || !strings.Contains(string(r.body), "invalid_session_config") {
		t.Errorf("PUT with a bad provider config: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/sessions/a", key, nil); !strings.Contains(string(r.body), `"metadata":{"k":"v"}`) {
		t.Errorf("metadata changed by a refused PUT: %s", r.body)
	}
	r = tg.do("PUT", "/api/sessions/a", other, map[string]any{"config": map[string]any{"metadata": map[string]string{"x": "y"}}})
	if r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
		t.Errorf("another tenant's PUT: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/sessions/a", key, nil); !strings.Contains(string(r.body), `"metadata":{"k":"v"}`) {
		t.Errorf("metadata changed by another tenant: %s", r.body)
	}
}
