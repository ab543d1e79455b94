package main

import (
	"fmt"
	"testing"
)

// TestLateReceiptFoundAfterMemoryForgot: a session remembers the provider ids of its
// last 1,000 sends in memory (core/session, maxAckIDs); a receipt of an older send is
// found through the store's provider id index (core/queue). A sends B a message B
// leaves unread, then 1,000 more to other numbers; B reads the chat: A's first message
// is read, by its gateway id, in the event and in GET /api/messages/{id}.
func TestLateReceiptFoundAfterMemoryForgot(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	first, _ := s.chatsSend("a", "b", "first")
	var last string
	for batch := range 4 { // 4 x 250: within max_body_bytes
		items := make([]map[string]any, 250)
		for i := range items {
			items[i] = map[string]any{"session": "a", "chatId": fmt.Sprintf("1556%07d", batch*250+i), "text": "x"}
		}
		var out struct {
			Results []struct{ ID string }
		}
		s.must(202, "POST", "/api/messages/batch", map[string]any{"messages": items}).json(t, &out)
		last = out.Results[len(out.Results)-1].ID
	}
	waitMessageStatus(t, s.testGateway, s.key, last, "delivered") // all 1,000 sent: the first forgotten in memory
	s.must(200, "POST", "/api/sendSeen", map[string]any{"session": "b", "chatId": s.chat("a")})
	s.wait("a", "message.ack", ackIs(first, "read"))
	waitMessageStatus(t, s.testGateway, s.key, first, "read")
}
