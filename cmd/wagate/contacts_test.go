package main

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

// contactsUntil reads the rig's events until one of session named name matches, and
// returns the payloads of the message events of watch seen before it.
func (s *surface) contactsUntil(session, name string, match func(p map[string]any) bool, watch string) []map[string]any {
	s.t.Helper()
	var seen []map[string]any
	deadline := time.After(10 * time.Second)
	for {
		select {
		case env, ok := <-s.events:
			if !ok {
				s.t.Fatalf("event stream ended while waiting for %s at %s", name, session)
			}
			var p map[string]any
			json.Unmarshal(env.Payload, &p)
			if env.Event == "message" && env.Session == watch {
				seen = append(seen, p)
			}
			if env.Event == name && env.Session == session && match(p) {
				return seen
			}
		case <-deadline:
			s.t.Fatalf("no %s event at %s within 10s", name, session)
		}
	}
}

func contactsText(text string) func(map[string]any) bool {
	return func(p map[string]any) bool { return p["body"] == text }
}

// contactsSend sends a text from one session to another and waits until it arrives.
func (s *surface) contactsSend(from, to, text string) {
	s.t.Helper()
	s.must(202, "POST", "/api/sendText", map[string]any{"session": from, "chatId": s.chat(to), "text": text})
	s.wait(to, "message", contactsText(text))
}

// contactsWaitSent polls a queued message until the transport took it.
func (s *surface) contactsWaitSent(id string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var m struct {
			Status string `json:"status"`
		}
		s.must(200, "GET", "/api/messages/"+id, nil).json(s.t, &m)
		if m.Status == "sent" || m.Status == "delivered" || m.Status == "read" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("message %s still %s after 10s", id, m.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A changes its profile name; B's contact of A shows the new pushname at once, and B
// hears of it (contact.update).
func TestContactsPushnameFollowsRename(t *testing.T) {
	s := newSurface(t, "a", "b")
	s.contactsSend("a", "b", "hello")

	var c map[string]any
	s.must(200, "GET", "/api/contacts?session=b&contactId="+s.chat("a"), nil).json(t, &c)
	if c["pushname"] != "Sandbox "+s.phone["a"] || c["id"] != s.chat("a") || c["number"] != s.phone["a"] ||
		c["isUser"] != true || c["isGroup"] != false || c["isWAContact"] != true || c["isBlocked"] != false || c["isMe"] != false {
		t.Fatalf("b's contact of a before the rename: %v", c)
	}

	s.must(200, "PUT", "/api/a/profile/name", map[string]any{"name": "Alice"})
	p := s.wait("b", "contact.update", func(p map[string]any) bool { return p["change"] == "pushname" })
	if p["id"] != s.chat("a") || p["pushname"] != "Alice" {
		t.Errorf("contact.update at b: %v", p)
	}
	s.must(200, "GET", "/api/contacts?session=b&contactId="+s.phone["a"], nil).json(t, &c)
	if c["pushname"] != "Alice" {
		t.Fatalf("b's contact of a after the rename: %v", c)
	}
	c = nil
	s.must(200, "GET", "/api/b/contacts/"+s.chat("a"), nil).json(t, &c)
	if c["pushname"] != "Alice" {
		t.Fatalf("b's contact of a by the session route: %v", c)
	}
	var list []map[string]any
	s.must(200, "GET", "/api/contacts/all?session=b", nil).json(t, &list)
	if len(list) != 1 || list[0]["pushname"] != "Alice" {
		t.Fatalf("b's contacts: %v", list)
	}
}

// B blocks A: A's message is accepted and sent but never reaches B (a control message
// through B's own event stream, sent after it, arrives with nothing before it);
// unblocking restores delivery.
func TestContactsBlock(t *testing.T) {
	s := newSurface(t, "a", "b", "c")
	s.contactsSend("a", "b", "before")

	var res map[string]any
	s.must(200, "POST", "/api/contacts/block", map[string]any{"session": "b", "contactId": s.chat("a")}).json(t, &res)
	if res["success"] != true {
		t.Fatalf("block: %v", res)
	}
	var c map[string]any
	s.must(200, "GET", "/api/contacts?session=b&contactId="+s.chat("a"), nil).json(t, &c)
	if c["isBlocked"] != true {
		t.Fatalf("b's contact of a after block: %v", c)
	}

	var sent struct {
		ID string `json:"id"`
	}
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "blocked"}).json(t, &sent)
	// Once the transport took it, anything B was to get of it is ahead of the control
	// message in B's event stream.
	s.contactsWaitSent(sent.ID)
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "c", "chatId": s.chat("b"), "text": "control"})
	for _, m := range s.contactsUntil("b", "message", contactsText("control"), "b") {
		if m["body"] == "blocked" {
			t.Fatalf("b got a message from a blocked sender: %v", m)
		}
	}

	s.must(200, "POST", "/api/contacts/unblock", map[string]any{"session": "b", "contactId": s.phone["a"]})
	s.contactsSend("a", "b", "after")
	s.must(200, "GET", "/api/contacts?session=b&contactId="+s.chat("a"), nil).json(t, &c)
	if c["isBlocked"] != false {
		t.Fatalf("b's contact of a after unblock: %v", c)
	}
}

