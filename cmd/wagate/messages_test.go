package main

import (
	"strings"
	"testing"
	"time"
)

// sent queues a message through route and waits until the sender's message is sent;
// it returns the gateway's id.
func (s *surface) sent(from, method, path string, body map[string]any) string {
	s.t.Helper()
	var a struct {
		ID string `json:"id"`
	}
	s.must(202, method, path, body).json(s.t, &a)
	s.wait(from, "message.ack", func(p map[string]any) bool { return p["id"] == a.ID && p["status"] == "sent" })
	return a.ID
}

// The must-show of message operations: A's message to the group is edited and then
// deleted for everyone, and B sees message.edited then message.revoked naming it; a
// poll from A voted by B reaches A as poll.vote.
func TestMessageEditRevokeAndPoll(t *testing.T) {
	s := newChatsSurface(t, "a", "b", "c")
	var g groupCreated
	s.must(201, "POST", "/api/a/groups", map[string]any{"name": "Team",
		"participants": []map[string]string{{"id": s.chat("b")}, {"id": s.chat("c")}}}).json(t, &g)

	id := s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": g.ID, "text": "meeting at 10"})
	orig := s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "meeting at 10" })
	providerID := orig["id"].(string)

	// By the gateway's id.
	s.sent("a", "PUT", "/api/a/chats/"+g.ID+"/messages/"+id, map[string]any{"text": "meeting at 11"})
	ed := s.wait("b", "message.edited", nil)
	if ed["editedMessageId"] != providerID || ed["body"] != "meeting at 11" || ed["participant"] != s.chat("a") || ed["chatId"] != g.ID {
		t.Fatalf("b's message.edited: %v", ed)
	}
	// By WAHA's serialized id.
	s.sent("a", "DELETE", "/api/a/chats/"+g.ID+"/messages/true_"+g.ID+"_"+providerID, nil)
	rv := s.wait("c", "message.revoked", nil)
	if rv["revokedMessageId"] != providerID || rv["before"] != nil {
		t.Fatalf("c's message.revoked: %v", rv)
	}
	s.wait("c", "message.any", func(p map[string]any) bool { return p["type"] == "revoke" && p["target"] == providerID })

	// A poll in A's chat with B; B votes; A gets poll.vote.
	poll := s.sent("a", "POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b"),
		"poll": map[string]any{"name": "Lunch?", "options": []string{"Pizza", "Sushi", "Salad"}, "multipleAnswers": true}})
	got := s.wait("b", "message", func(p map[string]any) bool { return p["type"] == "poll" })
	if pl, _ := got["poll"].(map[string]any); pl["name"] != "Lunch?" || len(pl["options"].([]any)) != 3 || pl["multipleAnswers"] != true {
		t.Fatalf("b's poll: %v", got)
	}
	pollID := got["id"].(string)
	s.sent("b", "POST", "/api/sendPollVote", map[string]any{"session": "b", "chatId": s.chat("a"),
		"pollMessageId": "false_" + s.chat("a") + "_" + pollID, "votes": []string{"Sushi", "Salad"}})
	v := s.wait("a", "poll.vote", nil)
	vote, _ := v["vote"].(map[string]any)
	p, _ := v["poll"].(map[string]any)
	if p["id"] != pollID || p["fromMe"] != true || vote["from"] != s.chat("b") || strings.Join(toStrings(vote["selectedOptions"]), ",") != "Sushi,Salad" {
		t.Fatalf("a's poll.vote: %v", v)
	}
	// A vote for an option the poll does not have fails the vote message.
	var bad struct {
		ID string `json:"id"`
	}
	s.must(202, "POST", "/api/sendPollVote", map[string]any{"session": "b", "chatId": s.chat("a"),
		"pollMessageId": pollID, "votes": []string{"Tacos"}}).json(t, &bad)
	s.wait("b", "message.ack", func(p map[string]any) bool { return p["id"] == bad.ID && p["status"] == "failed" })
	_ = poll
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Bad input on the message operation routes: 4xx with a stable code; another tenant's
// session is 404.
func TestMessageOpsBadInput(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	chat := "/api/a/chats/" + s.chat("b") + "/messages/"
	queued := s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "x"})
	opts := func(n int) []string {
		var o []string
		for i := range n {
			o = append(o, string(rune('A'+i)))
		}
		return o
	}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"PUT", chat + "3EB0AAAA", map[string]any{}, 400, "invalid_text"},
		{"PUT", chat + "3EB0AAAA", map[string]any{"text": "x", "extra": 1}, 400, "unknown_field"},
		{"PUT", chat + "false_" + s.chat("b") + "_3EB0AAAA", map[string]any{"text": "x"}, 403, "not_allowed"},
		{"PUT", chat + "msg_01UNKNOWN", map[string]any{"text": "x"}, 404, "message_not_found"},
		{"PUT", "/api/a/chats/" + s.chat("a") + "/messages/" + queued, map[string]any{"text": "x"}, 404, "message_not_found"},
		{"PUT", "/api/a/chats/nope/messages/3EB0", map[string]any{"text": "x"}, 400, "invalid_chat_id"},
		{"DELETE", chat + "true_x", nil, 400, "invalid_message_id"},
		{"DELETE", "/api/nope/chats/" + s.chat("b") + "/messages/3EB0", nil, 404, "session_not_found"},
		{"POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b")}, 400, "invalid_poll"},
		{"POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b"), "poll": map[string]any{"name": "q", "options": opts(1)}}, 400, "invalid_poll"},
		{"POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b"), "poll": map[string]any{"name": "q", "options": opts(13)}}, 400, "invalid_poll"},
		{"POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b"), "poll": map[string]any{"name": "q", "options": []string{"x", "x"}}}, 400, "invalid_poll"},
		{"POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b"), "poll": map[string]any{"name": strings.Repeat("q", 256), "options": opts(2)}}, 400, "invalid_poll"},
		{"POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": "nope", "poll": map[string]any{"name": "q", "options": opts(2)}}, 400, "invalid_chat_id"},
		{"POST", "/api/sendPollVote", map[string]any{"session": "a", "chatId": s.chat("b"), "pollMessageId": "3EB0"}, 400, "invalid_votes"},
		{"POST", "/api/sendPollVote", map[string]any{"session": "a", "chatId": s.chat("b"), "pollMessageId": "3EB0", "votes": opts(13)}, 400, "invalid_votes"},
		{"POST", "/api/sendPollVote", map[string]any{"session": "a", "chatId": s.chat("b"), "pollMessageId": "", "votes": []string{}}, 400, "invalid_message_id"},
		{"POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "hi @x", "mentions": []string{"1@g.us"}}, 400, "invalid_mentions"},
	} {
		r := s.call(c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("%s %s %v: %d %s; want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	other := s.createTenant("globex")
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PUT", chat + "3EB0AAAA", map[string]any{"text": "x"}},
		{"DELETE", chat + "3EB0AAAA", nil},
		{"POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b"), "poll": map[string]any{"name": "q", "options": opts(2)}}},
		{"POST", "/api/sendPollVote", map[string]any{"session": "a", "chatId": s.chat("b"), "pollMessageId": "3EB0", "votes": []string{}}},
		{"PUT", chat + queued, map[string]any{"text": "x"}},
	} {
		r := s.do(c.method, c.path, other, c.body)
		if r.status != 404 || !(strings.Contains(string(r.body), "session_not_found") || strings.Contains(string(r.body), "message_not_found")) {
			t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}

// Mentions reach the recipient with the message.
func TestSendTextMentions(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "hi @" + s.phone["b"],
		"mentions": []string{s.chat("b")}, "linkPreview": false})
	p := s.wait("b", "message", nil)
	if m, _ := p["mentions"].([]any); len(m) != 1 || m[0] != s.chat("b") {
		t.Fatalf("b's message: %v", p)
	}
}

