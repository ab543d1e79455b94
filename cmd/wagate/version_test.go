package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// wagate version prints the build; -ldflags values win over the embedded build info.
func TestVersionCommand(t *testing.T) {
	out, err := runCLI(t, "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("version --json: %v: %s", err, out)
	}
	if b.GoVersion != runtime.Version() || b.Platform != runtime.GOOS+"/"+runtime.GOARCH || b.Version == "" {
		t.Errorf("version --json: %+v", b)
	}

	defer func(v, c, d string) { version, commit, buildDate = v, c, d }(version, commit, buildDate)
	version, commit, buildDate = "v1.2.3", "0123456789abcdef", "2026-01-02T03:04:05Z"
	out, err = runCLI(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wagate v1.2.3\n", "commit:   0123456789abcdef", "date:     2026-01-02T03:04:05Z", "go:       " + runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version: no %q in\n%s", want, out)
		}
	}
}

// wagate health exits 0 on a running gateway's /health and /ready, and with an error
// naming the address when nothing answers.
func TestHealthCommand(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	for _, args := range [][]string{{"health", "--url", tg.base}, {"health", "--url", tg.base + "/", "--ready"}} {
		out, err := runCLI(t, args...)
		if err != nil || !strings.Contains(out, `"status":"ok"`) {
			t.Errorf("%v: %v %q", args, err, out)
		}
	}
	t.Setenv("WAGATE_URL", tg.base)
	if _, err := runCLI(t, "health"); err != nil {
		t.Errorf("health with WAGATE_URL: %v", err)
	}
	tg.stop()
	if _, err := runCLI(t, "health", "--url", tg.base, "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), tg.base) {
		t.Errorf("health of a stopped gateway: %v, want an error naming %s", err, tg.base)
	}
}
