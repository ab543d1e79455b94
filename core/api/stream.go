package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/event"
)

// Event streams: GET /api/events (Server-Sent Events) and GET /ws (WebSocket). Both
// carry event.Envelope as JSON, filtered by the key's tenant and the query parameters
// session and events. Lifecycle of one stream:
//
//  1. parse the filter (400) and subscribe (503 too_many_subscribers) while a normal
//     error response can still be sent;
//  2. register the stream (refused once Shutdown started) and detach the request
//     context, which the stream now owns;
//  3. pump: events as they come, a keep-alive every keepAlive; every write has its own
//     deadline of server.write_timeout, so a client that stops reading is cut off
//     after that, while a healthy stream lives as long as it likes;
//  4. end on client disconnect (write error; for WebSocket also the read loop), on
//     ErrSlowSubscriber (a final error event, WebSocket close 1008), on bus close, or
//     on Shutdown (WebSocket close 1001); then unsubscribe and unregister.

// Query limits of a stream filter.
const (
	maxFilterSessions = 100
	maxFilterEvents   = 50
)

var eventPattern = regexp.MustCompile(`^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$`)

// slowSubscriberError is the final event of a dropped subscriber, SSE and WebSocket.
var slowSubscriberError = errorBody{Error: errorDetail{
	Code:    "slow_subscriber",
	Message: "this subscriber did not keep up with its events and was dropped; events were lost: reconnect and resync",
}}

// finalEvent is the last message of a stream that the bus ended for a reason the client
// must know (slow subscriber, revoked key), with that reason; nil for the others.
func finalEvent(err error) ([]byte, string) {
	var body errorBody
	var reason string
	switch {
	case errors.Is(err, event.ErrSlowSubscriber):
		body, reason = slowSubscriberError, "slow subscriber"
	case errors.Is(err, event.ErrRevoked):
		body, reason = revokedError, "key revoked"
	default:
		return nil, ""
	}
	b, _ := json.Marshal(body)
	return b, reason
}

// revokedError is the final event of a stream whose key was revoked or whose tenant was
// deleted.
var revokedError = errorBody{Error: errorDetail{
	Code:    "unauthorized",
	Message: "the API key of this stream was revoked or its tenant deleted",
}}

func (s *Server) eventRoutes() []route {
	query := []string{
		"session: Only events of these sessions; repeat the parameter or comma-separate names.",
		"events: Only these event names, comma-separated; `message.*` matches `message` and `message.ack`, `*` all.",
		"x-api-key: The API key, for clients that cannot set headers (browser EventSource and WebSocket). Prefer the X-Api-Key header.",
	}
	return []route{
		{
			method: http.MethodGet, path: "/api/events", auth: authTenant, stream: true,
			handle: s.serveSSE,
			doc: routeDoc{tag: "events", summary: "Live events as Server-Sent Events",
				description: "Each event is `id: <envelope id>`, `event: <name>`, `data: <envelope JSON>`. " +
					"A `: connected` comment opens the stream and `: keep-alive` comments follow every 15s. " +
					"A subscriber that falls behind gets `event: error` with code `slow_subscriber` and the stream ends.",
				response: event.Envelope{}, contentType: "text/event-stream", query: query},
		},
		{
			method: http.MethodGet, path: "/ws", auth: authTenant, stream: true,
			handle: s.serveWS,
			doc: routeDoc{tag: "events", summary: "Live events over WebSocket, one JSON text frame per envelope",
				description: "A subscriber that falls behind gets a final text frame `{\"error\":{\"code\":\"slow_subscriber\",...}}` " +
					"and a close frame 1008. Shutdown sends close 1001. Messages from the client are ignored.",
				response: event.Envelope{}, status: http.StatusSwitchingProtocols, query: query},
		},
	}
}

// streamFilter builds the bus filter of a stream: always the key's tenant, plus the
// session and events query parameters.
func streamFilter(c *fasthttp.RequestCtx, r *request) (event.Filter, error) {
	f := event.Filter{Tenant: r.tenant(), KeyID: r.principal.KeyID, Sessions: queryList(c, "session"), Events: queryList(c, "events")}
	if len(f.Sessions) > maxFilterSessions {
		return f, badRequest("too_many_filters", fmt.Sprintf("at most %d sessions per stream", maxFilterSessions),
			d("param", "session", "max", maxFilterSessions))
	}
	if len(f.Events) > maxFilterEvents {
		return f, badRequest("too_many_filters", fmt.Sprintf("at most %d event patterns per stream", maxFilterEvents),
			d("param", "events", "max", maxFilterEvents))
	}
	for _, p := range f.Events {
		if len(p) > 64 || !eventPattern.MatchString(p) {
			return f, badRequest("invalid_event_filter",
				fmt.Sprintf("%q is not an event name or pattern (like message, message.ack, message.* or *)", p),
				d("param", "events", "value", p))
		}
	}
	return f, nil
}

// liveStream is an open SSE or WebSocket stream, known to Shutdown.
type liveStream struct {
	conn net.Conn // may be nil (in-memory handler tests)
}

