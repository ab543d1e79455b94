package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/config"
)

// BenchmarkSendText measures POST /api/sendText through the whole gateway (auth, JSON
// decoding, validation, the daily-limit count, the durable enqueue with its usage write,
// the queued event), calling the HTTP handler in-process so the figure is the gateway's
// own cost, not the network's; with sync_writes true (as shipped) and false. The
// session sends at the default pace (1/s), so the dispatcher stays out of the figure.
//
//	go test -run XXX -bench SendText -benchmem ./cmd/wagate
func BenchmarkSendText(b *testing.B) {
	for _, sync := range []string{"true", "false"} {
		b.Run("sync_writes="+sync, func(b *testing.B) { benchSendText(b, sync) })
	}
}

// BenchmarkSendTextParallel is BenchmarkSendText with 64 concurrent requests, as the
// wrk load test sends them: durable (sync_writes true), so concurrent requests share
// group commits. Its CPU profile is the send path's cost under load.
//
//	go test -run '^$' -bench SendTextParallel -benchmem -cpuprofile cpu.out ./cmd/wagate
func BenchmarkSendTextParallel(b *testing.B) {
	h := newBenchGateway(b, sendTextBenchYAML("true"))
	h.workingSessions(b, "main")
	body := `{"session":"main","chatId":"15551234567","text":"benchmark message"}`
	b.ReportAllocs()
	b.SetParallelism(32) // x GOMAXPROCS(2) = 64 concurrent requests
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c := h.call("POST", "/api/sendText", h.key, body); c.Response.StatusCode() != 202 {
				b.Errorf("sendText: %d %s", c.Response.StatusCode(), c.Response.Body())
				return
			}
		}
	})
}

func sendTextBenchYAML(sync string) string {
	return `
store:
  sync_writes: ` + sync + `
limits:
  default_plan:
    max_sessions: 10
    max_messages_per_day: 0
`
}

func benchSendText(b *testing.B, sync string) {
	h := newBenchGateway(b, sendTextBenchYAML(sync))
	call, key := h.call, h.key
	h.workingSessions(b, "main")
	body := `{"session":"main","chatId":"15551234567","text":"benchmark message"}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := call("POST", "/api/sendText", key, body); c.Response.StatusCode() != 202 {
			b.Fatalf("sendText: %d %s", c.Response.StatusCode(), c.Response.Body())
		}
	}
}

// BenchmarkDispatch50SandboxSessions measures end-to-end dispatch through the real
// gateway: b.N messages are queued over 50 WORKING sandbox sessions (rate limits off,
// zero send latency) through the batch API, then drained by the dispatcher into the
// sandbox provider. It reports messages/s and the process CPU time per message
// (user+system from getrusage, so it counts every goroutine: HTTP, committer,
// dispatcher, provider, events).
//
//	go test -run '^$' -bench Dispatch50Sandbox -benchtime 20000x ./cmd/wagate
func BenchmarkDispatch50SandboxSessions(b *testing.B) {
	h := newBenchGateway(b, `
limits:
  default_plan:
    max_sessions: 50
    max_messages_per_day: 0
queue:
  rate_per_session: 0
server:
  max_body_bytes: 8MiB
`)
	g, call, key := h.g, h.call, h.key
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprint("s", i)
	}
	h.workingSessions(b, names...)
	sentBefore := sentCount(g)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(1000, b.N-i)
		var sb strings.Builder
		sb.WriteString(`{"messages":[`)
		for j := 0; j < n; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"session":"s%d","chatId":"1555%07d","text":"dispatch benchmark"}`, (i+j)%50, (i+j)%1000)
		}
		sb.WriteString(`]}`)
		if c := call("POST", "/api/messages/batch", key, sb.String()); c.Response.StatusCode() != 202 {
			b.Fatalf("batch: %d %s", c.Response.StatusCode(), c.Response.Body())
		}
		i += n
	}
	// Waiting for the dispatcher to drain, bounded by b.N: the queue's in-memory total
	// (one mutex), every millisecond. Polling the registry instead, as before, gathered
	// every collector each time (the process collector's /proc reads, the queue's age
	// seeks): 5 – 25% of the CPU the benchmark charged to each message.
	for {
		if _, waiting := g.queue.Depth("bench", "s0"); waiting == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if sent := sentCount(g) - sentBefore; sent != float64(b.N) {
		b.Fatalf("the queue drained with %.0f of %d messages sent", sent, b.N)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}

// sentCount reads wagate_dispatch_messages_total{outcome="sent"} from the registry.
func sentCount(g *gateway) float64 {
	return counterValue(g, "wagate_dispatch_messages_total", "outcome", "sent")
}

// benchGateway is the real gateway driven in process through its HTTP handler (no
// network), with tenant "bench" created and its key at hand.
type benchGateway struct {
	g   *gateway
	key string
}

// newBenchGateway boots the gateway from extra YAML on top of a temp data dir, the
// admin key and a sandbox with zero latency; it shuts down when the benchmark ends.
func newBenchGateway(b *testing.B, extra string) *benchGateway {
	b.Helper()
	cfg, err := config.Parse([]byte(`
admin:
  api_key: `+adminKey+`
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 0
    read_delay: 0
`+extra), nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Store.Dir = b.TempDir()
	g, err := openGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.shutdown(context.Background()) })
	h := &benchGateway{g: g}
	var out struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	json.Unmarshal(h.call("POST", "/api/admin/tenants", adminKey, `{"id":"bench"}`).Response.Body(), &out)
	h.key = out.APIKey.Key
	return h
}

// call runs one request through the gateway's handler.
func (h *benchGateway) call(method, path, key, body string) *fasthttp.RequestCtx {
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
	h.g.api.Handler()(c)
	return c
}

// workingSessions creates sandbox sessions, links them and waits until all are WORKING.
func (h *benchGateway) workingSessions(b *testing.B, names ...string) {
	b.Helper()
	for _, name := range names {
		if c := h.call("POST", "/api/sessions", h.key, `{"name":"`+name+`"}`); c.Response.StatusCode() != 201 {
			b.Fatalf("session %s: %s", name, c.Response.Body())
		}
		if _, err := h.g.sandbox.Link("bench", name, ""); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []struct{ Status string }
		json.Unmarshal(h.call("GET", "/api/sessions", h.key, "").Response.Body(), &list)
		working := 0
		for _, s := range list {
			if s.Status == "WORKING" {
				working++
			}
		}
		if working == len(names) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d sessions WORKING after 30s", working, len(names))
		}
		time.Sleep(time.Millisecond) // polling with a deadline, before the timer starts
	}
}
