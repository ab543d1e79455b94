package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/cluster/clustertest"
)

// A request forwarded from node a reaches node b's handler as the client sent it (method,
// path and query, headers, body), with the principal and without the API key; b's answer
// (status, headers, body) comes back as b wrote it.
func TestForward(t *testing.T) {
	srv := clustertest.Solo(t)
	a, b := clustertest.Connect(t, srv.URL()), clustertest.Connect(t, srv.URL())
	var seen struct {
		method, uri, key, idem, principal string
		body                              []byte
	}
	s, err := Serve(b, "b", func(c *fasthttp.RequestCtx) {
		seen.method, seen.uri = string(c.Method()), string(c.RequestURI())
		seen.key, seen.idem = string(c.Request.Header.Peek("X-Api-Key")), string(c.Request.Header.Peek("Idempotency-Key"))
		p, _ := c.UserValue(PrincipalKey).(json.RawMessage)
		seen.principal, seen.body = string(p), append([]byte(nil), c.PostBody()...)
		c.SetStatusCode(http.StatusTooManyRequests)
		c.Response.Header.Set("Retry-After", "7")
		c.SetContentType("application/json")
		c.SetBodyString(`{"error":{"code":"rate_limited"}}`)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := Call(ctx, a, "b", Request{
		Method: "POST", URI: "/api/default/auth/request-code?x=1",
		Header:    http.Header{"X-Api-Key": {"wag_secret"}, "Idempotency-Key": {"k1"}, "Content-Type": {"application/json"}},
		Body:      []byte(`{"phoneNumber":"15551234567"}`),
		Principal: json.RawMessage(`{"tenant":"acme","scopes":["admin"]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen.method != "POST" || seen.uri != "/api/default/auth/request-code?x=1" || seen.key != "" || seen.idem != "k1" ||
		seen.principal != `{"tenant":"acme","scopes":["admin"]}` || !bytes.Equal(seen.body, []byte(`{"phoneNumber":"15551234567"}`)) {
		t.Errorf("the owner saw %+v", seen)
	}
	if res.Status != 429 || res.Header.Get("Retry-After") != "7" || res.Header.Get("Content-Type") != "application/json" ||
		string(res.Body) != `{"error":{"code":"rate_limited"}}` || res.Header.Get("Content-Length") != "" {
		t.Errorf("answer %d %v %s", res.Status, res.Header, res.Body)
	}
	// Nobody serves c: ErrNoOwner at once, not a timeout.
	start := time.Now()
	if _, err := Call(ctx, a, "c", Request{Method: "GET", URI: "/"}); !errors.Is(err, ErrNoOwner) || time.Since(start) > 3*time.Second {
		t.Errorf("no owner: %v after %s", err, time.Since(start))
	}
	// A body beyond one NATS message is refused before sending.
	if _, err := Call(ctx, a, "b", Request{Method: "POST", URI: "/", Body: make([]byte, a.MaxPayload())}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized body: %v", err)
	}
}

// A handler slower than the caller's deadline: the caller gets its context's error.
func TestForwardTimeout(t *testing.T) {
	srv := clustertest.Solo(t)
	a, b := clustertest.Connect(t, srv.URL()), clustertest.Connect(t, srv.URL())
	release := make(chan struct{})
	defer close(release)
	s, err := Serve(b, "b", func(c *fasthttp.RequestCtx) { <-release })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = b.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Call(ctx, a, "b", Request{Method: "GET", URI: "/"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow owner: %v", err)
	}
}
