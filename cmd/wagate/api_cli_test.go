package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestAPICommands runs the API commands (session, send, events, webhook) end to end
// against a real gateway: tables and --json, --url/--key and the environment, errors.
func TestAPICommands(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "webhooks:\n  allow_networks: 127.0.0.1/32\n  backoff_base: 10ms\n")
	key := tg.createTenant("cli")
	conn := []string{"--url", tg.base, "--key", key}
	run := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, append(args, conn...)...)
		if err != nil {
			t.Fatalf("wagate %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	runJSON := func(v any, args ...string) {
		t.Helper()
		out := run(append(args, "--json")...)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("wagate %s --json: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	type session struct {
		Name, Status string
		Me           *struct{ ID string }
	}

	// Sessions: an empty table, create, the QR in the terminal, link, list.
	if out := run("session", "list"); strings.TrimSpace(out) != "NAME  STATUS  PROVIDER  NUMBER  UPDATED" {
		t.Errorf("empty session list:\n%s", out)
	}
	if out := run("session", "create", "alice"); !strings.Contains(out, "alice") || !strings.Contains(out, "sandbox") {
		t.Errorf("session create:\n%s", out)
	}
	qr := run("session", "qr", "alice", "--wait", "10s")
	if !strings.Contains(qr, "▀") || !strings.Contains(qr, "Linked devices") || strings.Count(qr, "\n") < 20 {
		t.Errorf("session qr does not look like a QR code:\n%s", qr)
	}
	var code struct{ Value, ExpiresAt string }
	runJSON(&code, "session", "qr", "alice")
	if code.Value == "" || code.ExpiresAt == "" {
		t.Errorf("session qr --json: %+v", code)
	}
	if r := tg.do("POST", "/api/sandbox/alice/link", key, map[string]any{"phone": "15550000001"}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "alice")
	var list []session
	runJSON(&list, "session", "list")
	if len(list) != 1 || list[0].Name != "alice" || list[0].Status != "WORKING" || list[0].Me == nil || list[0].Me.ID != "15550000001@c.us" {
		t.Errorf("session list --json: %+v", list)
	}
	if out := run("session", "list"); !strings.Contains(out, "alice  WORKING  sandbox   15550000001@c.us") {
		t.Errorf("session list table:\n%s", out)
	}

	// Send, with an idempotency key: the retry is the same message.
	type sent struct{ ID, Status, Session, ChatID string }
	var first, again sent
	runJSON(&first, "send", "--session", "alice", "--to", "15550000002", "--idempotency-key", "order-1", "Hello", "from", "the", "CLI")
	runJSON(&again, "send", "--session", "alice", "--to", "15550000002", "--idempotency-key", "order-1", "Hello", "from", "the", "CLI")
	if first.ID == "" || first.Status != "queued" || first.ChatID != "15550000002@c.us" || again.ID != first.ID {
		t.Errorf("send: %+v then %+v", first, again)
	}
	var piped bytes.Buffer
	root := newRoot(&piped, io.Discard)
	root.SetIn(strings.NewReader("from stdin\n"))
	root.SetArgs(append([]string{"send", "--session", "alice", "--to", "15550000002", "--json", "-"}, conn...))
	var fromStdin sent
	if err := root.Execute(); err != nil || json.Unmarshal(piped.Bytes(), &fromStdin) != nil {
		t.Fatalf("send - : %v %s", err, piped.Bytes())
	}
	var stored struct{ Text, Body string }
	tg.do("GET", "/api/messages/"+fromStdin.ID, key, nil).json(t, &stored)
	if stored.Text+stored.Body != "from stdin" {
		t.Errorf("send - stored %+v", stored)
	}
	if out := run("send", "--session", "alice", "--to", "15550000002", "plain"); !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "queued") {
		t.Errorf("send table:\n%s", out)
	}

	// Events: tail until --count, over SSE (JSON lines) and WebSocket (lines). The
	// stream opens at some point after the command starts: send until it has its events.
	tail := func(args ...string) string {
		t.Helper()
		done := make(chan string, 1)
		go func() {
			out, err := runCLI(t, append(append([]string{"events", "--session", "alice", "--events", "message.ack"}, args...), conn...)...)
			if err != nil {
				out += "\nerror: " + err.Error()
			}
			done <- out
		}()
		deadline := time.After(15 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case out := <-done:
				return out
			case <-tick.C:
				if r := tg.do("POST", "/api/sendText", key, map[string]any{"session": "alice", "chatId": "15550000003", "text": "tick"}); r.status != 202 {
					t.Fatalf("send: %d %s", r.status, r.body)
				}
			case <-deadline:
				t.Fatal("wagate events did not get its events within 15s")
			}
		}
	}
	out := tail("--count", "3", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("events --count 3 --json printed %d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var env struct{ Event, Session, Tenant string }
		if err := json.Unmarshal([]byte(l), &env); err != nil || env.Event != "message.ack" || env.Session != "alice" || env.Tenant != "cli" {
			t.Errorf("events line %q: %+v %v", l, env, err)
		}
	}
	if out := tail("--count", "1", "--ws"); !strings.Contains(out, "message.ack") || !strings.Contains(out, `"ackName"`) || strings.Count(out, "\n") != 1 {
		t.Errorf("events --ws table:\n%s", out)
	}

	// Webhooks: create, list, the delivery log, replay.
	h := newHookReceiver(t)
	var hook struct{ ID, Secret string }
	runJSON(&hook, "webhook", "create", h.srv.URL+"/hook", "--events", "message.ack", "--session", "alice")
	h.mu.Lock()
	h.secret = hook.Secret
	h.mu.Unlock()
	if out := run("webhook", "list"); !strings.Contains(out, hook.ID) || !strings.Contains(out, "message.ack") || !strings.Contains(out, "enabled") {
		t.Errorf("webhook list:\n%s", out)
	}
	run("send", "--session", "alice", "--to", "15550000004", "for the webhook")
	h.waitFor(t, "message.ack", "ackName", "READ")
	var page struct {
		Deliveries []struct{ ID, Event, Status string }
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runJSON(&page, "webhook", "deliveries", hook.ID, "--status", "delivered")
		if len(page.Deliveries) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %+v", page)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := run("webhook", "deliveries", hook.ID, "--status", "delivered", "--limit", "2"); strings.Count(out, "message.ack") != 2 || !strings.Contains(out, "delivered") || !strings.Contains(out, "more: --cursor ") {
		t.Errorf("webhook deliveries table:\n%s", out)
	}
	h.mu.Lock()
	before := len(h.events)
	h.mu.Unlock()
	replayed := run("webhook", "replay", hook.ID, "--since", "1h")
	var n int
	if _, err := fmt.Sscanf(replayed, "replaying %d deliveries", &n); err != nil || n < len(page.Deliveries) {
		t.Errorf("webhook replay: %q (%v); want at least %d", replayed, err, len(page.Deliveries))
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		got := len(h.events)
		h.mu.Unlock()
		if got >= before+n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replay of %d: the receiver got %d more", n, got-before)
		}
	}

	// Lifecycle: stop, start, logout, delete.
	var s session
	runJSON(&s, "session", "stop", "alice")
	if s.Status != "STOPPED" {
		t.Errorf("session stop: %+v", s)
	}
	runJSON(&s, "session", "start", "alice")
	if s.Name != "alice" || s.Status == "STOPPED" {
		t.Errorf("session start: %+v", s)
	}
	waitWorking(t, tg, key, "alice")
	runJSON(&s, "session", "logout", "alice")
	if s.Name != "alice" || s.Status == "WORKING" {
		t.Errorf("session logout: %+v", s)
	}
	if out := run("session", "delete", "alice"); !strings.Contains(out, "deleted") {
		t.Errorf("session delete: %q", out)
	}

	// Errors: the gateway's code; bad flags; no key. The environment instead of flags.
	if _, err := runCLI(t, append([]string{"session", "get", "alice"}, conn...)...); err == nil || !strings.Contains(err.Error(), "session_not_found (404)") {
		t.Errorf("session get of a deleted session: %v", err)
	}
	if _, err := runCLI(t, "session", "list", "--url", tg.base, "--key", "wag_cli.wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := runCLI(t, append([]string{"send", "hello"}, conn...)...); err == nil || !strings.Contains(err.Error(), "--to is required") {
		t.Errorf("send without --to: %v", err)
	}
	if _, err := runCLI(t, append([]string{"webhook", "replay", hook.ID, "--since", "yesterday"}, conn...)...); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Errorf("replay --since yesterday: %v", err)
	}
	t.Setenv("WAGATE_API_KEY", "")
	if _, err := runCLI(t, "session", "list", "--url", tg.base); err == nil || !strings.Contains(err.Error(), "WAGATE_API_KEY") {
		t.Errorf("no key: %v", err)
	}
	t.Setenv("WAGATE_URL", tg.base)
	t.Setenv("WAGATE_API_KEY", key)
	if out, err := runCLI(t, "webhook", "list"); err != nil || !strings.Contains(out, hook.ID) {
		t.Errorf("from the environment: %v\n%s", err, out)
	}
}
