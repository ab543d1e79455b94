package dashboard

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// all returns every console file by name.
func all(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(Static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Static, p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIndexIsHTML(t *testing.T) {
	s := strings.ToLower(string(Index))
	if !strings.HasPrefix(s, "<!doctype html>") {
		t.Error("page does not start with <!doctype html>")
	}
	for _, want := range []string{`<html lang="en">`, `<meta charset="utf-8">`, "<title>wagate", `<script type="module" src="/static/app.js"></script>`,
		`<link rel="stylesheet" href="/static/style.css">`, `<link rel="icon" href="/favicon.ico"`, `<main id="view"`} {
		if !strings.Contains(s, strings.ToLower(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if ContentType != "text/html; charset=utf-8" || len(Favicon) == 0 {
		t.Errorf("ContentType = %q, favicon %d bytes", ContentType, len(Favicon))
	}
}

// TestNoInlineCode: the CSP forbids inline scripts, styles and handlers, so none may be
// written; and nothing may be loaded from another origin.
func TestNoInlineCode(t *testing.T) {
	bad := []*regexp.Regexp{
		regexp.MustCompile(`(?is)<script[^>]*>\s*[^<\s]`),                     // inline script body
		regexp.MustCompile(`(?i)<style`),                                      // inline style sheet
		regexp.MustCompile(`(?i)\sstyle\s*=`),                                 // style attribute
		regexp.MustCompile(`(?i)\son[a-z]+\s*=\s*["']`),                       // inline handler
		regexp.MustCompile(`(?i)\b(src|href|action)\s*=\s*["']?(https?:)?//`), // other origin
		regexp.MustCompile(`(?i)@import|url\(\s*["']?(https?:)?//`),
		regexp.MustCompile(`(?i)(fetch|import)\(\s*["'\x60](https?:)?//`),
	}
	for name, s := range all(t) {
		if strings.HasSuffix(name, ".svg") {
			continue
		}
		for _, re := range bad {
			if m := re.FindString(s); m != "" {
				t.Errorf("%s: %q", name, m)
			}
		}
	}
	if !strings.Contains(CSP, "default-src 'self'") || strings.Contains(CSP, "unsafe") {
		t.Errorf("CSP = %q", CSP)
	}
}

// TestNoHTMLInjection: data is inserted as text only.
func TestNoHTMLInjection(t *testing.T) {
	for name, s := range all(t) {
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}

// TestSecretsInSessionStorage: the key lives in sessionStorage; localStorage holds the
// theme preference only.
func TestSecretsInSessionStorage(t *testing.T) {
	files := all(t)
	if !strings.Contains(files["api.js"], "sessionStorage.setItem(KEY") {
		t.Error("api.js does not keep the key in sessionStorage")
	}
	for name, s := range files {
		for _, m := range regexp.MustCompile(`localStorage\.setItem\(\s*"([^"]+)"`).FindAllStringSubmatch(s, -1) {
			if m[1] != "wagate.theme" {
				t.Errorf("%s puts %q in localStorage", name, m[1])
			}
		}
	}
}

// TestPagesPresent: every page app.js imports exists, and every page exports render.
func TestPagesPresent(t *testing.T) {
	files := all(t)
	imports := regexp.MustCompile(`import\("\./(pages/[a-z]+\.js)"\)`).FindAllStringSubmatch(files["app.js"], -1)
	if len(imports) < 8 {
		t.Fatalf("app.js imports %d pages", len(imports))
	}
	for _, m := range imports {
		s, ok := files[m[1]]
		if !ok {
			t.Errorf("app.js imports %s, which is missing", m[1])
		} else if !strings.Contains(s, "export function render(") {
			t.Errorf("%s does not export render", m[1])
		}
	}
}

func TestFile(t *testing.T) {
	for _, c := range []struct {
		name, ct string
		ok       bool
	}{
		{"app.js", "text/javascript; charset=utf-8", true},
		{"pages/sessions.js", "text/javascript; charset=utf-8", true},
		{"style.css", "text/css; charset=utf-8", true},
		{"favicon.svg", FaviconType, true},
		{"../dashboard.go", "", false},
		{"nope.js", "", false},
		{"pages", "", false},
		{"", "", false},
	} {
		b, ct, ok := File(c.name)
		if ok != c.ok || ct != c.ct || (ok && len(b) == 0) {
			t.Errorf("File(%q) = %d bytes, %q, %v; want %q, %v", c.name, len(b), ct, ok, c.ct, c.ok)
		}
	}
}

// TestScriptsParse runs `node --check` on every module when node is installed
// (skipped otherwise, so CI without node passes).
func TestScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH; skipping the JavaScript syntax check")
	}
	dir := t.TempDir()
	for name, s := range all(t) {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		f := filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+".mjs")
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, node, "--check", f).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("node --check %s: %v\n%s", name, err, out)
		}
	}
}
