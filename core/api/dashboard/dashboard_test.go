package dashboard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func page(t *testing.T) string {
	t.Helper()
	if len(Index) == 0 {
		t.Fatal("Index is empty")
	}
	return string(Index)
}

func TestIndexIsHTML(t *testing.T) {
	s := page(t)
	lower := strings.ToLower(s)
	if !strings.HasPrefix(lower, "<!doctype html>") {
		t.Error("page does not start with <!doctype html>")
	}
	for _, want := range []string{`<html lang="en">`, `<meta charset="utf-8">`, "<title>wagate", "</head>", "<body>", "</body>", "</html>"} {
		if !strings.Contains(lower, strings.ToLower(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, tag := range []string{"script", "style", "main", "section", "form", "table", "header"} {
		open := len(regexp.MustCompile(`<`+tag+`[\s>]`).FindAllString(lower, -1))
		if closed := strings.Count(lower, "</"+tag+">"); open != closed || open == 0 {
			t.Errorf("<%s>: %d opened, %d closed", tag, open, closed)
		}
	}
	if ContentType != "text/html; charset=utf-8" {
		t.Errorf("ContentType = %q", ContentType)
	}
}

func TestIndexUsesAPI(t *testing.T) {
	s := page(t)
	for _, want := range []string{"X-Api-Key", "/api/events", "/api/sessions", "/api/sendText", "/auth/qr?format=image",
		"/api/sandbox/", "sessionStorage", "getReader", "text/event-stream"} {
		if !strings.Contains(s, want) {
			t.Errorf("page does not reference %q", want)
		}
	}
}

// TestIndexSelfContained: the page must work offline, so nothing may be loaded from
// another origin.
func TestIndexSelfContained(t *testing.T) {
	s := page(t)
	external := []*regexp.Regexp{
		regexp.MustCompile(`(?i)\b(src|href|action|poster|srcset)\s*=\s*["']?\s*(https?:)?//`),
		regexp.MustCompile(`(?i)@import`),
		regexp.MustCompile(`(?i)url\(\s*["']?\s*(https?:)?//`),
		regexp.MustCompile(`(?i)(fetch|import)\(\s*["'\x60](https?:)?//`),
		regexp.MustCompile(`(?i)<script[^>]*\ssrc\s*=`),
		regexp.MustCompile(`(?i)<link[^>]*\srel\s*=\s*["']?stylesheet`),
	}
	for _, re := range external {
		if m := re.FindString(s); m != "" {
			t.Errorf("external reference %q", m)
		}
	}
}

// TestIndexNoHTMLInjection: data is inserted as text only.
func TestIndexNoHTMLInjection(t *testing.T) {
	s := page(t)
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(s, bad) {
			t.Errorf("page uses %s", bad)
		}
	}
}

// TestIndexFormControlsLabelled: every input, select and textarea has a <label for>
// or an aria-label.
func TestIndexFormControlsLabelled(t *testing.T) {
	s := page(t)
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`<label[^>]*\sfor="([^"]+)"`).FindAllStringSubmatch(s, -1) {
		labels[m[1]] = true
	}
	controls := regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`).FindAllString(s, -1)
	if len(controls) == 0 {
		t.Fatal("no form controls found")
	}
	idRe := regexp.MustCompile(`\sid="([^"]+)"`)
	for _, c := range controls {
		if strings.Contains(c, "aria-label=") {
			continue
		}
		if m := idRe.FindStringSubmatch(c); m == nil || !labels[m[1]] {
			t.Errorf("control without a label: %s", c)
		}
	}
}

func inlineScripts(t *testing.T, s string) string {
	t.Helper()
	ms := regexp.MustCompile(`(?is)<script[^>]*>(.*?)</script>`).FindAllStringSubmatch(s, -1)
	if len(ms) == 0 {
		t.Fatal("no <script> in page")
	}
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m[1])
		b.WriteString("\n;\n")
	}
	return b.String()
}

// TestIndexScriptParses runs `node --check` on the inline script when node is
// installed (skipped otherwise, so CI without node passes).
func TestIndexScriptParses(t *testing.T) {
	js := inlineScripts(t, page(t))
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH; skipping the JavaScript syntax check")
	}
	f := filepath.Join(t.TempDir(), "dashboard.js")
	if err := os.WriteFile(f, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, node, "--check", f).CombinedOutput(); err != nil {
		t.Fatalf("node --check: %v\n%s", err, out)
	}
}
