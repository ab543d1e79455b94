package webhook

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/store"
)

// benchContext is what a linked session's events carry (event.Envelope's context
// fields), two metadata keys.
var benchContext = event.Envelope{Me: &event.Me{ID: "15550000001@c.us", PushName: "Ann"}, Engine: "whatsmeow",
	Environment: &event.Environment{Version: "v1.0.0", Engine: "whatsmeow", Tier: event.Tier},
	Metadata:    map[string]string{"user.id": "123", "crm": "acct-9"}}

func withSessionContext(env event.Envelope) event.Envelope {
	env.Me, env.Engine, env.Environment, env.Metadata = benchContext.Me, benchContext.Engine, benchContext.Environment, benchContext.Metadata
	return env
}

// BenchmarkOutboxWrite measures writing events to the outbox (the cost every event
// pays before delivery): one matching endpoint, batches of 256 as the writer makes
// them, sync writes on; the endpoint's worker is stopped so no delivery runs meanwhile.
//
//	go test -run '^$' -bench OutboxWrite -benchmem ./core/webhook
func BenchmarkOutboxWrite(b *testing.B) {
	db, err := store.Open(store.Options{Dir: b.TempDir(), SyncWrites: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := New(Deps{DB: db}, testOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ep, err := s.Create(context.Background(), "acme", Input{URL: "http://127.0.0.1:9/", Events: []string{"*"}, Enabled: true})
	if err != nil {
		b.Fatal(err)
	}
	s.mu.Lock()
	s.stopLocked(s.tenants["acme"][ep.ID])
	s.mu.Unlock()
	batch := make([]event.Envelope, 256)
	for i := range batch {
		batch[i] = withSessionContext(event.New(event.MessageAck, "acme", fmt.Sprint("s", i%8), map[string]any{"id": "msg_01JD", "status": "delivered", "ack": 2, "ackName": "DEVICE", "chatId": "15551234567@c.us"}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		s.write(batch[:min(len(batch), b.N-i)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDeliver64 measures signed deliveries per second from the outbox to a local
// fasthttp receiver answering 200, 64 in flight (unordered endpoint, 64 sessions):
// outbox write, scan, signing, HTTP round trip on loopback, and the delivered record.
//
//	go test -run '^$' -bench Deliver64 -benchmem -benchtime 20000x ./core/webhook
func BenchmarkDeliver64(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { got.Add(1) }}
	go srv.Serve(ln)
	defer srv.Shutdown()

	db, err := store.Open(store.Options{Dir: b.TempDir(), SyncWrites: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	o := testOptions()
	o.MaxConcurrent, o.MaxInFlightPerEndpoint = 64, 64
	s, err := New(Deps{DB: db}, o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(context.Background(), "acme", Input{URL: "http://" + ln.Addr().String() + "/hook", Events: []string{"*"}, Enabled: true, Unordered: true}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.Tap(withSessionContext(event.New(event.MessageAck, "acme", fmt.Sprint("s", i%64), map[string]any{"id": i, "status": "delivered", "ack": 2, "ackName": "DEVICE"})))
	}
	deadline := time.Now().Add(5 * time.Minute)
	for got.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d delivered after 5 minutes", got.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
