package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/event"
)

// streamCase publishes events that the filter ?session=s1&events=message.* must drop
// (other session, other event, other tenant) around the ones it must deliver, and ends
// with a sentinel: everything published before the sentinel has been delivered by then.
func publishFilterCase(bus *event.Bus) (want []event.Envelope) {
	publish(bus, "acme", "s2", event.Message, 1)       // other session
	publish(bus, "acme", "s1", event.SessionStatus, 2) // other event
	publish(bus, "other", "s1", event.Message, 3)      // other tenant
	want = append(want, publish(bus, "acme", "s1", event.Message, 4))
	publish(bus, "other", "s1", event.MessageAck, 5)
	want = append(want, publish(bus, "acme", "s1", event.MessageAck, 6))
	publish(bus, "acme", "", event.Message, 7)                        // tenant-wide, not of s1
	want = append(want, publish(bus, "acme", "s1", event.Message, 8)) // sentinel
	return want
}

func TestSSEDeliversOnlyTheTenantsFilteredEvents(t *testing.T) {
	e := newEnv(t)
	key := e.createTenant("acme")
	e.createTenant("other")
	s := e.openSSE("?session=s1&events=message.*", key)
	want := publishFilterCase(e.bus)
	for i, w := range want {
		f := s.nextEvent(t)
		if f.id != w.ID || f.event != w.Event {
			t.Fatalf("event %d = id %s event %s, want %s %s", i, f.id, f.event, w.ID, w.Event)
		}
		var got event.Envelope
		if err := json.Unmarshal([]byte(f.data), &got); err != nil {
			t.Fatalf("data %q: %v", f.data, err)
		}
		if got.ID != w.ID || got.Tenant != "acme" || got.Session != "s1" || string(got.Payload) != string(w.Payload) || got.Timestamp != w.Timestamp {
			t.Errorf("envelope = %+v, want %+v", got, w)
		}
	}
}

func TestSSEFilterForms(t *testing.T) {
	e := newEnv(t)
	key := e.createTenant("acme")
	// Repeated and comma-separated sessions; several event names.
	s := e.openSSE("?session=a&session=b,c&events=session.status,message", key)
	publish(e.bus, "acme", "d", event.Message, 1)
	publish(e.bus, "acme", "a", event.MessageAck, 2)
	w1 := publish(e.bus, "acme", "b", event.Message, 3)
	w2 := publish(e.bus, "acme", "c", event.SessionStatus, 4)
	w3 := publish(e.bus, "acme", "a", event.Message, 5)
	for _, w := range []event.Envelope{w1, w2, w3} {
		if f := s.nextEvent(t); f.id != w.ID {
			t.Fatalf("got %s %s, want %s %s", f.id, f.event, w.ID, w.Event)
		}
	}
	// Bad filters are refused before the stream opens.
	for _, q := range []string{"?events=Message", "?events=message.", "?events=a*", "?session=" + strings.Repeat("s,", 101)} {
		resp, b := e.do("GET", "/api/events"+q, key, "")
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, b)
		}
	}
}

func dialWS(t *testing.T, e *testEnv, query, key string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	h.Set("X-Api-Key", key)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+e.addr+"/ws"+query, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial /ws%s: %v (status %d)", query, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readWS(t *testing.T, c *websocket.Conn) (json.RawMessage, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, b, err := c.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", typ)
	}
	return b, nil
}

func TestWSDeliversOnlyTheTenantsFilteredEvents(t *testing.T) {
	e := newEnv(t)
	key := e.createTenant("acme")
	e.createTenant("other")
	c := dialWS(t, e, "?session=s1&events=message.*", key)
	// The subscription exists before the upgrade completes.
	want := publishFilterCase(e.bus)
	for i, w := range want {
		b, err := readWS(t, c)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var got event.Envelope
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != w.ID || got.Tenant != "acme" || got.Event != w.Event {
			t.Fatalf("event %d = %+v, want %+v", i, got, w)
		}
	}
}

