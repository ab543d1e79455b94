package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/config"
)

// BenchmarkSendText measures POST /api/sendText through the whole gateway (auth, JSON
// decoding, validation, daily-limit reservation in Badger, sandbox provider send, ack
// event), calling the HTTP handler in-process so the figure is the gateway's own cost,
// not the network's; with sync_writes true (as shipped) and false.
//
//	go test -run XXX -bench SendText -benchmem ./cmd/wagate
func BenchmarkSendText(b *testing.B) {
	for _, sync := range []string{"true", "false"} {
		b.Run("sync_writes="+sync, func(b *testing.B) { benchSendText(b, sync) })
	}
}

func benchSendText(b *testing.B, sync string) {
	cfg, err := config.Parse([]byte(`
store:
  dir: `+b.TempDir()+`
  sync_writes: `+sync+`
admin:
  api_key: `+adminKey+`
limits:
  default_plan:
    max_sessions: 10
    max_messages_per_day: 0
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`), nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := openGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer g.shutdown(context.Background())
	h := g.api.Handler()
	call := func(method, path, key, body string) *fasthttp.RequestCtx {
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(path)
		req.Header.Set("X-Api-Key", key)
		if body != "" {
			req.Header.SetContentType("application/json")
			req.SetBodyString(body)
		}
		c := &fasthttp.RequestCtx{}
		c.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
		h(c)
		return c
	}
	c := call("POST", "/api/admin/tenants", adminKey, `{"id":"bench"}`)
	var out struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	json.Unmarshal(c.Response.Body(), &out)
	key := out.APIKey.Key
	if c := call("POST", "/api/sessions", key, `{"name":"main"}`); c.Response.StatusCode() != 201 {
		b.Fatalf("session: %s", c.Response.Body())
	}
	if _, err := g.sandbox.Link("bench", "main", "15550000000"); err != nil {
		b.Fatal(err)
	}
	for {
		if c := call("GET", "/api/sessions/main", key, ""); json.Valid(c.Response.Body()) && string(c.Response.Body()) != "" {
			var info struct{ Status string }
			json.Unmarshal(c.Response.Body(), &info)
			if info.Status == "WORKING" {
				break
			}
		}
	}
	body := `{"session":"main","chatId":"15551234567","text":"benchmark message"}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := call("POST", "/api/sendText", key, body); c.Response.StatusCode() != 202 {
			b.Fatalf("sendText: %d %s", c.Response.StatusCode(), c.Response.Body())
		}
	}
}