func TestContactsCheckExistsAboutPicture(t *testing.T) {
	s := newSurface(t, "a", "b")
	var st map[string]any
	s.must(200, "GET", "/api/contacts/check-exists?session=a&phone="+s.phone["b"], nil).json(t, &st)
	if st["numberExists"] != true || st["chatId"] != s.chat("b") {
		t.Fatalf("check-exists of a linked number: %v", st)
	}
	st = nil
	s.must(200, "GET", "/api/contacts/check-exists?session=a&phone=%2B15559999999", nil).json(t, &st)
	if st["numberExists"] != false || st["chatId"] != nil {
		t.Fatalf("check-exists of an unknown number: %v", st)
	}

	var about map[string]any
	s.must(200, "GET", "/api/contacts/about?session=a&contactId="+s.chat("b"), nil).json(t, &about)
	if about["about"] != "Hey there! I am using WhatsApp." {
		t.Errorf("default about: %v", about)
	}
	s.must(200, "PUT", "/api/b/profile/status", map[string]any{"status": "In a meeting"})
	s.must(200, "GET", "/api/contacts/about?session=a&contactId="+s.chat("b"), nil).json(t, &about)
	if about["about"] != "In a meeting" {
		t.Errorf("about after PUT status: %v", about)
	}

	var pic map[string]any
	s.must(200, "GET", "/api/contacts/profile-picture?session=a&contactId="+s.chat("b"), nil).json(t, &pic)
	if v, ok := pic["profilePictureURL"]; !ok || v != nil {
		t.Errorf("picture before any: %v", pic)
	}
	s.must(200, "PUT", "/api/b/profile/picture", map[string]any{"file": map[string]any{"url": "https://example.com/b.jpg"}})
	s.must(200, "GET", "/api/contacts/profile-picture?session=a&contactId="+s.chat("b")+"&refresh=true", nil).json(t, &pic)
	if pic["profilePictureURL"] != "https://example.com/b.jpg" {
		t.Errorf("picture after PUT: %v", pic)
	}
}

// GET /api/contacts/all sorts by id or name and pages.
func TestContactsListSortAndPage(t *testing.T) {
	s := newSurface(t, "a", "b", "c")
	s.contactsSend("a", "b", "to b")
	s.contactsSend("a", "c", "to c")
	s.must(200, "PUT", "/api/b/profile/name", map[string]any{"name": "Zed"})
	s.must(200, "PUT", "/api/c/profile/name", map[string]any{"name": "Amy"})

	ids := func(q string) []string {
		t.Helper()
		var list []map[string]any
		s.must(200, "GET", "/api/contacts/all?session=a"+q, nil).json(t, &list)
		var out []string
		for _, c := range list {
			out = append(out, c["id"].(string))
		}
		return out
	}
	b, c := s.chat("b"), s.chat("c")
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{b, c}},
		{"&sortBy=id&sortOrder=desc", []string{c, b}},
		{"&sortBy=name", []string{c, b}},
		{"&sortBy=name&sortOrder=desc", []string{b, c}},
		{"&limit=1", []string{b}},
		{"&limit=1&offset=1", []string{c}},
		{"&offset=5", nil},
	} {
		if got := ids(tc.query); len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
			t.Errorf("all%s: %v, want %v", tc.query, got, tc.want)
		}
	}
}

