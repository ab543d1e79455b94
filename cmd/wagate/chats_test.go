package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// chatsSend queues a text from one session to another, waits until it arrives, and
// returns the gateway's message id and the id the recipient saw.
func (s *surface) chatsSend(from, to, text string) (id, seen string) {
	s.t.Helper()
	var a struct {
		ID string `json:"id"`
	}
	s.must(202, "POST", "/api/sendText", map[string]any{"session": from, "chatId": s.chat(to), "text": text}).json(s.t, &a)
	// The recipient's message and the sender's delivered ack come in either order.
	var delivered bool
	deadline := time.After(10 * time.Second)
	for !delivered || seen == "" {
		select {
		case env := <-s.events:
			var p map[string]any
			json.Unmarshal(env.Payload, &p)
			switch {
			case env.Event == "message" && env.Session == to && p["body"] == text:
				seen, _ = p["id"].(string)
			case env.Event == "message.ack" && env.Session == from && p["id"] == a.ID && p["status"] == "delivered":
				delivered = true
			}
		case <-deadline:
			s.t.Fatalf("%q from %s to %s: delivered %v, seen %q after 10s", text, from, to, delivered, seen)
		}
	}
	return a.ID, seen
}

func ackIs(id, ack string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["id"] == id && p["status"] == ack }
}

// The sandbox here never reads by itself: B's sendSeen is what makes A see its two
// messages read.
func TestChatsSendSeenReadsMessages(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	one, _ := s.chatsSend("a", "b", "one")
	two, _ := s.chatsSend("a", "b", "two")
	s.must(200, "POST", "/api/sendSeen", map[string]any{"session": "b", "chatId": s.chat("a")})
	s.wait("a", "message.ack", ackIs(one, "read"))
	s.wait("a", "message.ack", ackIs(two, "read"))
}

// The chat route reads only the messages it names, in WAHA's serialized form.
func TestChatsReadNamedMessages(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	one, _ := s.chatsSend("a", "b", "one")
	two, seenTwo := s.chatsSend("a", "b", "two")
	s.must(200, "POST", "/api/b/chats/"+s.chat("a")+"/messages/read",
		map[string]any{"messageIds": []string{"false_" + s.chat("a") + "_" + seenTwo}})
	s.wait("a", "message.ack", ackIs(two, "read"))
	// The rest: one is still unread, and reading the chat now reads it.
	s.must(200, "POST", "/api/b/chats/"+s.chat("a")+"/messages/read", nil)
	s.wait("a", "message.ack", ackIs(one, "read"))
}

// Archive, unarchive, unread, pin, unpin, delete and star answer success on the sandbox.
func TestChatsFlags(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	s.chatsSend("a", "b", "hello")
	chat := "/api/b/chats/" + s.chat("a")
	for _, op := range []string{"archive", "unarchive", "unread", "pin", "unpin"} {
		s.must(200, "POST", chat+"/"+op, nil)
	}
	s.must(200, "PUT", "/api/star", map[string]any{"session": "b", "chatId": s.chat("a"), "messageId": "false_" + s.chat("a") + "_ABC", "star": true})
	s.must(200, "DELETE", chat, nil)
}

func TestChatsBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	long := strings.Repeat("x", 300)
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/sendSeen", map[string]any{"session": "a"}, 400, "invalid_chat_id"},
		{"POST", "/api/sendSeen", map[string]any{"session": "a", "chatId": "nope"}, 400, "invalid_chat_id"},
		{"POST", "/api/sendSeen", map[string]any{"session": "a b", "chatId": "15551234567@c.us"}, 400, "invalid_session_name"},
		{"POST", "/api/sendSeen", map[string]any{"session": "a", "chatId": "15551234567@c.us", "messageId": long}, 400, "invalid_message_id"},
		{"POST", "/api/sendSeen", map[string]any{"session": "a", "chatId": "15551234567@c.us", "messageIds": []string{""}}, 400, "invalid_message_id"},
		{"POST", "/api/sendSeen", map[string]any{"session": "a", "chatId": "15551234567@c.us", "messageIds": make([]string, 1001)}, 400, "too_many_messages"},
		{"POST", "/api/sendSeen", map[string]any{"session": "a", "chatId": "15551234567@c.us", "participant": "1@g.us"}, 400, "invalid_contact_id"},
		{"POST", "/api/sendSeen", map[string]any{"session": "nope", "chatId": "15551234567@c.us"}, 404, "session_not_found"},
		{"POST", "/api/a/chats/nope/archive", nil, 400, "invalid_chat_id"},
		{"POST", "/api/a/chats/15551234567@c.us/messages/read", map[string]any{"messageIds": []string{"false_x"}}, 400, "invalid_message_id"},
		{"POST", "/api/a/chats/15551234567@c.us/messages/read", "[]", 400, "wrong_type"},
		{"DELETE", "/api/a/chats/nope", nil, 400, "invalid_chat_id"},
		{"POST", "/api/nope/chats/15551234567@c.us/pin", nil, 404, "session_not_found"},
		{"PUT", "/api/star", map[string]any{"session": "a", "chatId": "15551234567@c.us"}, 400, "invalid_message_id"},
		{"PUT", "/api/star", map[string]any{"session": "a", "chatId": "15551234567@c.us", "messageId": "m", "star": "yes"}, 400, "wrong_type"},
	} {
		r := s.call(c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("%s %s %v: %d %s; want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
}

// Another tenant's session is 404 session_not_found on every chat route.
func TestChatsOtherTenant(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	other := s.createTenant("globex")
	chat := "/api/a/chats/" + s.chat("b")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/sendSeen", map[string]any{"session": "a", "chatId": s.chat("b")}},
		{"POST", chat + "/messages/read", nil},
		{"POST", chat + "/archive", nil},
		{"POST", chat + "/unarchive", nil},
		{"POST", chat + "/unread", nil},
		{"POST", chat + "/pin", nil},
		{"POST", chat + "/unpin", nil},
		{"DELETE", chat, nil},
		{"PUT", "/api/star", map[string]any{"session": "a", "chatId": s.chat("b"), "messageId": "m", "star": true}},
	} {
		r := s.do(c.method, c.path, other, c.body)
		if r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}
