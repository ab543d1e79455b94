package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	appSecret   = "meta-app-secret-0123456789"
	verifyToken = "verify-me"
)

// inboundHarness runs requests through Inbound.Wrap around a handler that counts calls.
type inboundHarness struct {
	v       *Inbound
	h       fasthttp.RequestHandler
	handled int
}

func newInboundHarness(now time.Time) *inboundHarness {
	ih := &inboundHarness{}
	ih.v = &Inbound{
		Secrets: func(c *fasthttp.RequestCtx) (string, string, bool) {
			if string(c.Path()) != "/api/webhooks/meta/main" {
				return "", "", false
			}
			return appSecret, verifyToken, true
		},
		Reject: func(c *fasthttp.RequestCtx, status int, code, msg string) {
			c.SetStatusCode(status)
			c.SetBodyString(code)
		},
		MaxBody: 4096,
		Now:     func() time.Time { return now },
	}
	ih.h = ih.v.Wrap(func(c *fasthttp.RequestCtx) { ih.handled++; c.SetStatusCode(200) })
	return ih
}

func (ih *inboundHarness) do(method, uri string, body []byte, sig string) (int, string) {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	req.SetBody(body)
	var c fasthttp.RequestCtx
	c.Init(&req, nil, nil)
	ih.h(&c)
	return c.Response.StatusCode(), string(c.Response.Body())
}

func metaSign(body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestInboundVerification(t *testing.T) {
	body, err := os.ReadFile("testdata/meta_text_message.json")
	if err != nil {
		t.Fatal(err)
	}
	fixtureTime := time.Unix(1749416383, 0)
	const uri = "/api/webhooks/meta/main"
	good := metaSign(body)
	for _, c := range []struct {
		name    string
		method  string
		uri     string
		body    []byte
		sig     string
		status  int
		code    string
		handled bool
	}{
		{name: "missing signature", method: "POST", uri: uri, body: body, status: 401, code: "signature_missing"},
		{name: "not sha256=", method: "POST", uri: uri, body: body, sig: strings.TrimPrefix(good, "sha256="), status: 401, code: "signature_missing"},
		{name: "truncated", method: "POST", uri: uri, body: body, sig: good[:len(good)-2], status: 401, code: "signature_missing"},
		{name: "not hex", method: "POST", uri: uri, body: body, sig: "sha256=" + strings.Repeat("zz", 32), status: 401, code: "signature_missing"},
		{name: "wrong", method: "POST", uri: uri, body: body, sig: metaSign([]byte("other")), status: 401, code: "signature_invalid"},
		{name: "body changed", method: "POST", uri: uri, body: append([]byte(" "), body...), sig: good, status: 401, code: "signature_invalid"},
		{name: "oversized", method: "POST", uri: uri, body: make([]byte, 5000), sig: metaSign(make([]byte, 5000)), status: 413, code: "body_too_large"},
		{name: "unknown path", method: "POST", uri: "/api/webhooks/meta/other", body: body, sig: good, status: 404, code: "webhook_not_found"},
		{name: "valid", method: "POST", uri: uri, body: body, sig: good, status: 200, handled: true},
		{name: "replayed", method: "POST", uri: uri, body: body, sig: good, status: 200, code: `{"status":"duplicate"}`},
		{name: "challenge", method: "GET", uri: uri + "?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", status: 200, code: "1158201444"},
		{name: "challenge wrong token", method: "GET", uri: uri + "?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1", status: 403, code: "verification_failed"},
		{name: "challenge wrong mode", method: "GET", uri: uri + "?hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", status: 403, code: "verification_failed"},
	} {
		ih := sharedHarness(t, fixtureTime)
		before := ih.handled
		status, out := ih.do(c.method, c.uri, c.body, c.sig)
		if status != c.status || (c.code != "" && out != c.code) {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, out, c.status, c.code)
		}
		if handled := ih.handled > before; handled != c.handled {
			t.Errorf("%s: handler ran = %v, want %v", c.name, handled, c.handled)
		}
	}

	// Stale: the same fixture, received 8 days after its timestamps.
	ih := newInboundHarness(fixtureTime.Add(8 * 24 * time.Hour))
	if status, out := ih.do("POST", uri, body, good); status != 400 || out != "stale_delivery" || ih.handled != 0 {
		t.Fatalf("stale: %d %q handled=%d", status, out, ih.handled)
	}
	var probe map[string]any
	if err := json.Unmarshal(body, &probe); err != nil {
		t.Fatal("fixture is not JSON:", err)
	}
}

var shared *inboundHarness

// sharedHarness keeps one harness across the table, so "replayed" follows "valid".
func sharedHarness(t *testing.T, now time.Time) *inboundHarness {
	if shared == nil {
		shared = newInboundHarness(now)
		t.Cleanup(func() { shared = nil })
	}
	return shared
}

func TestSeenSetForgetsOldest(t *testing.T) {
	s := newSeenSet(2)
	h := func(b byte) [32]byte { return [32]byte{b} }
	if !s.add(h(1)) || !s.add(h(2)) || s.add(h(1)) {
		t.Fatal("first adds")
	}
	s.add(h(3)) // evicts 1
	if !s.add(h(1)) {
		t.Fatal("1 should have been forgotten")
	}
}

// A delivery the handler did not accept (a non-2xx: the session was stopped) is not
// remembered: Meta's retry of it is processed.
func TestInboundRetryAfterHandlerFailure(t *testing.T) {
	body, err := os.ReadFile("testdata/meta_text_message.json")
	if err != nil {
		t.Fatal(err)
	}
	ih := newInboundHarness(time.Unix(1749416383, 0))
	fail := true
	ih.h = ih.v.Wrap(func(c *fasthttp.RequestCtx) {
		ih.handled++
		if fail {
			c.SetStatusCode(503)
			return
		}
		c.SetStatusCode(200)
	})
	if status, _ := ih.do("POST", "/api/webhooks/meta/main", body, metaSign(body)); status != 503 || ih.handled != 1 {
		t.Fatalf("first delivery: %d, handled %d", status, ih.handled)
	}
	fail = false
	if status, out := ih.do("POST", "/api/webhooks/meta/main", body, metaSign(body)); status != 200 || ih.handled != 2 {
		t.Fatalf("retry: %d %q, handled %d (want processed)", status, out, ih.handled)
	}
	if _, out := ih.do("POST", "/api/webhooks/meta/main", body, metaSign(body)); out != `{"status":"duplicate"}` || ih.handled != 2 {
		t.Fatalf("replay after success: %q, handled %d", out, ih.handled)
	}
}
