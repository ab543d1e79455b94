package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wagate/wagate/config"
)

// TestConfigWithoutFile: without --config, ./gateway.yaml is read when it exists and
// the built-in defaults (with WAGATE_* variables) are used when it does not; a
// --config naming a missing file is an error, as before. t.Chdir makes it serial.
func TestConfigWithoutFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := map[string]string{"WAGATE_SERVER_LISTEN": "127.0.0.1:9999"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	cfg, source, err := resolveConfig("", lookup)
	if err != nil || source != "built-in defaults" {
		t.Fatalf("no file: %q %v", source, err)
	}
	want := config.Defaults()
	want.Server.Listen = "127.0.0.1:9999"
	if cfg.Server.Listen != want.Server.Listen || cfg.Store.Dir != want.Store.Dir || !cfg.Providers.Sandbox.Enabled {
		t.Errorf("defaults: %+v", cfg)
	}
	if _, _, err := resolveConfig("missing.yaml", lookup); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("explicit missing file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte("store:\n  dir: ./elsewhere\n"), 0o600)
	cfg, source, err = resolveConfig("", lookup)
	if err != nil || source != "gateway.yaml" || cfg.Store.Dir != "./elsewhere" || cfg.Server.Listen != "127.0.0.1:9999" {
		t.Errorf("./gateway.yaml: %q %+v %v", source, cfg.Store, err)
	}
	os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte("store: [\n"), 0o600)
	if _, _, err := resolveConfig("", lookup); err == nil {
		t.Error("a broken ./gateway.yaml was ignored")
	}
	os.Remove(filepath.Join(dir, "gateway.yaml"))

	// The command line: a tenant command run outside the repo, without --config,
	// works on the default ./data; with --config it insists on the file.
	t.Setenv("WAGATE_STORE_DIR", filepath.Join(dir, "data"))
	if out, err := runCLI(t, "tenant", "create", "--id", "acme"); err != nil || !strings.Contains(out, `"acme"`) {
		t.Fatalf("tenant create without a config file: %q %v", out, err)
	}
	if out, err := runCLI(t, "tenant", "list"); err != nil || !strings.Contains(out, `"id": "acme"`) {
		t.Errorf("tenant list: %q %v", out, err)
	}
	if _, err := runCLI(t, "tenant", "list", "--config", "gateway.yaml"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("explicit --config gateway.yaml without the file: %v", err)
	}
}