// The must-show of history: inbound and outbound in one chat's history, in order.
func TestChatHistoryBothWays(t *testing.T) {
	s := newChatsSurface(t, "a", "b")
	s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "one"})
	s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "one" })
	s.sent("b", "POST", "/api/sendText", map[string]any{"session": "b", "chatId": s.chat("a"), "text": "two"})
	s.wait("a", "message", func(p map[string]any) bool { return p["body"] == "two" })
	s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "three"})
	s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "three" })
	// Reactions are not history entries.
	s.sent("b", "PUT", "/api/reaction", map[string]any{"session": "b", "chatId": s.chat("a"), "messageId": "3EB0AAAA", "reaction": "👍"})
	s.wait("a", "message.reaction", nil)

	type entry struct {
		Text     string `json:"text"`
		Inbound  bool   `json:"inbound"`
		Status   string `json:"status"`
		From     string `json:"from"`
		Provider string `json:"providerId"`
	}
	history := func(session, chat string) []entry {
		var page struct {
			Messages []entry `json:"messages"`
		}
		// The received side is written without waiting: poll with a deadline.
		for range 200 {
			page.Messages = nil
			s.must(200, "GET", "/api/"+session+"/chats/"+chat+"/messages?limit=10", nil).json(t, &page)
			if len(page.Messages) >= 3 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		return page.Messages
	}
	got := history("a", s.chat("b"))
	want := []struct {
		text    string
		inbound bool
	}{{"three", false}, {"two", true}, {"one", false}}
	if len(got) != 3 {
		t.Fatalf("a's history: %+v", got)
	}
	for i, w := range want {
		if got[i].Text != w.text || got[i].Inbound != w.inbound {
			t.Fatalf("a's history[%d] = %+v, want %q inbound=%v (all: %+v)", i, got[i], w.text, w.inbound, got)
		}
	}
	if got[1].Status != "received" || got[1].From != s.chat("b") || got[1].Provider == "" {
		t.Fatalf("received entry %+v", got[1])
	}
	b := history("b", s.chat("a"))
	if len(b) < 3 || b[0].Text != "" || b[1].Text != "three" || !b[1].Inbound || b[2].Text != "two" || b[2].Inbound {
		// b's newest is its reaction (a send, so in its history), then three (in), two (out).
		t.Fatalf("b's history: %+v", b)
	}
}

