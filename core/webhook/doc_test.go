package webhook

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// docBlock returns the first fenced block of the given language in docs/webhooks.md.
func docBlock(t *testing.T, lang string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("docs/webhooks.md has no %s block", lang)
	}
	return string(m[1])
}

// docCases are signed deliveries the documented verifiers must accept (and, altered,
// reject): the specification's vector and one signed by Sign.
func docCases() []struct{ secret, id, ts, body string } {
	now := strconv.FormatInt(time.Now().Unix(), 10)
	secret := NewSecret()
	body := `{"id":"evt_1","event":"message","payload":{"text":"héllo"}}`
	n, _ := strconv.ParseInt(now, 10, 64)
	return []struct{ secret, id, ts, body string }{
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", `{"test": 2432232314}`},
		{secret, "evt_1", now, body + "|" + Sign([]string{NewSecret(), secret}, "evt_1", n, []byte(body))},
	}
}

// The Python verifier in docs/webhooks.md accepts what wagate signs and refuses a
// changed body. Skipped without python3.
func TestDocExamplesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the documented Python verifier is not checked")
	}
	script := docBlock(t, "python") + `
import sys
secret, msg_id, ts, body, sig, now = sys.argv[1:7]
h = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}
ok = verify(secret, h, body.encode(), now=int(now))
bad = verify(secret, h, body.encode() + b" ", now=int(now))
print("ok" if ok and not bad else "FAIL ok=%s bad=%s" % (ok, bad))
`
	f := filepath.Join(t.TempDir(), "verify.py")
	os.WriteFile(f, []byte(script), 0o600)
	for i, c := range docCases() {
		body, sig := c.body, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
		if b, s, ok := strings.Cut(c.body, "|"); ok {
			body, sig = b, s
		}
		out, err := exec.Command(py, f, c.secret, c.id, c.ts, body, sig, c.ts).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Errorf("case %d: %v %s", i, err, out)
		}
	}
}

// The Go verifier in docs/webhooks.md compiles and behaves the same.
func TestDocExamplesGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	src := `package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

` + docBlock(t, "go") + `
func main() {
	secret, id, ts, body, sig := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", sig)
	ok, bad := verify(secret, h, []byte(body)), verify(secret, h, []byte(body+" "))
	if ok && !bad {
		fmt.Println("ok")
	} else {
		fmt.Println("FAIL", ok, bad)
	}
	_ = time.Now
	_ = math.Abs
	_ = strconv.Itoa
}
`
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module verify\n\ngo 1.22\n"), 0o600)
	bin := filepath.Join(dir, "verify")
	build := exec.Command(gobin, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the documented Go verifier does not compile: %v\n%s", err, out)
	}
	// The vector's timestamp is old: the Go verifier checks the clock, so only the
	// fresh case applies, and the vector must be refused as stale.
	for i, c := range docCases() {
		body, sig := c.body, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
		if b, s, ok := strings.Cut(c.body, "|"); ok {
			body, sig = b, s
		}
		out, _ := exec.Command(bin, c.secret, c.id, c.ts, body, sig).CombinedOutput()
		got := strings.TrimSpace(string(out))
		if i == 0 && got != "FAIL false false" {
			t.Errorf("vector with a 2021 timestamp: %q, want refused as stale", got)
		}
		if i > 0 && got != "ok" {
			t.Errorf("case %d: %q", i, got)
		}
	}
}
