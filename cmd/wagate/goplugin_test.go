package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wagate/wagate/config"
)

// buildGopluginRouter builds examples/goplugin-router and returns its path and SHA-256.
func buildGopluginRouter(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "goplugin-router")
	cmd := exec.Command("go", "build", "-o", path, "github.com/wagate/wagate/examples/goplugin-router")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return path, hex.EncodeToString(sum[:])
}

// An operator's go-plugin binary, pinned in the manifest, bound by a tenant, routes
// sends through the real gateway; a binary whose hash does not match stops the start.
func TestGopluginFromOperatorManifest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	bin, sum := buildGopluginRouter(t)
	dir := t.TempDir()
	manifest := filepath.Join(dir, "plugins.yaml")
	os.WriteFile(manifest, []byte("binaries:\n  - name: country-router\n    path: "+bin+"\n    sha256: "+sum+"\ncall_timeout: 1s\n"), 0o600)
	tg := bootYAML(t, filepath.Join(dir, "data"), "policies:\n  goplugin_manifest: "+manifest+"\n")
	key := tg.createTenant("gp")
	for _, name := range []string{"de", "uk"} {
		tg.do("POST", "/api/sessions", key, map[string]any{"name": name})
		tg.do("POST", "/api/sandbox/"+name+"/link", key, map[string]any{})
		waitWorking(t, tg, key, name)
	}
	r := tg.do("PUT", "/api/policies/bindings", key, map[string]any{
		"route": []map[string]any{{"goplugin": "country-router", "timeout": "1s", "config": map[string]any{"routes": map[string]any{"44": "uk"}}}},
	})
	if r.status != 200 {
		t.Fatalf("bind: %d %s", r.status, r.body)
	}
	var a struct{ Session string }
	r = tg.do("POST", "/api/sendText", key, map[string]any{"chatId": "447700900555", "text": "hi"})
	r.json(t, &a)
	if r.status != 202 || a.Session != "uk" {
		t.Fatalf("send to +44: %d %q %s", r.status, a.Session, r.body)
	}
	tg.stop()

	// A pin that does not match: the gateway refuses to start, naming the binary.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("binaries:\n  - name: country-router\n    path: "+bin+"\n    sha256: "+strings.Repeat("0", 64)+"\n"), 0o600)
	cfg, err := config.Parse([]byte("admin:\n  api_key: "+adminKey+"\nstore:\n  dir: "+filepath.Join(dir, "data2")+"\npolicies:\n  goplugin_manifest: "+bad+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := openGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err == nil {
		g.shutdown(context.Background())
		t.Fatal("the gateway started with a binary whose hash does not match")
	}
	if !strings.Contains(err.Error(), "country-router") {
		t.Fatalf("error does not name the binary: %v", err)
	}
}
