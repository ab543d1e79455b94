package api

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestOpenAPILint runs Redocly CLI's linter (recommended rules, testdata/redocly.yaml)
// on the served document and fails on any problem, error or warning. Redocly is an npm
// package: the test uses $WAGATE_REDOCLY or redocly on PATH, and skips without it
// (.ci/run installs it: npm install --prefix DIR @redocly/cli@2.77.0).
func TestOpenAPILint(t *testing.T) {
	bin := os.Getenv("WAGATE_REDOCLY")
	if bin == "" {
		bin, _ = exec.LookPath("redocly")
	}
	if bin == "" {
		t.Skip("redocly not found: set WAGATE_REDOCLY or put redocly on PATH (npm install -g @redocly/cli@2.77.0); .ci/run installs it")
	}
	e := newEnv(t)
	_, doc := e.do("GET", "/api/openapi.json", "", "")
	path := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := filepath.Abs("testdata/redocly.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--config", cfg, "--format", "json", path)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, runErr := cmd.Output()
	var report struct {
		Totals struct {
			Errors, Warnings int
		}
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string
			Message  string
			Location []struct {
				Pointer string
			}
		}
	}
	if err := json.Unmarshal(out, &report); err != nil {
		stderr := ""
		if ee, ok := runErr.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("redocly lint: %v, output not a report (%v):\n%s\n%s", runErr, err, out, stderr)
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if runErr != nil && len(report.Problems) == 0 {
		t.Errorf("redocly lint failed without problems: %v", runErr)
	}
	if t.Failed() {
		t.Logf("%d errors, %d warnings; fix core/api/openapi.go (or, for a deliberate choice, turn the rule off in testdata/redocly.yaml with the reason)",
			report.Totals.Errors, report.Totals.Warnings)
	}
}
