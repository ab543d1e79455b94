package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/wagate/wagate/sdk/client"
)

// TestStreamEnds: the stream parsers against scripted servers: comments and keep-alives
// skipped, data split over lines joined, the gateway's final error event an *APIError
// with its code, a clean end ErrStreamEnded; the same over WebSocket.
func TestStreamEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "k" || r.URL.Query().Get("session") != "a,b" || r.URL.Query().Get("events") != "message.*" {
			http.Error(w, `{"error":{"code":"bad_test_request","message":"`+r.URL.RawQuery+`"}}`, 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": connected\n\n")
		fmt.Fprint(w, "id: evt_1\nevent: message\ndata: {\"id\":\"evt_1\",\"event\":\"message\",\ndata: \"session\":\"a\",\"payload\":{\"body\":\"hi\"}}\n\n")
		fmt.Fprint(w, ": keep-alive\n\n")
		if r.URL.Query().Get("end") == "slow" {
			fmt.Fprint(w, "event: error\ndata: {\"error\":{\"code\":\"slow_subscriber\",\"message\":\"dropped\"}}\n\n")
		}
	}))
	defer sse.Close()
	// One server per ending, in front of the scripted one.
	for _, end := range []string{"", "slow"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			q.Set("end", end)
			r.URL.RawQuery = q.Encode()
			sse.Config.Handler.ServeHTTP(w, r)
		}))
		s, err := client.Subscribe(ctx, nil, srv.URL, "k", client.EventFilter{Sessions: []string{"a", "b"}, Events: []string{"message.*"}})
		if err != nil {
			t.Fatal(err)
		}
		env, err := s.Next()
		if err != nil || env.Id != "evt_1" || env.Session != "a" || env.Payload.(map[string]any)["body"] != "hi" {
			t.Errorf("end %q: first event %+v %v", end, env, err)
		}
		_, err = s.Next()
		var apiErr *client.APIError
		switch end {
		case "":
			if !errors.Is(err, client.ErrStreamEnded) {
				t.Errorf("clean end: %v", err)
			}
		case "slow":
			if !errors.As(err, &apiErr) || apiErr.Code != "slow_subscriber" || apiErr.Status != 503 {
				t.Errorf("slow subscriber end: %v", err)
			}
		}
		s.Close()
		srv.Close()
	}
	if _, err := client.Subscribe(ctx, nil, sse.URL, "wrong", client.EventFilter{}); err == nil {
		t.Error("refused subscription returned a stream")
	} else if e := new(client.APIError); !errors.As(err, &e) || e.Code != "bad_test_request" || e.Status != 400 {
		t.Errorf("refused subscription: %v", err)
	}

	up := websocket.Upgrader{}
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte(`{"id":"evt_2","event":"session.status","session":"a","payload":{"status":"WORKING"}}`))
		c.WriteMessage(websocket.TextMessage, []byte(`{"error":{"code":"unauthorized","message":"revoked"}}`))
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, ""))
	}))
	defer ws.Close()
	s, err := client.SubscribeWebSocket(ctx, ws.URL, "k", client.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if env, err := s.Next(); err != nil || env.Id != "evt_2" || env.Event != "session.status" {
		t.Errorf("WebSocket event: %+v %v", env, err)
	}
	var apiErr *client.APIError
	if _, err := s.Next(); !errors.As(err, &apiErr) || apiErr.Code != "unauthorized" || apiErr.Status != 401 {
		t.Errorf("WebSocket revoked end: %v", err)
	}
}
