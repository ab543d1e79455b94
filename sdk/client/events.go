package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/fasthttp/websocket"
)

// Live events: GET /api/events (Server-Sent Events) and GET /ws (WebSocket) carry the
// same envelope as webhooks, {id, timestamp, event, session, tenant, payload}, for the
// tenant of the key. Subscribe and SubscribeWebSocket open a stream; Next reads it.

// EventFilter narrows a stream. The zero value is every event of every session.
type EventFilter struct {
	// Sessions keeps the events of these sessions only.
	Sessions []string
	// Events keeps these event names only; "message.*" matches message and
	// message.ack, "*" everything.
	Events []string
}

func (f EventFilter) query() url.Values {
	q := url.Values{}
	if len(f.Sessions) > 0 {
		q.Set("session", strings.Join(f.Sessions, ","))
	}
	if len(f.Events) > 0 {
		q.Set("events", strings.Join(f.Events, ","))
	}
	return q
}

// ErrStreamEnded is returned by Next once the gateway closed the stream normally (for
// example on shutdown): reconnect to go on.
var ErrStreamEnded = errors.New("wagate: event stream ended")

// EventStream is an open event stream. Next is not safe for concurrent use; Close may be
// called from any goroutine, and makes a blocked Next return.
type EventStream struct {
	next  func() (Envelope, error)
	close func() error
	once  sync.Once
	err   error
}

// Next blocks for the next event. It returns ErrStreamEnded when the gateway ended the
// stream, an *APIError when it ended it for a reason (slow_subscriber, status 503: events
// were lost, resync; unauthorized, 401: the key was revoked), or the read error after
// Close or a lost connection.
func (s *EventStream) Next() (Envelope, error) { return s.next() }

// Close ends the stream.
func (s *EventStream) Close() error {
	s.once.Do(func() { s.err = s.close() })
	return s.err
}

// Subscribe opens a Server-Sent Events stream of the gateway at baseURL with apiKey.
// httpClient may be nil (http.DefaultClient); it must not have a Timeout, which would
// cut the stream: cancel ctx or call Close instead. The stream is open when Subscribe
// returns: no event published after that is missed.
func Subscribe(ctx context.Context, httpClient *http.Client, baseURL, apiKey string, f EventFilter) (*EventStream, error) {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	u := strings.TrimRight(baseURL, "/") + "/api/events"
	if q := f.query().Encode(); q != "" {
		u += "?" + q
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("X-Api-Key", apiKey)
	req.Header.Set("Accept", "text/event-stream")
	res, err := httpClient.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		defer cancel()
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return nil, checkBody(res.StatusCode, body)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	next := func() (Envelope, error) {
		var name string
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data.Len() == 0 {
					name = ""
					continue
				}
				return decodeEvent(name, []byte(data.String()))
			case strings.HasPrefix(line, ":"):
				// comment: connected, keep-alive
			default:
				field, value, _ := strings.Cut(line, ":")
				value = strings.TrimPrefix(value, " ")
				switch field {
				case "event":
					name = value
				case "data":
					if data.Len() > 0 {
						data.WriteByte('\n')
					}
					data.WriteString(value)
				}
			}
		}
		if err := sc.Err(); err != nil {
			return Envelope{}, err
		}
		return Envelope{}, ErrStreamEnded
	}
	return &EventStream{next: next, close: func() error { cancel(); return res.Body.Close() }}, nil
}

// decodeEvent decodes one SSE event: an envelope, or for "event: error" the reason the
// gateway ended the stream.
func decodeEvent(name string, data []byte) (Envelope, error) {
	if name == "error" {
		return Envelope{}, streamEnd(data)
	}
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Envelope{}, fmt.Errorf("wagate: decoding event: %w", err)
	}
	return env, nil
}

// streamEnd is the *APIError of the gateway's last message on a stream it ended: the
// stream had no HTTP status of its own then, so Status is 401 for unauthorized (key
// revoked) and 503 for the others (slow_subscriber).
func streamEnd(data []byte) error {
	err := checkBody(http.StatusServiceUnavailable, data)
	var e *APIError
	if errors.As(err, &e) && e.Code == "unauthorized" {
		e.Status = http.StatusUnauthorized
	}
	return err
}

// SubscribeWebSocket opens a WebSocket stream (GET /ws) of the gateway at baseURL
// (http:// or https://; the scheme becomes ws:// or wss://) with apiKey. The stream is
// open when it returns.
func SubscribeWebSocket(ctx context.Context, baseURL, apiKey string, f EventFilter) (*EventStream, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/") + "/ws")
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.RawQuery = f.query().Encode()
	h := http.Header{}
	h.Set("X-Api-Key", apiKey)
	conn, res, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
			defer res.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
			return nil, checkBody(res.StatusCode, body)
		}
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	next := func() (Envelope, error) {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				return Envelope{}, ErrStreamEnded
			}
			return Envelope{}, err
		}
		var probe struct {
			Error json.RawMessage `json:"error"`
		}
		if json.Unmarshal(data, &probe) == nil && probe.Error != nil {
			return Envelope{}, streamEnd(data)
		}
		var env Envelope
		if err := json.Unmarshal(data, &env); err != nil {
			return Envelope{}, fmt.Errorf("wagate: decoding event: %w", err)
		}
		return env, nil
	}
	return &EventStream{next: next, close: func() error {
		stop()
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadlineSoon())
		return conn.Close()
	}}, nil
}
