package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestBatchRetryChatListingAndStickyRoute(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	for _, s := range []string{"a", "b"} {
		tg.do("POST", "/api/sessions", key, map[string]any{"name": s})
		tg.do("POST", "/api/sandbox/"+s+"/link", key, map[string]any{})
		waitWorking(t, tg, key, s)
	}

	// A batch with good and bad items: bad ones refused in their result, the rest queued.
	items := []map[string]any{
		{"session": "a", "chatId": "15551110000", "text": "one", "idempotencyKey": "k1"},
		{"session": "a", "chatId": "nope", "text": "bad chat"},
		{"session": "zzz", "chatId": "15551110000", "text": "unknown session"},
		{"session": "a", "chatId": "15551110000", "text": ""},
		{"session": "a", "chatId": "15551110000@c.us", "text": "one", "idempotencyKey": "k1"}, // the same message again
		{"chatId": "15552220000", "text": "routed"},
	}
	r := tg.do("POST", "/api/messages/batch", key, map[string]any{"messages": items})
	if r.status != 202 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var out struct {
		Queued  int
		Results []struct {
			ID, Status, Session string
			Replayed            bool
			Error               *struct{ Code string }
		}
	}
	r.json(t, &out)
	codes := []string{}
	for _, x := range out.Results {
		if x.Error != nil {
			codes = append(codes, x.Error.Code)
		} else {
			codes = append(codes, x.Status)
		}
	}
	if got := strings.Join(codes, ","); got != "queued,invalid_chat_id,session_not_found,invalid_text,queued,queued" || out.Queued != 2 {
		t.Fatalf("batch results %s, queued %d: %s", got, out.Queued, r.body)
	}
	if !out.Results[4].Replayed || out.Results[4].ID != out.Results[0].ID {
		t.Errorf("same idempotency key in one batch not replayed: %+v", out.Results[4])
	}
	for name, body := range map[string]any{
		"empty":     map[string]any{"messages": []any{}},
		"too large": map[string]any{"messages": make([]map[string]any, 1001)},
	} {
		if r := tg.do("POST", "/api/messages/batch", key, body); r.status != 400 {
			t.Errorf("%s batch: %d %s", name, r.status, r.body)
		}
	}

	// Sticky: the contact wrote to b, so a send without a session goes through b.
	tg.do("POST", "/api/sandbox/b/inbound", key, map[string]any{"from": "15553330000", "text": "hi"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = tg.do("POST", "/api/sendText", key, map[string]any{"chatId": "15553330000", "text": "reply"})
		var a struct{ Session string }
		r.json(t, &a)
		if a.Session == "b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reply not routed through b: %s", r.body)
		}
		time.Sleep(10 * time.Millisecond) // the inbound is recorded asynchronously
	}

	// A message failed by a ban is retried after the ban is lifted.
	tg.do("PUT", "/api/sandbox/a/faults", key, map[string]any{"temp_ban": true})
	// The ban reaches the session as an event: until it is FAILED here, a send may still
	// be tried and fail "banned" (then retryable), which is not what this part checks.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var in struct{ Status string }
		tg.do("GET", "/api/sessions/a", key, nil).json(t, &in)
		if in.Status == "FAILED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session a not FAILED 5s after the ban: %s", in.Status)
		}
	}
	r = tg.do("POST", "/api/sendText", key, map[string]any{"session": "a", "chatId": "15551110000", "text": "banned"})
	var m struct{ ID string }
	r.json(t, &m)
	// The ban shows as the session FAILED: the message waits (it is not failed, so it
	// cannot be retried) and goes once the ban is lifted.
	if r := tg.do("POST", "/api/messages/"+m.ID+"/retry", key, nil); r.status != 409 || r.errCode() != "message_not_failed" {
		t.Errorf("retry of a waiting message: %d %s", r.status, r.body)
	}
	tg.do("PUT", "/api/sandbox/a/faults", key, map[string]any{})
	waitMessage(t, tg, key, m.ID, "read")

	// Chat listing: a's messages to 15551110000, newest first.
	r = tg.do("GET", "/api/a/chats/15551110000/messages?limit=1", key, nil)
	var page struct {
		Messages []struct{ Text string }
		Next     string
	}
	r.json(t, &page)
	if r.status != 200 || len(page.Messages) != 1 || page.Messages[0].Text != "banned" || page.Next == "" {
		t.Fatalf("chat page 1: %d %s", r.status, r.body)
	}
	r = tg.do("GET", "/api/a/chats/15551110000/messages?limit=1&cursor="+page.Next, key, nil)
	page.Next = ""
	r.json(t, &page)
	if len(page.Messages) != 1 || page.Messages[0].Text != "one" || page.Next != "" {
		t.Fatalf("chat page 2: %s", r.body)
	}
	for _, bad := range []string{"?limit=0", "?limit=101", "?limit=x"} {
		if r := tg.do("GET", "/api/a/chats/15551110000/messages"+bad, key, nil); r.status != 400 {
			t.Errorf("listing %s: %d", bad, r.status)
		}
	}
	if r := tg.do("GET", "/api/a/chats/nope/messages", key, nil); r.status != 400 {
		t.Errorf("listing a bad chat id: %d", r.status)
	}
	other := tg.createTenant("other")
	if r := tg.do("GET", "/api/a/chats/15551110000/messages", other, nil); r.status != 404 {
		t.Errorf("other tenant lists a's chat: %d", r.status)
	}

	// Deleting a session fails what waits for it; retry requeues it (to a session that
	// no longer exists it then fails again).
	tg.do("POST", "/api/sessions", key, map[string]any{"name": "scratch", "start": false})
	r = tg.do("POST", "/api/sendText", key, map[string]any{"session": "scratch", "chatId": "15551110000", "text": "never"})
	r.json(t, &m)
	tg.do("DELETE", "/api/sessions/scratch", key, nil)
	got := waitMessage(t, tg, key, m.ID, "failed")
	if !strings.Contains(got, `"reason":"session_deleted"`) {
		t.Errorf("message of a deleted session: %s", got)
	}
	if r := tg.do("POST", "/api/messages/"+m.ID+"/retry", key, nil); r.status != 200 {
		t.Errorf("retry of a failed message: %d %s", r.status, r.body)
	}
}

// waitMessage polls GET /api/messages/{id} until its status is want; returns the body.
func waitMessage(t *testing.T, tg *testGateway, key, id, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := tg.do("GET", "/api/messages/"+id, key, nil)
		if strings.Contains(string(r.body), fmt.Sprintf(`"status":%q`, want)) {
			return string(r.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s not %s within 10s: %s", id, want, r.body)
		}
		time.Sleep(10 * time.Millisecond) // polling the API with a deadline
	}
}
