package main

import (
	"strings"
	"testing"
)

// groupCreated is the part of a group answer the tests read.
type groupCreated struct {
	ID           string `json:"id"`
	Subject      string `json:"subject"`
	Participants []struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"participants"`
	MessagesAdminOnly bool `json:"messagesAdminOnly"`
}

func (g groupCreated) role(id string) string {
	for _, p := range g.Participants {
		if p.ID == id {
			return p.Role
		}
	}
	return "left"
}

// The must-show of groups: A creates a group with B and C, promotes B; a message to the
// group reaches B and C with A as participant; a member that is not an admin is
// refused; a subject change and a leave reach the others.
func TestGroups(t *testing.T) {
	s := newChatsSurface(t, "a", "b", "c")
	var g groupCreated
	s.must(201, "POST", "/api/a/groups", map[string]any{"name": "Team",
		"participants": []map[string]string{{"id": s.chat("b")}, {"id": s.phone["c"]}}}).json(t, &g)
	if !strings.HasSuffix(g.ID, "@g.us") || g.Subject != "Team" || g.role(s.chat("a")) != "superadmin" ||
		g.role(s.chat("b")) != "participant" || g.role(s.chat("c")) != "participant" {
		t.Fatalf("created %+v", g)
	}
	s.waitEach("group.v2.join", []string{"b", "c"}, func(p map[string]any) bool { return p["group"].(map[string]any)["id"] == g.ID })
	base := "/api/a/groups/" + g.ID

	s.must(200, "POST", base+"/admin/promote", map[string]any{"participants": []map[string]string{{"id": s.chat("b")}}})
	s.wait("c", "group.v2.participants", func(p map[string]any) bool {
		ps := p["participants"].([]any)
		return p["type"] == "promote" && ps[0].(map[string]any)["id"] == s.chat("b") && ps[0].(map[string]any)["role"] == "admin"
	})
	var got groupCreated
	s.must(200, "GET", "/api/c/groups/"+g.ID, nil).json(t, &got)
	if got.role(s.chat("b")) != "admin" {
		t.Fatalf("c sees %+v", got)
	}

	s.must(202, "POST", "/api/sendText", map[string]any{"session": "a", "chatId": g.ID, "text": "hello team"})
	for who, p := range s.waitEach("message", []string{"b", "c"}, func(p map[string]any) bool { return p["body"] == "hello team" }) {
		if p["chatId"] != g.ID || p["from"] != g.ID || p["participant"] != s.chat("a") || p["fromMe"] != false {
			t.Fatalf("%s got %v", who, p)
		}
	}

	// C is not an admin.
	r := s.call("POST", "/api/c/groups/"+g.ID+"/participants/remove", map[string]any{"participants": []map[string]string{{"id": s.chat("b")}}})
	if r.status != 403 || !strings.Contains(string(r.body), `"not_allowed"`) {
		t.Fatalf("remove by a member: %d %s", r.status, r.body)
	}
	s.must(200, "PUT", "/api/b/groups/"+g.ID+"/settings/security/messages-admin-only", map[string]any{"adminsOnly": true})
	var on struct {
		AdminsOnly bool `json:"adminsOnly"`
	}
	s.must(200, "GET", "/api/c/groups/"+g.ID+"/settings/security/messages-admin-only", nil).json(t, &on)
	if !on.AdminsOnly {
		t.Fatal("messages-admin-only not on")
	}
	s.must(200, "PUT", base+"/subject", map[string]any{"subject": "Team 2"})
	s.wait("c", "group.v2.update", func(p map[string]any) bool { return p["group"].(map[string]any)["subject"] == "Team 2" })

	// The picture: none, set by an admin (seen by C, with the change as an event), removed.
	var pic struct {
		URL *string `json:"url"`
	}
	s.must(200, "GET", "/api/c/groups/"+g.ID+"/picture", nil).json(t, &pic)
	if pic.URL != nil {
		t.Fatalf("a new group has picture %q", *pic.URL)
	}
	s.must(200, "PUT", base+"/picture", map[string]any{"file": map[string]string{"url": "https://example.com/team.jpg"}})
	s.wait("c", "group.v2.update", func(p map[string]any) bool { return p["group"].(map[string]any)["pictureId"] == "1" })
	s.must(200, "GET", "/api/c/groups/"+g.ID+"/picture?refresh=true", nil).json(t, &pic)
	if pic.URL == nil || *pic.URL != "https://example.com/team.jpg" {
		t.Fatalf("picture after set: %v", pic.URL)
	}
	r = s.call("PUT", base+"/picture", map[string]any{"file": map[string]string{"mimetype": "image/jpeg", "data": "bm90IGFuIGltYWdl"}})
	if r.status != 422 || !strings.Contains(string(r.body), `"invalid_picture"`) {
		t.Fatalf("a picture that is no image: %d %s", r.status, r.body)
	}
	s.must(200, "DELETE", base+"/picture", nil)
	s.must(200, "GET", "/api/c/groups/"+g.ID+"/picture", nil).json(t, &pic)
	if pic.URL != nil {
		t.Fatalf("picture after delete: %q", *pic.URL)
	}

	// Invites: the link, join-info and join by another number after leaving.
	var link string
	s.must(200, "GET", base+"/invite-code", nil).json(t, &link)
	if !strings.HasPrefix(link, "https://chat.whatsapp.com/") {
		t.Fatalf("invite link %q", link)
	}
	s.must(200, "POST", "/api/c/groups/"+g.ID+"/leave", nil)
	s.wait("c", "group.v2.leave", nil)
	s.wait("a", "group.v2.participants", func(p map[string]any) bool { return p["type"] == "leave" })
	s.must(404, "GET", "/api/c/groups/"+g.ID, nil)
	var info groupCreated
	s.must(200, "GET", "/api/c/groups/join-info?code="+strings.TrimPrefix(link, "https://chat.whatsapp.com/"), nil).json(t, &info)
	if info.ID != g.ID || info.Subject != "Team 2" {
		t.Fatalf("join-info %+v", info)
	}
	var joined struct {
		ID string `json:"id"`
	}
	s.must(200, "POST", "/api/c/groups/join", map[string]any{"code": link}).json(t, &joined)
	if joined.ID != g.ID {
		t.Fatalf("joined %v", joined)
	}
	var n struct {
		Count int `json:"count"`
	}
	s.must(200, "GET", "/api/c/groups/count", nil).json(t, &n)
	var list []groupCreated
	s.must(200, "GET", "/api/a/groups?exclude=participants&sortBy=subject", nil).json(t, &list)
	if n.Count != 1 || len(list) != 1 || list[0].ID != g.ID || list[0].Participants != nil {
		t.Fatalf("count %d, list %+v", n.Count, list)
	}
	var added struct {
		Results []struct {
			ID    string `json:"id"`
			Error string `json:"error"`
		} `json:"results"`
	}
	s.must(200, "POST", base+"/participants/add", map[string]any{"participants": []map[string]string{{"id": s.chat("c")}}}).json(t, &added)
	if len(added.Results) != 1 || added.Results[0].ID != s.chat("c") || added.Results[0].Error != "already_participant" {
		t.Fatalf("adding a member again: %+v", added)
	}
}

// Bad input on the group routes: 4xx with a stable code, and another tenant's session
// is 404 on each.
func TestGroupsBadInput(t *testing.T) {
	s := newChatsSurface(t, "a")
	long := strings.Repeat("x", 101)
	g := "/api/a/groups/120363000000000001@g.us"
	one := map[string]any{"participants": []map[string]string{{"id": "15550000002"}}}
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/api/a/groups", map[string]any{"participants": []any{}}, 400, "invalid_name"},
		{"POST", "/api/a/groups", map[string]any{"name": long}, 400, "invalid_name"},
		{"POST", "/api/a/groups", map[string]any{"name": "   "}, 400, "invalid_name"},
		{"POST", "/api/a/groups", map[string]any{"name": "x", "participants": []map[string]string{{"id": "nope"}}}, 400, "invalid_participants"},
		{"POST", "/api/a/groups", map[string]any{"name": "x", "participants": []map[string]string{{"id": "120363000000000001@g.us"}}}, 400, "invalid_participants"},
		{"POST", "/api/a/groups", map[string]any{"name": "x", "participants": make([]map[string]string, 1025)}, 400, "invalid_participants"},
		{"POST", "/api/a/groups", map[string]any{"name": "x", "participants": "b"}, 400, "wrong_type"},
		{"POST", "/api/a/groups", map[string]any{"name": "x", "extra": 1}, 400, "unknown_field"},
		{"GET", "/api/a/groups?sortBy=size", nil, 400, "invalid_sort"},
		{"GET", "/api/a/groups?limit=0", nil, 400, "invalid_pagination"},
		{"GET", "/api/a/groups?exclude=everything", nil, 400, "invalid_exclude"},
		{"GET", "/api/a/groups/15550000002@c.us", nil, 400, "invalid_group_id"},
		{"GET", "/api/a/groups/nope", nil, 400, "invalid_group_id"},
		{"GET", g, nil, 404, "group_not_found"},
		{"POST", g + "/leave", nil, 404, "group_not_found"},
		{"PUT", g + "/subject", map[string]any{"subject": ""}, 400, "invalid_subject"},
		{"PUT", g + "/subject", map[string]any{"subject": long}, 400, "invalid_subject"},
		{"PUT", g + "/description", map[string]any{"description": strings.Repeat("d", 2049)}, 400, "invalid_description"},
		{"PUT", g + "/description", map[string]any{"description": "ok"}, 404, "group_not_found"},
		{"PUT", g + "/settings/security/info-admin-only", map[string]any{"adminsOnly": "yes"}, 400, "wrong_type"},
		{"POST", g + "/participants/add", map[string]any{"participants": []any{}}, 400, "invalid_participants"},
		{"POST", g + "/participants/add", one, 404, "group_not_found"},
		{"POST", g + "/admin/demote", map[string]any{}, 400, "invalid_participants"},
		{"GET", g + "/picture?refresh=maybe", nil, 400, "invalid_refresh"},
		{"GET", g + "/picture", nil, 404, "group_not_found"},
		{"PUT", g + "/picture", map[string]any{}, 400, "invalid_media"},
		{"PUT", g + "/picture", map[string]any{"file": map[string]string{"url": "https://example.com/a.pdf", "mimetype": "application/pdf"}}, 400, "invalid_media"},
		{"PUT", g + "/picture", map[string]any{"file": map[string]string{"url": "https://example.com/a.jpg"}}, 404, "group_not_found"},
		{"DELETE", g + "/picture", nil, 404, "group_not_found"},
		{"DELETE", "/api/a/groups/nope/picture", nil, 400, "invalid_group_id"},
		{"GET", "/api/a/groups/join-info", nil, 400, "invalid_invite_code"},
		{"GET", "/api/a/groups/join-info?code=a%20b", nil, 400, "invalid_invite_code"},
		{"GET", "/api/a/groups/join-info?code=unknown", nil, 404, "invite_not_found"},
		{"POST", "/api/a/groups/join", map[string]any{"code": "https://chat.whatsapp.com/"}, 400, "invalid_invite_code"},
		{"POST", "/api/a/groups/join", map[string]any{"code": "unknown"}, 404, "invite_not_found"},
		{"GET", "/api/nope/groups", nil, 404, "session_not_found"},
	} {
		r := s.call(c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(string(r.body), `"`+c.code+`"`) {
			t.Errorf("%s %s %v: %d %s; want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}

	var created groupCreated
	s.must(201, "POST", "/api/a/groups", map[string]any{"name": "mine"}).json(t, &created)
	other := s.createTenant("globex")
	mine := "/api/a/groups/" + created.ID
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/a/groups", map[string]any{"name": "x"}},
		{"GET", "/api/a/groups", nil},
		{"GET", "/api/a/groups/count", nil},
		{"GET", "/api/a/groups/join-info?code=abc", nil},
		{"POST", "/api/a/groups/join", map[string]any{"code": "abc"}},
		{"GET", mine, nil},
		{"GET", mine + "/participants", nil},
		{"POST", mine + "/leave", nil},
		{"PUT", mine + "/subject", map[string]any{"subject": "x"}},
		{"PUT", mine + "/description", map[string]any{"description": "x"}},
		{"PUT", mine + "/settings/security/info-admin-only", map[string]any{"adminsOnly": true}},
		{"GET", mine + "/settings/security/messages-admin-only", nil},
		{"GET", mine + "/picture", nil},
		{"PUT", mine + "/picture", map[string]any{"file": map[string]string{"url": "https://example.com/a.jpg"}}},
		{"DELETE", mine + "/picture", nil},
		{"GET", mine + "/invite-code", nil},
		{"POST", mine + "/invite-code/revoke", nil},
		{"POST", mine + "/participants/add", one},
		{"POST", mine + "/participants/remove", one},
		{"POST", mine + "/admin/promote", one},
		{"POST", mine + "/admin/demote", one},
	} {
		r := s.do(c.method, c.path, other, c.body)
		if r.status != 404 || !strings.Contains(string(r.body), "session_not_found") {
			t.Errorf("%s %s as another tenant: %d %s", c.method, c.path, r.status, r.body)
		}
	}
}