// The contact↔session record: after traffic, which session last wrote to and received
// from a contact, from the gateway's own records.
func TestContactSessionsRecord(t *testing.T) {
	s := newSurface(t, "a", "b")
	var empty struct {
		Sticky   any   `json:"sticky"`
		Sessions []any `json:"sessions"`
	}
	s.must(200, "GET", "/api/contacts/"+s.chat("b")+"/sessions", nil).json(t, &empty)
	if empty.Sticky != nil || empty.Sessions == nil || len(empty.Sessions) != 0 {
		t.Fatalf("record before traffic: %+v", empty)
	}

	var sent struct {
		ID string `json:"id"`
	}
	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": s.chat("b"), "text": "hi"}).json(t, &sent)
	s.wait("b", "message", contactsText("hi"))
	s.contactsWaitSent(sent.ID)

	type record struct {
		ChatID string `json:"chatId"`
		Sticky *struct {
			Session string `json:"session"`
			At      string `json:"at"`
		} `json:"sticky"`
		Sessions []struct {
			Session      string `json:"session"`
			Status       string `json:"status"`
			LastInbound  string `json:"lastInbound"`
			LastOutbound string `json:"lastOutbound"`
		} `json:"sessions"`
	}
	// a sent to b: b's record names a, with an outbound time.
	var r record
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = record{}
		s.must(200, "GET", "/api/contacts/"+url.PathEscape(s.phone["b"]+"@s.whatsapp.net")+"/sessions", nil).json(t, &r)
		if len(r.Sessions) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.ChatID != s.chat("b") || r.Sticky == nil || r.Sticky.Session != "a" || len(r.Sessions) != 1 ||
		r.Sessions[0].Session != "a" || r.Sessions[0].Status != "WORKING" || r.Sessions[0].LastOutbound == "" || r.Sessions[0].LastInbound != "" {
		t.Fatalf("b's record after a sent: %+v", r)
	}
	// b received from a: a's record names b, with an inbound time.
	r = record{}
	s.must(200, "GET", "/api/contacts/"+s.chat("a")+"/sessions", nil).json(t, &r)
	if r.Sticky == nil || r.Sticky.Session != "b" || len(r.Sessions) != 1 || r.Sessions[0].Session != "b" ||
		r.Sessions[0].LastInbound == "" || r.Sessions[0].LastOutbound != "" {
		t.Fatalf("a's record after b received: %+v", r)
	}

	// Another tenant sees nothing of it.
	other := s.createTenant("other")
	var o record
	if rr := s.do("GET", "/api/contacts/"+s.chat("a")+"/sessions", other, nil); rr.status != 200 {
		t.Fatalf("other tenant: %d %s", rr.status, rr.body)
	} else if rr.json(t, &o); o.Sticky != nil || len(o.Sessions) != 0 {
		t.Fatalf("other tenant sees acme's record: %+v", o)
	}
}

func TestLIDRoutes(t *testing.T) {
	s := newSurface(t, "a", "b")
	s.contactsSend("a", "b", "hi")

	var count map[string]int
	s.must(200, "GET", "/api/b/lids/count", nil).json(t, &count)
	if count["count"] != 2 {
		t.Fatalf("count: %v", count)
	}
	var pairs []map[string]string
	s.must(200, "GET", "/api/b/lids?limit=10", nil).json(t, &pairs)
	if len(pairs) != 2 {
		t.Fatalf("pairs: %v", pairs)
	}
	var lidOfA string
	for _, p := range pairs {
		if p["pn"] == s.chat("a") {
			lidOfA = p["lid"]
		}
	}
	if len(lidOfA) != len("123456789012345@lid") {
		t.Fatalf("no 15-digit LID for a in %v", pairs)
	}
	if pairs[0]["lid"] > pairs[1]["lid"] {
		t.Errorf("pairs not ordered by lid: %v", pairs)
	}
	s.must(200, "GET", "/api/b/lids?limit=1&offset=1", nil).json(t, &pairs)
	if len(pairs) != 1 {
		t.Errorf("page 2: %v", pairs)
	}

	var one map[string]any
	s.must(200, "GET", "/api/b/lids/"+lidOfA, nil).json(t, &one)
	if one["lid"] != lidOfA || one["pn"] != s.chat("a") {
		t.Errorf("by lid: %v", one)
	}
	digits := lidOfA[:len(lidOfA)-len("@lid")]
	s.must(200, "GET", "/api/b/lids/"+digits, nil).json(t, &one)
	if one["pn"] != s.chat("a") {
		t.Errorf("by lid digits: %v", one)
	}
	s.must(200, "GET", "/api/b/lids/99999999999@lid", nil).json(t, &one)
	if v, ok := one["pn"]; !ok || v != nil {
		t.Errorf("unknown lid: %v", one)
	}
	s.must(200, "GET", "/api/b/lids/pn/"+s.phone["a"], nil).json(t, &one)
	if one["lid"] != lidOfA || one["pn"] != s.chat("a") {
		t.Errorf("by phone: %v", one)
	}
	s.must(200, "GET", "/api/b/lids/pn/15559999999", nil).json(t, &one)
	if v, ok := one["lid"]; !ok || v != nil {
		t.Errorf("unknown phone: %v", one)
	}
	s.must(200, "GET", "/api/b/lids/pn/"+lidOfA, nil).json(t, &one)
	if one["lid"] != lidOfA || one["pn"] != nil {
		t.Errorf("pn route given a lid: %v", one)
	}
	// The contact route takes the LID too.
	var c map[string]any
	s.must(200, "GET", "/api/contacts?session=b&contactId="+lidOfA, nil).json(t, &c)
	if c["id"] != s.chat("a") {
		t.Errorf("contact by lid: %v", c)
	}
}