// openStream registers a stream, or refuses once Shutdown has started. Every
// successful call is matched by exactly one closeStream.
func (s *Server) openStream(conn net.Conn) (*liveStream, error) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.closing {
		return nil, unavailable("shutting_down", "the gateway is shutting down", 5*time.Second)
	}
	ls := &liveStream{conn: conn}
	s.streams[ls] = struct{}{}
	s.streamsWG.Add(1)
	return ls, nil
}

func (s *Server) closeStream(ls *liveStream) {
	s.streamsMu.Lock()
	delete(s.streams, ls)
	s.streamsMu.Unlock()
	s.streamsWG.Done()
}

// closeStreamConns closes the connections of the streams still open: Shutdown's last
// resort for streams stuck writing to clients that stopped reading.
func (s *Server) closeStreamConns() {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	for ls := range s.streams {
		if ls.conn != nil {
			_ = ls.conn.Close()
		}
	}
}

// streamWriteDeadline is the deadline of one stream write.
func (s *Server) streamWriteDeadline() time.Time {
	if wt := s.cfg.WriteTimeout.D(); wt > 0 {
		return time.Now().Add(wt)
	}
	return time.Time{}
}

// streamEnd logs why a stream ended.
func streamEnd(log *slog.Logger, transport, reason string, start time.Time) {
	log.Info("event stream ended", "transport", transport, "reason", reason, "duration", time.Since(start))
}

// recoverStream logs a panic in a stream goroutine, which no middleware covers.
func (s *Server) recoverStream(r *request) {
	if p := recover(); p != nil {
		r.log.Error("panic in event stream", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	}
}

// subscribe opens the bus subscription of a stream request (its tenant, session and
// event filters) and registers the stream for Shutdown.
func (s *Server) subscribe(c *fasthttp.RequestCtx, r *request) (*event.Subscription, *liveStream, error) {
	f, err := streamFilter(c, r)
	if err != nil {
		return nil, nil, err
	}
	sub, err := s.d.Bus.Subscribe(f)
	if err != nil {
		return nil, nil, err
	}
	ls, err := s.openStream(c.Conn())
	if err != nil {
		sub.Close()
		return nil, nil, err
	}
	return sub, ls, nil
}

// --- Server-Sent Events ---

func (s *Server) serveSSE(c *fasthttp.RequestCtx, r *request) error {
	sub, ls, err := s.subscribe(c, r)
	if err != nil {
		return err
	}
	conn := c.Conn()
	ctx, cancel := r.detach()

	// Exempt the stream from fasthttp's WriteTimeout, which would cut the whole
	// response: a deadline set by the handler (none) takes its place, and every write
	// below sets its own.
	_ = c.SetWriteDeadline(time.Time{})
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("text/event-stream; charset=utf-8")
	c.Response.Header.Set("Cache-Control", "no-cache")
	c.Response.Header.Set("X-Accel-Buffering", "no")
	c.Response.ImmediateHeaderFlush = true

	start := time.Now()
	c.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.closeStream(ls)
		defer cancel()
		defer sub.Close()
		defer s.recoverStream(r)
		reason := s.pumpSSE(ctx, w, conn, sub)
		streamEnd(r.log, "sse", reason, start)
	})
	return nil
}

// pumpSSE writes the stream until it ends and returns why.
func (s *Server) pumpSSE(ctx context.Context, w *bufio.Writer, conn net.Conn, sub *event.Subscription) string {
	write := func(parts ...[]byte) error {
		if conn != nil {
			_ = conn.SetWriteDeadline(s.streamWriteDeadline())
		}
		for _, p := range parts {
			if _, err := w.Write(p); err != nil {
				return err
			}
		}
		return w.Flush()
	}
	if write([]byte(": connected\n\n")) != nil {
		return "client gone"
	}
	keepAlive := time.NewTicker(s.keepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return "shutdown"
		case <-keepAlive.C:
			if write([]byte(": keep-alive\n\n")) != nil {
				return "client gone"
			}
		case env, ok := <-sub.C():
			if !ok {
				if b, reason := finalEvent(sub.Err()); b != nil {
					_ = write([]byte("event: error\ndata: "), b, []byte("\n\n"))
					return reason
				}
				switch err := sub.Err(); {
				case errors.Is(err, event.ErrBusClosed):
					return "bus closed"
				default:
					return "unsubscribed"
				}
			}
			if s.beforeStreamSend != nil {
				s.beforeStreamSend()
			}
			b, err := json.Marshal(env)
			if err != nil {
				continue // a payload that is not JSON: nothing sensible to send
			}
			if write([]byte("id: "+env.ID+"\nevent: "+env.Event+"\ndata: "), b, []byte("\n\n")) != nil {
				return "client gone"
			}
		}
	}
}

// --- WebSocket ---

// Close codes of the WebSocket stream.
const (
	wsCloseNormal          = websocket.CloseNormalClosure   // 1000: subscription ended
	wsCloseGoingAway       = websocket.CloseGoingAway       // 1001: gateway shutting down
	wsClosePolicyViolation = websocket.ClosePolicyViolation // 1008: slow subscriber
)

