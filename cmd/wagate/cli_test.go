package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestTenantCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(cfg, []byte("store:\n  dir: "+filepath.Join(dir, "data")+"\n"), 0o600)

	out, err := runCLI(t, "tenant", "create", "--config", cfg, "--id", "acme", "--name", "Acme", "--max-sessions", "3")
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Tenant struct {
			ID   string
			Plan struct{ MaxSessions, MaxMessagesPerDay int }
		}
		APIKey struct{ Key string }
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create output %q: %v", out, err)
	}
	if created.Tenant.ID != "acme" || created.Tenant.Plan.MaxSessions != 3 || created.Tenant.Plan.MaxMessagesPerDay != 10000 ||
		!strings.HasPrefix(created.APIKey.Key, "wag_acme.") {
		t.Errorf("created %+v", created)
	}
	if _, err := runCLI(t, "tenant", "create", "--config", cfg, "--id", "acme"); err == nil {
		t.Error("duplicate tenant created")
	}
	out, err = runCLI(t, "tenant", "list", "--config", cfg)
	if err != nil || !strings.Contains(out, `"id": "acme"`) {
		t.Errorf("list: %q %v", out, err)
	}
	// Plan updates and scoped keys.
	out, err = runCLI(t, "tenant", "update", "--config", cfg, "acme", "--max-messages-per-day", "50")
	if err != nil || !strings.Contains(out, `"maxMessagesPerDay": 50`) || !strings.Contains(out, `"maxSessions": 3`) {
		t.Errorf("update: %q %v", out, err)
	}
	if _, err := runCLI(t, "tenant", "update", "--config", cfg, "acme"); err == nil || !strings.Contains(err.Error(), "nothing to update") {
		t.Errorf("update without flags: %v", err)
	}
	if _, err := runCLI(t, "tenant", "update", "--config", cfg, "nobody", "--name", "X"); err == nil {
		t.Error("update of an unknown tenant succeeded")
	}
	out, err = runCLI(t, "tenant", "key", "create", "--config", cfg, "acme", "--name", "dashboards", "--scopes", "read")
	var readKey struct{ Key string }
	if err != nil || json.Unmarshal([]byte(out), &readKey) != nil || !strings.HasPrefix(readKey.Key, "wag_acme.") {
		t.Fatalf("key create: %q %v", out, err)
	}
	if _, err := runCLI(t, "tenant", "key", "create", "--config", cfg, "acme", "--scopes", "root"); err == nil {
		t.Error("a key with an unknown scope was created")
	}
	if out, err := runCLI(t, "tenant", "key", "list", "--config", cfg, "acme"); err != nil || !strings.Contains(out, "dashboards") || strings.Contains(out, readKey.Key) {
		t.Errorf("key list: %q %v", out, err)
	}
	// The keys made by the CLI work on the gateway started on the same data dir, the
	// read key within its scope.
	tg := bootYAML(t, filepath.Join(dir, "data"), "")
	if r := tg.do("GET", "/api/sessions", created.APIKey.Key, nil); r.status != 200 {
		t.Errorf("CLI key on the gateway: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/sessions", readKey.Key, nil); r.status != 200 {
		t.Errorf("read key GET: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sendText", readKey.Key, map[string]any{"chatId": "15550000001", "text": "x"}); r.status != 403 || r.errCode() != "insufficient_scope" {
		t.Errorf("read key POST sendText: %d %s", r.status, r.body)
	}
	// While the gateway runs, the CLI refuses the locked data dir with a clear message.
	if _, err := runCLI(t, "tenant", "list", "--config", cfg); err == nil || !strings.Contains(err.Error(), "in use by another wagate process") {
		t.Errorf("CLI on a running gateway's dir: %v", err)
	}
	tg.stop()
	if out, err := runCLI(t, "tenant", "delete", "--config", cfg, "acme"); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %q %v", out, err)
	}
	if _, err := runCLI(t, "tenant", "delete", "--config", cfg, "acme"); err == nil {
		t.Error("second delete succeeded")
	}
	if out, _ := runCLI(t, "version"); !strings.HasPrefix(out, "wagate ") {
		t.Errorf("version: %q", out)
	}
	if _, err := runCLI(t, "serve", "--config", filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("serve with a missing config: %v", err)
	}
}

func TestPolicyCLI(t *testing.T) {
	dir := t.TempDir()
	lua := filepath.Join(dir, "router.lua")
	os.WriteFile(lua, []byte(`function route(msg, candidates) return candidates[#candidates] end
function rate(msg, s) return {action = "delay", delay_ms = 250} end`), 0o600)
	input := filepath.Join(dir, "case.json")
	os.WriteFile(input, []byte(`{"message":{"ChatID":"4477@c.us"},"candidates":[{"Session":"a"},{"Session":"z"}]}`), 0o600)
	run := func(args ...string) (string, error) { return runCLI(t, args...) }
	out, err := run("policy", "test", lua, "--hook", "route", "--input", input)
	if err != nil || !strings.Contains(out, `"session": "z"`) || !strings.Contains(out, "route took") {
		t.Fatalf("policy test route: %v\n%s", err, out)
	}
	out, err = run("policy", "test", lua, "--hook", "rate", "--input", input)
	if err != nil || !strings.Contains(out, `"action": "delay"`) || !strings.Contains(out, `"delay": "250ms"`) {
		t.Fatalf("policy test rate: %v\n%s", err, out)
	}
	out, err = run("policy", "bench", lua, "--n", "50")
	if err != nil || !strings.Contains(out, "route ") || !strings.Contains(out, "rate ") || !strings.Contains(out, "ns/op") {
		t.Fatalf("policy bench: %v\n%s", err, out)
	}
	if _, err := run("policy", "test", lua, "--hook", "failover", "--input", input); err == nil {
		t.Fatal("a hook the policy lacks was called without error")
	}
	if _, err := run("policy", "test", filepath.Join(dir, "x.py"), "--input", input); err == nil {
		t.Fatal("unknown file type accepted")
	}
}