func TestWSRefusals(t *testing.T) {
	e := newEnv(t)
	key := e.createTenant("acme")
	// A plain GET is told to upgrade.
	resp, b := e.do("GET", "/ws", key, "")
	if resp.StatusCode != http.StatusUpgradeRequired || errorOf(t, b).Code != "upgrade_required" {
		t.Errorf("plain GET /ws: %d %s", resp.StatusCode, b)
	}
	// Without a key the handshake fails with our 401.
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+e.addr+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("dial without key: err %v, resp %v", err, resp)
	}
	// The key may come as a query parameter (browsers cannot set headers).
	c, _, err := websocket.DefaultDialer.Dial("ws://"+e.addr+"/ws?x-api-key="+key, nil)
	if err != nil {
		t.Fatalf("dial with ?x-api-key: %v", err)
	}
	c.Close()
}

func TestTooManySubscribers(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.bus.MaxSubscribers = 1 })
	key := e.createTenant("acme")
	e.openSSE("", key)
	resp, b := e.do("GET", "/api/events", key, "")
	if resp.StatusCode != 503 || errorOf(t, b).Code != "too_many_subscribers" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second SSE: %d %s (Retry-After %q)", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	h := http.Header{"X-Api-Key": {key}}
	_, resp2, err := websocket.DefaultDialer.Dial("ws://"+e.addr+"/ws", h)
	if err == nil || resp2 == nil || resp2.StatusCode != 503 {
		t.Errorf("WS over the limit: err %v resp %v", err, resp2)
	}
}

// holdWriter installs a stream hook that blocks the first send until released, so a
// test can overflow the subscriber's buffer deterministically.
type holdWriter struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newHoldWriter() *holdWriter {
	return &holdWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdWriter) hook() {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
}

func (h *holdWriter) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("stream writer never took the first event")
	}
}

// overflow publishes enough events, while the writer is held, for the bus to drop a
// subscriber with a buffer of 2: the first is in the writer's hands, two fill the
// buffer, the fourth overflows it.
func overflow(t *testing.T, e *testEnv, h *holdWriter) []event.Envelope {
	first := publish(e.bus, "acme", "s1", event.Message, 1)
	h.waitEntered(t)
	delivered := []event.Envelope{first,
		publish(e.bus, "acme", "s1", event.Message, 2),
		publish(e.bus, "acme", "s1", event.Message, 3)}
	publish(e.bus, "acme", "s1", event.Message, 4) // dropped: the subscriber is
	waitFor(t, "the slow subscriber to be dropped", func() bool { return e.bus.Subscribers() == 0 })
	close(h.release)
	return delivered
}

func slowEnv(t *testing.T, h *holdWriter) *testEnv {
	return newEnv(t, func(o *envOptions) {
		o.bus.Buffer = 2
		o.server = func(s *Server) { s.beforeStreamSend = h.hook }
	})
}

func TestSSESlowSubscriberGetsFinalErrorEvent(t *testing.T) {
	h := newHoldWriter()
	e := slowEnv(t, h)
	key := e.createTenant("acme")
	s := e.openSSE("", key)
	delivered := overflow(t, e, h)
	rest := s.waitEnd(t)
	if len(rest) != len(delivered)+1 {
		t.Fatalf("frames = %+v, want %d events then an error", rest, len(delivered))
	}
	for i, w := range delivered {
		if rest[i].id != w.ID {
			t.Errorf("frame %d = %+v, want %s", i, rest[i], w.ID)
		}
	}
	last := rest[len(rest)-1]
	if last.event != "error" {
		t.Fatalf("last frame = %+v, want event: error", last)
	}
	if ed := errorOf(t, []byte(last.data)); ed.Code != "slow_subscriber" {
		t.Errorf("final error code = %q", ed.Code)
	}
}

func TestWSSlowSubscriberGetsFinalErrorAndClose1008(t *testing.T) {
	h := newHoldWriter()
	e := slowEnv(t, h)
	key := e.createTenant("acme")
	c := dialWS(t, e, "", key)
	delivered := overflow(t, e, h)
	for i, w := range delivered {
		b, err := readWS(t, c)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var env event.Envelope
		if json.Unmarshal(b, &env); env.ID != w.ID {
			t.Errorf("frame %d = %s, want %s", i, b, w.ID)
		}
	}
	b, err := readWS(t, c)
	if err != nil {
		t.Fatalf("final error frame: %v", err)
	}
	if ed := errorOf(t, b); ed.Code != "slow_subscriber" {
		t.Errorf("final frame = %s", b)
	}
	_, err = readWS(t, c)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Errorf("after the error frame: %v, want close 1008", err)
	}
}

