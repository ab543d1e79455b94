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
		{"GET", "/api/a/chats?sortBy=size", nil, 400, "invalid_sort"},
		{"GET", "/api/a/chats?sortOrder=up", nil, 400, "invalid_sort"},
		{"GET", "/api/a/chats?limit=1001", nil, 400, "invalid_pagination"},
		{"GET", "/api/a/chats?offset=-1", nil, 400, "invalid_pagination"},
		{"GET", "/api/a/chats/overview?ids=nope", nil, 400, "invalid_chat_id"},
		{"GET", "/api/nope/chats", nil, 404, "session_not_found"},
		{"GET", "/api/a/chats/15551234567@c.us/messages/msg_01JD0000000000000000000000", nil, 404, "message_not_found"},
		{"GET", "/api/a/chats/15551234567@c.us/messages/3EB0ABC", nil, 404, "message_not_found"},
		{"GET", "/api/a/chats/15551234567@c.us/messages/" + long, nil, 400, "invalid_message_id"},
		{"GET", "/api/a/chats/nope/messages/3EB0ABC", nil, 400, "invalid_chat_id"},
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
		{"GET", "/api/a/chats", nil},
		{"GET", "/api/a/chats/overview", nil},
		{"GET", chat + "/messages/msg_01JD0000000000000000000000", nil},
	} {
		r := s.do(c.method, c.path, other, c.body)
		if r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}

// The chat list: A's chats with B and C, newest activity first, each with its last
// message (sent or received), B's name from the contacts; the overview filters by id;
// a message is read back by the gateway's id and by the provider's.
func TestChatsList(t *testing.T) {
	s := newChatsSurface(t, "a", "b", "c")
	s.chatsSend("a", "b", "to b")
	s.chatsSend("a", "c", "to c")
	_, seen := s.chatsSend("b", "a", "from b") // B's chat is now the newest at A
	type chat struct {
		ID                    string  `json:"id"`
		Name                  *string `json:"name"`
		ConversationTimestamp int64   `json:"conversationTimestamp"`
		LastMessage           struct {
			ID         string `json:"id"`
			Text       string `json:"text"`
			Inbound    bool   `json:"inbound"`
			ProviderID string `json:"providerId"`
		} `json:"lastMessage"`
	}
	var list []chat
	for range 200 { // the received side is written without waiting
		list = nil
		s.must(200, "GET", "/api/a/chats", nil).json(t, &list)
		if len(list) == 2 && list[0].LastMessage.Text == "from b" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(list) != 2 || list[0].ID != s.chat("b") || !list[0].LastMessage.Inbound || list[1].ID != s.chat("c") ||
		list[1].LastMessage.Text != "to c" || list[0].ConversationTimestamp < list[1].ConversationTimestamp {
		t.Fatalf("a's chats: %+v", list)
	}
	if list[0].Name == nil || *list[0].Name == "" {
		t.Errorf("b's chat has no name: %+v", list[0])
	}
	s.must(200, "GET", "/api/a/chats?sortBy=id&limit=1", nil).json(t, &list)
	if len(list) != 1 || list[0].ID != min(s.chat("b"), s.chat("c")) {
		t.Errorf("sorted by id, first: %+v", list)
	}
	s.must(200, "GET", "/api/a/chats/overview?ids="+s.chat("c"), nil).json(t, &list)
	if len(list) != 1 || list[0].ID != s.chat("c") {
		t.Errorf("overview of c: %+v", list)
	}

	var m struct {
		ID         string `json:"id"`
		Text       string `json:"text"`
		ProviderID string `json:"providerId"`
	}
	s.must(200, "GET", "/api/a/chats/"+s.chat("b")+"/messages/"+seen, nil).json(t, &m)
	if m.Text != "from b" || m.ProviderID != seen {
		t.Fatalf("by provider id %s: %+v", seen, m)
	}
	byID := m.ID
	s.must(200, "GET", "/api/a/chats/"+s.chat("b")+"/messages/"+byID, nil).json(t, &m)
	if m.ProviderID != seen {
		t.Fatalf("by gateway id %s: %+v", byID, m)
	}
	s.must(404, "GET", "/api/a/chats/"+s.chat("c")+"/messages/"+byID, nil) // another chat's
}
