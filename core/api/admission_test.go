package api

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/core/diskguard"
	"github.com/wagate/wagate/core/memguard"
)

// TestAdmissionRefusesNewWorkOnly: while Deps.Admission refuses (the disk or memory
// guard's injected fault), every route that takes new work answers 503 storage_low or
// 429 memory_pressure with Retry-After, before reading its body; reads and session
// management still work; authentication still comes first; once admission clears,
// sends are accepted again.
func TestAdmissionRefusesNewWorkOnly(t *testing.T) {
	var refusal atomic.Pointer[error]
	e := newSendEnv(t, func(o *envOptions) {
		o.server = func(s *Server) {
			s.d.Admission = func() error {
				if p := refusal.Load(); p != nil {
					return *p
				}
				return nil
			}
		}
	})
	key := e.createTenant("acme")
	e.createSession(key, "s1", false)
	send := `{"session":"s1","chatId":"15551234567","text":"hi"}`
	resp, b := e.do("POST", "/api/sendText", key, send)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("admitted send: %d %s", resp.StatusCode, b)
	}
	var queued sendAnswer
	json.Unmarshal(b, &queued)

	refuse := func(err error) { refusal.Store(&err) }
	refuse(&diskguard.LowError{Dir: "/data", Free: 100 << 20, MinFree: 1 << 30, RetryAfter: 30 * time.Second})
	work := []struct{ method, path, body string }{
		{"POST", "/api/sendText", send},
		{"POST", "/api/messages/batch", `{"messages":[` + send + `]}`},
		{"POST", "/api/sendImage", `{"session":"s1","chatId":"15551234567","file":{"url":"https://example.com/a.png"}}`},
		{"PUT", "/api/reaction", `{"session":"s1","messageId":"x","reaction":"👍"}`},
		{"POST", "/api/messages/" + queued.ID + "/retry", ""},
		{"POST", "/api/sendText", "{not json"}, // refused before the body is read
	}
	for _, w := range work {
		resp, b := e.do(w.method, w.path, key, w.body)
		var body errorBody
		json.Unmarshal(b, &body)
		if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != "storage_low" || resp.Header.Get("Retry-After") != "30" {
			t.Errorf("%s %s while low on disk: %d %s (Retry-After %q), want 503 storage_low, 30",
				w.method, w.path, resp.StatusCode, b, resp.Header.Get("Retry-After"))
		}
		if body.Error.Details["min_free_bytes"] != float64(1<<30) {
			t.Errorf("%s %s: details %v lack min_free_bytes", w.method, w.path, body.Error.Details)
		}
	}
	if resp, b := e.do("GET", "/api/messages/"+queued.ID, key, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("reading a message while low on disk: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do("POST", "/api/sessions/s1/stop", key, ""); resp.StatusCode >= 500 {
		t.Errorf("managing a session while low on disk: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("POST", "/api/sendText", "", send); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated send while low on disk: %d, want 401 first", resp.StatusCode)
	}

	refuse(&memguard.PressureError{InUse: 950 << 20, High: 900 << 20, RetryAfter: 3 * time.Second})
	resp, b = e.do("POST", "/api/sendText", key, send)
	var body errorBody
	json.Unmarshal(b, &body)
	if resp.StatusCode != http.StatusTooManyRequests || body.Error.Code != "memory_pressure" || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("send under memory pressure: %d %s (Retry-After %q), want 429 memory_pressure, 3", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}

	refusal.Store(nil) // the fault clears
	if resp, b := e.do("POST", "/api/sendText", key, send); resp.StatusCode != http.StatusAccepted {
		t.Errorf("send after recovery: %d %s", resp.StatusCode, b)
	}
}

// TestTakesWork: the guarded routes are exactly the sending routes that are not GET.
func TestTakesWork(t *testing.T) {
	e := newSendEnv(t)
	want := map[string]bool{
		"POST /api/sendText": true, "POST /api/messages/batch": true, "POST /api/messages/{id}/retry": true,
		"POST /api/sendImage": true, "PUT /api/reaction": true,
		"GET /api/messages/{id}": false, "GET /api/{session}/chats/{chatId}/messages": false,
		"POST /api/sessions": false, "POST /api/sessions/{session}/start": false, "GET /ready": false,
	}
	seen := 0
	for _, rt := range e.srv.table {
		if w, ok := want[rt.method+" "+rt.path]; ok {
			seen++
			if takesWork(rt) != w {
				t.Errorf("takesWork(%s %s) = %v, want %v", rt.method, rt.path, !w, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d routes checked", seen, len(want))
	}
}