func TestClientDisconnectReleasesSubscription(t *testing.T) {
	e := newEnv(t, func(o *envOptions) {
		o.server = func(s *Server) { s.keepAlive = 10 * time.Millisecond }
	})
	key := e.createTenant("acme")

	s := e.openSSE("", key)
	waitFor(t, "the SSE subscription", func() bool { return e.bus.Subscribers() == 1 })
	s.resp.Body.Close()
	waitFor(t, "the SSE subscription to be released", func() bool { return e.bus.Subscribers() == 0 })

	c := dialWS(t, e, "", key)
	waitFor(t, "the WS subscription", func() bool { return e.bus.Subscribers() == 1 })
	c.Close()
	waitFor(t, "the WS subscription to be released", func() bool { return e.bus.Subscribers() == 0 })
}

// TestStreamsOutliveWriteTimeout: the write timeout bounds each write of a stream, not
// the stream.
func TestStreamsOutliveWriteTimeout(t *testing.T) {
	const wt = 100 * time.Millisecond
	e := newEnv(t, func(o *envOptions) {
		o.cfg.WriteTimeout = config.Duration(wt)
		o.server = func(s *Server) { s.keepAlive = 10 * time.Millisecond }
	})
	key := e.createTenant("acme")
	s := e.openSSE("", key)
	c := dialWS(t, e, "", key)
	start := time.Now()
	for time.Since(start) < 4*wt { // keep-alives keep coming past the write timeout
		if f := s.next(t); f.comment != "keep-alive" {
			t.Fatalf("unexpected frame %+v", f)
		}
	}
	w := publish(e.bus, "acme", "s1", event.Message, 1)
	if f := s.nextEvent(t); f.id != w.ID {
		t.Errorf("SSE after the write timeout: %+v", f)
	}
	b, err := readWS(t, c)
	if err != nil || !strings.Contains(string(b), w.ID) {
		t.Errorf("WS after the write timeout: %s %v", b, err)
	}
}

func TestShutdownEndsStreamsPromptly(t *testing.T) {
	e := newEnv(t)
	key := e.createTenant("acme")
	s := e.openSSE("", key)
	c := dialWS(t, e, "", key)
	waitFor(t, "both subscriptions", func() bool { return e.bus.Subscribers() == 2 })

	const deadline = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > deadline/4 {
		t.Errorf("Shutdown took %v with open streams; want well under %v", took, deadline)
	}
	s.waitEnd(t)
	_, err := readWS(t, c)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("WS after shutdown: %v, want close 1001", err)
	}
	if n := e.bus.Subscribers(); n != 0 {
		t.Errorf("%d subscriptions left after Shutdown", n)
	}
	// New streams are refused: the listener is closed.
	if _, err := http.Get(e.base + "/health"); err == nil {
		t.Error("server still accepts connections after Shutdown")
	}
}

// TestShutdownClosesStalledStreams: a client that stopped reading leaves its stream
// stuck in a write; Shutdown closes its connection after the grace period instead of
// waiting out the write timeout (a minute here, past the Shutdown deadline).
func TestShutdownClosesStalledStreams(t *testing.T) {
	e := newEnv(t, func(o *envOptions) {
		o.cfg.WriteTimeout = config.Duration(time.Minute)
		o.bus.Buffer = 4096
	})
	key := e.createTenant("acme")
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Ask for the stream, then never read a byte.
	fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: test\r\nX-Api-Key: %s\r\n\r\n", key)
	waitFor(t, "the subscription", func() bool { return e.bus.Subscribers() == 1 })
	// 32 MiB of events: far more than the socket buffers hold, so the stream's writer
	// ends up blocked on a client that does not read.
	big := strings.Repeat("x", 16<<10)
	for range 2048 {
		e.bus.Publish(event.New(event.Message, "acme", "s1", map[string]string{"text": big}))
	}
	if e.bus.Subscribers() != 1 {
		t.Fatal("the subscriber was dropped; the test needs it stuck instead")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v with a stalled stream; want about the 1s grace", took)
	}
	waitFor(t, "the stalled subscription to be released", func() bool { return e.bus.Subscribers() == 0 })
}