// Forwards and stickers: B forwards A's text (by WAHA's serialized id) to C, and A
// forwards its own sticker (by the gateway's id) to C; C gets both, each copy's record
// is marked forwarded. What cannot be forwarded, or found, is refused with a code.
func TestForwardAndSticker(t *testing.T) {
	s := newChatsSurface(t, "a", "b", "c")
	s.sent("a", "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "price list attached"})
	got := s.wait("b", "message", func(p map[string]any) bool { return p["body"] == "price list attached" })
	// The received message reaches B's history through the queue's committer, just after the event.
	for deadline := time.Now().Add(10 * time.Second); s.call("GET", "/api/b/chats/"+s.chat("a")+"/messages/"+got["id"].(string), nil).status != 200; {
		if time.Now().After(deadline) {
			t.Fatal("the received message never reached b's history")
		}
		time.Sleep(5 * time.Millisecond) // polling the store with a deadline
	}
	fwd := s.sent("b", "POST", "/api/forwardMessage", map[string]any{"session": "b", "chatId": s.chat("c"),
		"messageId": "false_" + s.chat("a") + "_" + got["id"].(string)})
	at := s.wait("c", "message", func(p map[string]any) bool { return p["body"] == "price list attached" })
	if at["from"] != s.chat("b") {
		t.Fatalf("c got the forward %v", at)
	}
	var rec struct {
		Type    string `json:"type"`
		Payload struct {
			Forwarded bool `json:"forwarded"`
			Media     *struct {
				URL string `json:"url"`
			} `json:"media"`
		} `json:"payload"`
	}
	s.must(200, "GET", "/api/messages/"+fwd, nil).json(t, &rec)
	if rec.Type != "text" || !rec.Payload.Forwarded {
		t.Fatalf("the forward's record %+v", rec)
	}

	sticker := s.sent("a", "POST", "/api/sendSticker", map[string]any{"session": "a", "chatId": s.chat("b"),
		"file": map[string]any{"url": "https://example.com/thumbs-up.webp", "mimetype": "image/webp"}})
	st := s.wait("b", "message", func(p map[string]any) bool { return p["type"] == "sticker" })
	if st["from"] != s.chat("a") {
		t.Fatalf("b's sticker %v", st)
	}
	fwd = s.sent("a", "POST", "/api/forwardMessage", map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": sticker})
	s.wait("c", "message", func(p map[string]any) bool { return p["type"] == "sticker" })
	s.must(200, "GET", "/api/messages/"+fwd, nil).json(t, &rec)
	if rec.Type != "sticker" || !rec.Payload.Forwarded || rec.Payload.Media == nil || rec.Payload.Media.URL != "https://example.com/thumbs-up.webp" {
		t.Fatalf("the sticker forward's record %+v", rec)
	}

	poll := s.sent("a", "POST", "/api/sendPoll", map[string]any{"session": "a", "chatId": s.chat("b"),
		"poll": map[string]any{"name": "Lunch?", "options": []string{"Pizza", "Sushi"}}})
	other := s.createTenant("globex")
	for _, c := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": poll}, 422, "not_forwardable"},
		{map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": "msg_doesnotexist"}, 404, "message_not_found"},
		{map[string]any{"session": "b", "chatId": s.chat("c"), "messageId": sticker}, 404, "message_not_found"},
		{map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": "3EB0ABCDEF"}, 400, "invalid_message_id"},
		{map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": "true_nope_3EB0"}, 400, "invalid_message_id"},
		{map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": "true_" + s.chat("b") + "_3EB0NOTTHERE"}, 404, "message_not_found"},
		{map[string]any{"session": "a", "chatId": "nope", "messageId": sticker}, 400, "invalid_chat_id"},
		{map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": sticker, "extra": 1}, 400, "unknown_field"},
		{map[string]any{"session": "a", "chatId": s.chat("b"), "file": map[string]any{"url": "https://example.com/x.png", "mimetype": "image/png"}}, 400, "invalid_media"},
	} {
		path := "/api/forwardMessage"
		if _, ok := c.body["file"]; ok {
			path = "/api/sendSticker"
		}
		if r := s.call("POST", path, c.body); r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("POST %s %v: %d %s; want %d %s", path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	if r := s.do("POST", "/api/forwardMessage", other, map[string]any{"session": "a", "chatId": s.chat("c"), "messageId": sticker}); r.status != 404 {
		t.Errorf("forward as another tenant: %d %s", r.status, r.body)
	}
}