// wsUpgrader upgrades GET /ws.
var wsUpgrader = websocket.FastHTTPUpgrader{
	// Auth is by API key, not cookies, so a cross-origin page gains nothing it
	// could not do with the key itself: any origin may connect.
	CheckOrigin: func(*fasthttp.RequestCtx) bool { return true },
	Error: func(c *fasthttp.RequestCtx, status int, reason error) {
		r := requestOf(c)
		writeErrorBody(c, r.id, newError(status, "websocket_handshake_failed", reason.Error()))
	},
}

func (s *Server) serveWS(c *fasthttp.RequestCtx, r *request) error {
	if !websocket.FastHTTPIsWebSocketUpgrade(c) {
		c.Response.Header.Set("Upgrade", "websocket")
		return newError(http.StatusUpgradeRequired, "upgrade_required",
			"this route is a WebSocket: send Connection: Upgrade and Upgrade: websocket; GET /api/events is the SSE equivalent")
	}
	sub, ls, err := s.subscribe(c, r)
	if err != nil {
		return err
	}
	conn := c.Conn()
	ctx, cancel := r.detach()
	cleanup := func() {
		sub.Close()
		cancel()
		s.closeStream(ls)
	}
	// Until fasthttp runs the hijack handler, the stream is pending: if the 101
	// response cannot be written, the handler never runs and connState cleans up.
	s.addPending(conn, cleanup)
	start := time.Now()
	err = wsUpgrader.Upgrade(c, func(ws *websocket.Conn) {
		if !s.takePending(conn) {
			return
		}
		defer cleanup()
		defer s.recoverStream(r)
		reason := s.pumpWS(ctx, ws, sub)
		streamEnd(r.log, "websocket", reason, start)
	})
	if err != nil {
		// The upgrader's Error hook has written the response.
		if s.takePending(conn) {
			cleanup()
		}
	}
	return nil
}

func (s *Server) addPending(conn net.Conn, cleanup func()) {
	if conn == nil {
		return
	}
	s.streamsMu.Lock()
	s.pending[conn] = cleanup
	s.streamsMu.Unlock()
}

// takePending removes conn's pending entry and reports whether it was there (the
// caller now owns the cleanup). A nil conn is never pending and always "taken".
func (s *Server) takePending(conn net.Conn) bool {
	if conn == nil {
		return true
	}
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	_, ok := s.pending[conn]
	delete(s.pending, conn)
	return ok
}

// connState is fasthttp's ConnState hook: a connection that closes while its
// WebSocket upgrade is pending releases the stream.
func (s *Server) connState(conn net.Conn, st fasthttp.ConnState) {
	if st != fasthttp.StateClosed {
		return
	}
	s.streamsMu.Lock()
	cleanup, ok := s.pending[conn]
	delete(s.pending, conn)
	s.streamsMu.Unlock()
	if ok {
		cleanup()
	}
}

// pumpWS writes the stream until it ends and returns why.
func (s *Server) pumpWS(ctx context.Context, ws *websocket.Conn, sub *event.Subscription) string {
	// The read loop only notices the client going away (close frame, EOF); messages
	// from the client are discarded, large ones refused by the read limit.
	ws.SetReadLimit(4096)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}()
	// The read loop must be gone before the hijack handler returns: fasthttp then
	// recycles the connection object it reads from. Closing it is a no-op for a
	// hijacked connection, so a read deadline in the past unblocks the read.
	defer func() {
		_ = ws.NetConn().SetReadDeadline(time.Now())
		<-readDone
	}()
	// closeWith sends a close frame. Unless the gateway is stopping, it gives the client
	// a moment to answer it, as the protocol asks.
	closeWith := func(code int, text string) {
		msg := websocket.FormatCloseMessage(code, text)
		if ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)) != nil || code == wsCloseGoingAway {
			return
		}
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-readDone:
		case <-t.C:
		}
	}
	ping := time.NewTicker(s.keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			closeWith(wsCloseGoingAway, "gateway shutting down")
			return "shutdown"
		case <-readDone:
			return "client gone"
		case <-ping.C:
			if ws.WriteControl(websocket.PingMessage, nil, s.streamWriteDeadline()) != nil {
				return "client gone"
			}
		case env, ok := <-sub.C():
			if !ok {
				if b, reason := finalEvent(sub.Err()); b != nil {
					_ = ws.SetWriteDeadline(s.streamWriteDeadline())
					if ws.WriteMessage(websocket.TextMessage, b) == nil {
						closeWith(wsClosePolicyViolation, reason)
					}
					return reason
				}
				switch err := sub.Err(); {
				case errors.Is(err, event.ErrBusClosed):
					closeWith(wsCloseGoingAway, "gateway shutting down")
					return "bus closed"
				default:
					closeWith(wsCloseNormal, "")
					return "unsubscribed"
				}
			}
			if s.beforeStreamSend != nil {
				s.beforeStreamSend()
			}
			b, err := json.Marshal(env)
			if err != nil {
				continue
			}
			_ = ws.SetWriteDeadline(s.streamWriteDeadline())
			if ws.WriteMessage(websocket.TextMessage, b) != nil {
				return "client gone"
			}
		}
	}
}
