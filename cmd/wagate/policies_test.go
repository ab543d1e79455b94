package main

import (
	"bytes"

	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/policy/wasm/wasmtest"
)

const countryRouter = `
-- routes UK numbers (+44) to the session "uk"; no opinion otherwise
function route(msg, candidates)
  if string.sub(msg.chat_id, 1, 2) == "44" then
    for i = 1, #candidates do
      if candidates[i].session == "uk" then return candidates[i] end
    end
  end
  return nil
end
`

// raw sends a request with a non-JSON body.
func (tg *testGateway) raw(method, path, key, contentType, body string) resp {
	tg.t.Helper()
	req, _ := http.NewRequest(method, tg.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Api-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tg.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// A tenant uploads a Lua router, binds it, and sends without naming a session: the
// router picks; its webhook events go through a bound built-in transform (redact).
func TestPolicyUploadBindRoute(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
`)
	key := tg.createTenant("pol")
	other := tg.createTenant("other")
	for _, name := range []string{"de", "uk"} {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": name}); r.status != 201 {
			t.Fatalf("session: %d %s", r.status, r.body)
		}
		tg.do("POST", "/api/sandbox/"+name+"/link", key, map[string]any{})
		waitWorking(t, tg, key, name)
	}
	if r := tg.raw("PUT", "/api/policies/by-country", key, "text/x-lua", countryRouter); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	tagger := "function transform(ev) ev.payload.tagged = ev.payload.chatId; return ev end"
	if r := tg.raw("PUT", "/api/policies/tagger", key, "text/x-lua", tagger); r.status != 201 {
		t.Fatalf("upload tagger: %d %s", r.status, r.body)
	}
	r := tg.do("PUT", "/api/policies/bindings", key, map[string]any{
		"route": []map[string]any{{"policy": "by-country"}},
		"transform": []map[string]any{{"policy": "tagger"},
			{"builtin": "redact", "config": map[string]any{"fields": []string{"tagged"}}}},
	})
	if r.status != 200 {
		t.Fatalf("bindings: %d %s", r.status, r.body)
	}
	h := newHookReceiver(t)
	var created struct{ Secret string }
	tg.do("POST", "/api/webhooks", key, map[string]any{"url": h.srv.URL, "events": []string{"message.ack"}}).json(t, &created)
	h.mu.Lock()
	h.secret = created.Secret
	h.mu.Unlock()

	for i := 0; i < 3; i++ {
		var a struct{ Session string }
		r := tg.do("POST", "/api/sendText", key, map[string]any{"chatId": "447700900123", "text": "secret text"})
		r.json(t, &a)
		if r.status != 202 || a.Session != "uk" {
			t.Fatalf("send to +44: %d session %q %s", r.status, a.Session, r.body)
		}
	}
	// The acks reach the webhook through the transform chain, in order: the Lua policy
	// tags each payload, then the built-in redact hides the tag; signed after both.
	env := h.waitFor(t, "message.ack", "status", "sent")
	var p map[string]any
	json.Unmarshal(env.Payload, &p)
	if tag, ok := p["tagged"].(string); !ok || tag == "" || strings.Contains(tag, "447700900123") {
		t.Errorf("payload after the transform chain: %s (want tagged, then redacted)", env.Payload)
	}
	h.mu.Lock()
	if len(h.bad) > 0 {
		t.Errorf("unsigned deliveries: %v", h.bad)
	}
	h.mu.Unlock()

	// Refusals and isolation.
	for _, c := range []struct {
		name, method, path, ct, body string
		status                       int
		code                         string
	}{
		{"failing test vector", "PUT", "/api/policies/bad", "application/json",
			`{"kind":"lua","source":` + jsonString(countryRouter) + `,"tests":[{"hook":"route","input":{"message":{"ChatID":"4477"},"candidates":[{"Session":"uk"}]},"want":{"session":"de"}}]}`,
			422, "policy_test_failed"},
		{"syntax error", "PUT", "/api/policies/bad", "text/x-lua", "function route(", 400, "invalid_policy"},
		{"unknown kind", "PUT", "/api/policies/bad", "application/json", `{"kind":"python","source":"x"}`, 400, "unknown_policy_kind"},
		// os does not exist in the sandbox: the call fails, so the upload's vector does.
		{"escape attempt", "PUT", "/api/policies/bad", "application/json",
			`{"kind":"lua","source":"function route(m, c) os.execute('id') end","tests":[{"hook":"route","input":{"candidates":[{"Session":"uk"}]},"want":{"session":"uk"}}]}`,
			422, "policy_test_failed"},
		// "bindings" is the bindings route, which takes JSON only.
		{"reserved name", "PUT", "/api/policies/bindings", "text/x-lua", countryRouter, 415, "unsupported_media_type"},
		{"delete bound", "DELETE", "/api/policies/by-country", "", "", 409, "policy_bound"},
		{"absent", "GET", "/api/policies/nope", "", "", 404, "policy_not_found"},
		{"bad binding", "PUT", "/api/policies/bindings", "application/json", `{"route":[{"policy":"nope"}]}`, 404, "policy_not_found"},
	} {
		r := tg.raw(c.method, c.path, key, c.ct, c.body)
		if r.status != c.status || r.errCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.body, c.status, c.code)
		}
	}
	if r := tg.do("GET", "/api/policies/by-country", other, nil); r.status != 404 {
		t.Errorf("other tenant sees the policy: %d %s", r.status, r.body)
	}
	var list []struct{ Name string }
	tg.do("GET", "/api/policies", key, nil).json(t, &list)
	if len(list) != 2 || list[0].Name != "by-country" {
		t.Errorf("policies: %+v", list)
	}
}

func jsonString(s string) string {
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(s)
	return strings.TrimSpace(b.String())
}

// A WASM policy (the Go SDK example router, built from source) uploaded with its
// configuration, bound, and routing sends through the real gateway.
func TestPolicyUploadWASM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a WASM module")
	}
	mod := wasmtest.BuildGo(t, "github.com/wagate/wagate/examples/wasm-router-go")
	tg := bootConfig(t, `
server:
  listen: 127.0.0.1:0
  max_body_bytes: 32MiB
store:
  dir: `+t.TempDir()+`
  gc_interval: 0
admin:
  api_key: `+adminKey+`
log:
  level: error
providers:
  sandbox:
    send_latency: 0
policies:
  init_timeout: 20s # a Go guest's runtime start took over 1s on a loaded CI machine
`)
	key := tg.createTenant("wasm")
	for _, name := range []string{"de", "uk"} {
		tg.do("POST", "/api/sessions", key, map[string]any{"name": name})
		tg.do("POST", "/api/sandbox/"+name+"/link", key, map[string]any{})
		waitWorking(t, tg, key, name)
	}
	r := tg.do("PUT", "/api/policies/by-code", key, map[string]any{
		"kind": "wasm", "module": mod, "config": map[string]any{"routes": map[string]any{"44": []string{"uk"}}},
		"tests": []map[string]any{{"hook": "route",
			"input": map[string]any{"message": map[string]any{"ChatID": "447700900000@c.us"}, "candidates": []map[string]any{{"Session": "de"}, {"Session": "uk"}}},
			"want":  map[string]any{"session": "uk"}}},
	})
	if r.status != 201 {
		t.Fatalf("upload: %d %.300s", r.status, r.body)
	}
	if r := tg.do("PUT", "/api/policies/bindings", key, map[string]any{"route": []map[string]any{{"policy": "by-code"}}}); r.status != 200 {
		t.Fatalf("bind: %d %s", r.status, r.body)
	}
	var a struct{ Session string }
	r = tg.do("POST", "/api/sendText", key, map[string]any{"chatId": "447700900555", "text": "hi"})
	r.json(t, &a)
	if r.status != 202 || a.Session != "uk" {
		t.Fatalf("send to +44: %d %q %s", r.status, a.Session, r.body)
	}
}