// Every contacts and LID route refuses bad input with a stable 4xx code.
func TestContactsBadInput(t *testing.T) {
	s := newSurface(t, "a")
	s.must(201, "POST", "/api/sessions", map[string]any{"name": "idle", "start": false})
	long := make([]byte, 70)
	for i := range long {
		long[i] = 'x'
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/api/contacts/all?session=a&sortBy=age", nil, 400, "invalid_sort"},
		{"GET", "/api/contacts/all?session=a&sortOrder=up", nil, 400, "invalid_sort"},
		{"GET", "/api/contacts/all?session=a&limit=0", nil, 400, "invalid_pagination"},
		{"GET", "/api/contacts/all?session=a&limit=1001", nil, 400, "invalid_pagination"},
		{"GET", "/api/contacts/all?session=a&limit=ten", nil, 400, "invalid_pagination"},
		{"GET", "/api/contacts/all?session=a&offset=-1", nil, 400, "invalid_pagination"},
		{"GET", "/api/contacts/all?session=a&offset=99999999999999999999", nil, 400, "invalid_pagination"},
		{"GET", "/api/contacts/all?session=" + string(long), nil, 400, "invalid_session_name"},
		{"GET", "/api/contacts/all?session=a%2Fb", nil, 400, "invalid_session_name"},
		{"GET", "/api/contacts/all", nil, 404, "session_not_found"}, // WAHA's default session
		{"GET", "/api/contacts/all?session=nope", nil, 404, "session_not_found"},
		{"GET", "/api/contacts/all?session=idle", nil, 409, "session_not_working"},
		{"GET", "/api/contacts?session=a", nil, 400, "invalid_contact_id"},
		{"GET", "/api/contacts?session=a&contactId=abc", nil, 400, "invalid_contact_id"},
		{"GET", "/api/contacts?session=a&contactId=120363000000000001@g.us", nil, 400, "invalid_contact_id"},
		{"GET", "/api/contacts?session=a&contactId=99999999999@lid", nil, 404, "contact_not_found"},
		{"GET", "/api/contacts/check-exists?session=a", nil, 400, "invalid_phone"},
		{"GET", "/api/contacts/check-exists?session=a&phone=12", nil, 400, "invalid_phone"},
		{"GET", "/api/contacts/check-exists?session=a&phone=123456789@lid", nil, 400, "invalid_phone"},
		{"GET", "/api/contacts/about?session=a&contactId=status@broadcast", nil, 400, "invalid_contact_id"},
		{"GET", "/api/contacts/profile-picture?session=a&contactId=15550000002&refresh=maybe", nil, 400, "invalid_refresh"},
		{"POST", "/api/contacts/block", nil, 415, "unsupported_media_type"},
		{"POST", "/api/contacts/block", "{", 400, "malformed_json"},
		{"POST", "/api/contacts/block", map[string]any{"session": "a"}, 400, "invalid_contact_id"},
		{"POST", "/api/contacts/block", map[string]any{"session": "a", "contactId": 5}, 400, "wrong_type"},
		{"POST", "/api/contacts/block", map[string]any{"session": "a", "contactId": "15550000002", "x": 1}, 400, "unknown_field"},
		{"POST", "/api/contacts/block", map[string]any{"session": "a b", "contactId": "15550000002"}, 400, "invalid_session_name"},
		{"POST", "/api/contacts/block", map[string]any{"session": "a", "contactId": s.chat("a")}, 403, "not_allowed"},
		{"POST", "/api/contacts/unblock", map[string]any{"session": "a", "contactId": "1@c.us"}, 400, "invalid_contact_id"},
		{"GET", "/api/contacts/nonsense/sessions", nil, 400, "invalid_chat_id"},
		{"GET", "/api/a/contacts/xyz", nil, 400, "invalid_contact_id"},
		{"GET", "/api/nope/contacts/15550000002", nil, 404, "session_not_found"},
		{"GET", "/api/a/lids?limit=5000", nil, 400, "invalid_pagination"},
		{"GET", "/api/a/lids?offset=x", nil, 400, "invalid_pagination"},
		{"GET", "/api/a/lids/abc", nil, 400, "invalid_lid"},
		{"GET", "/api/a/lids/15550000001@c.us", nil, 400, "invalid_lid"},
		{"GET", "/api/a/lids/pn/abc", nil, 400, "invalid_phone"},
		{"GET", "/api/a/lids/pn/120363000000000001@g.us", nil, 400, "invalid_phone"},
		{"GET", "/api/nope/lids/count", nil, 404, "session_not_found"},
		{"GET", "/api/nope/lids/pn/12345678901@lid", nil, 404, "session_not_found"},
		{"GET", "/api/idle/lids", nil, 409, "session_not_working"},
	} {
		r := s.call(tc.method, tc.path, tc.body)
		if r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("%s %s %v: %d %s, want %d %s", tc.method, tc.path, tc.body, r.status, r.body, tc.status, tc.code)
		}
	}
}
