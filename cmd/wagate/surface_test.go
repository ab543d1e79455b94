package main

import "testing"

// TestSurfaceRig pins the rig the WhatsApp-surface tests share: two linked sandbox
// numbers, a text from one reaching the other as a message event.
func TestSurfaceRig(t *testing.T) {
	s := newSurface(t, "a", "b")
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "hi"})
	p := s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "hi" })
	if p["from"] != s.chat("a") {
		t.Errorf("message at b: %v", p)
	}
}
