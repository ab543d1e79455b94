package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// tinyJPEG is the start of a JPEG file: enough for the sandbox's sniffing.
var tinyJPEG = base64.StdEncoding.EncodeToString([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))

func TestProfileRoutes(t *testing.T) {
	s := newSurface(t, "a", "b")
	getProfile := func() map[string]any {
		t.Helper()
		var p map[string]any
		s.must(200, "GET", "/api/a/profile", nil).json(t, &p)
		return p
	}
	if p := getProfile(); p["id"] != s.chat("a") || p["name"] != "Sandbox "+s.phone["a"] ||
		p["about"] != "Hey there! I am using WhatsApp." || p["picture"] != nil {
		t.Fatalf("default profile: %v", p)
	}
	var me map[string]any
	s.must(200, "GET", "/api/sessions/a/me", nil).json(t, &me)
	if me["id"] != s.chat("a") || me["pushName"] != "Sandbox "+s.phone["a"] {
		t.Fatalf("me before the rename: %v", me)
	}

	var res map[string]any
	s.must(200, "PUT", "/api/a/profile/name", map[string]any{"name": "Ana 🌻"}).json(t, &res)
	if res["success"] != true {
		t.Fatalf("PUT name: %v", res)
	}
	s.must(200, "PUT", "/api/a/profile/status", map[string]any{"status": "Available"})
	s.must(200, "PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"mimetype": "image/jpeg", "data": tinyJPEG, "filename": "me.jpg"}})
	p := getProfile()
	if p["name"] != "Ana 🌻" || p["about"] != "Available" || !strings.HasPrefix(p["picture"].(string), "https://sandbox.wagate.invalid/pictures/"+s.phone["a"]+"/") {
		t.Fatalf("profile after the changes: %v", p)
	}
	// The session reports its new push name (session.status), and /me follows.
	deadline := time.Now().Add(10 * time.Second)
	for {
		me = nil
		s.must(200, "GET", "/api/sessions/a/me", nil).json(t, &me)
		if me["pushName"] == "Ana 🌻" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("me after the rename: %v", me)
		}
		time.Sleep(5 * time.Millisecond)
	}

	s.must(200, "DELETE", "/api/a/profile/picture", nil)
	if p := getProfile(); p["picture"] != nil {
		t.Fatalf("picture after DELETE: %v", p)
	}
	s.must(200, "DELETE", "/api/a/profile/picture", nil) // none to remove: still fine

	// A session never linked has no account: null.
	s.must(201, "POST", "/api/sessions", map[string]any{"name": "fresh", "start": false})
	if r := s.must(200, "GET", "/api/sessions/fresh/me", nil); strings.TrimSpace(string(r.body)) != "null" {
		t.Errorf("me of a session never linked: %s", r.body)
	}
}

func TestProfileBadInput(t *testing.T) {
	s := newSurface(t, "a")
	s.must(201, "POST", "/api/sessions", map[string]any{"name": "idle", "start": false})
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"PUT", "/api/a/profile/name", nil, 415, "unsupported_media_type"},
		{"PUT", "/api/a/profile/name", "[]", 400, "wrong_type"},
		{"PUT", "/api/a/profile/name", map[string]any{}, 400, "invalid_name"},
		{"PUT", "/api/a/profile/name", map[string]any{"name": ""}, 400, "invalid_name"},
		{"PUT", "/api/a/profile/name", map[string]any{"name": strings.Repeat("n", 26)}, 400, "invalid_name"},
		{"PUT", "/api/a/profile/name", map[string]any{"name": "two\nlines"}, 400, "invalid_name"},
		{"PUT", "/api/a/profile/name", map[string]any{"name": "x", "about": "y"}, 400, "unknown_field"},
		{"PUT", "/api/a/profile/name", map[string]any{"name": 7}, 400, "wrong_type"},
		{"PUT", "/api/a/profile/status", map[string]any{"status": ""}, 400, "invalid_status"},
		{"PUT", "/api/a/profile/status", map[string]any{"status": strings.Repeat("s", 140)}, 400, "invalid_status"},
		{"PUT", "/api/a/profile/status", map[string]any{"status": "tab\there"}, 400, "invalid_status"},
		{"PUT", "/api/a/profile/picture", map[string]any{}, 400, "invalid_media"},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{}}, 400, "invalid_media"},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"url": "ftp://x/y.jpg"}}, 400, "invalid_media"},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"data": tinyJPEG}}, 400, "invalid_media"},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"mimetype": "video/mp4", "data": tinyJPEG}}, 400, "invalid_media"},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"mimetype": "image/jpeg", "data": "not base64!"}}, 400, "invalid_media"},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"mimetype": "image/jpeg", "data": base64.StdEncoding.EncodeToString([]byte("plain text"))}}, 422, "invalid_picture"},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"mimetype": "image/jpeg", "url": "https://x.example/p.jpg", "data": tinyJPEG}}, 400, "invalid_media"},
		{"GET", "/api/nope/profile", nil, 404, "session_not_found"},
		{"GET", "/api/idle/profile", nil, 409, "session_not_working"},
		{"PUT", "/api/idle/profile/name", map[string]any{"name": "x"}, 409, "session_not_working"},
		{"GET", "/api/sessions/nope/me", nil, 404, "session_not_found"},
	} {
		r := s.call(tc.method, tc.path, tc.body)
		if r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("%s %s %v: %d %s, want %d %s", tc.method, tc.path, tc.body, r.status, r.body, tc.status, tc.code)
		}
	}
}

// Another tenant's session is 404 session_not_found on every route of contacts,
// profile and LIDs, and changes nothing.
func TestContactsProfileCrossTenant(t *testing.T) {
	s := newSurface(t, "a", "b")
	other := s.createTenant("other")
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/contacts/all?session=a", nil},
		{"GET", "/api/contacts?session=a&contactId=" + s.chat("b"), nil},
		{"GET", "/api/a/contacts/" + s.chat("b"), nil},
		{"GET", "/api/contacts/check-exists?session=a&phone=" + s.phone["b"], nil},
		{"GET", "/api/contacts/about?session=a&contactId=" + s.chat("b"), nil},
		{"GET", "/api/contacts/profile-picture?session=a&contactId=" + s.chat("b"), nil},
		{"POST", "/api/contacts/block", map[string]any{"session": "b", "contactId": s.chat("a")}},
		{"POST", "/api/contacts/unblock", map[string]any{"session": "b", "contactId": s.chat("a")}},
		{"GET", "/api/a/profile", nil},
		{"PUT", "/api/a/profile/name", map[string]any{"name": "Mallory"}},
		{"PUT", "/api/a/profile/status", map[string]any{"status": "pwned"}},
		{"PUT", "/api/a/profile/picture", map[string]any{"file": map[string]any{"url": "https://x.example/p.jpg"}}},
		{"DELETE", "/api/a/profile/picture", nil},
		{"GET", "/api/sessions/a/me", nil},
		{"GET", "/api/a/lids", nil},
		{"GET", "/api/a/lids/count", nil},
		{"GET", "/api/a/lids/123456789012345", nil},
		{"GET", "/api/a/lids/pn/" + s.phone["b"], nil},
		{"GET", "/api/a/lids/pn/123456789012345@lid", nil},
	} {
		r := s.do(tc.method, tc.path, other, tc.body)
		if r.status != 404 || r.errCode() != "session_not_found" {
			t.Errorf("%s %s as another tenant: %d %s, want 404 session_not_found", tc.method, tc.path, r.status, r.body)
		}
	}
	var p map[string]any
	s.must(200, "GET", "/api/a/profile", nil).json(t, &p)
	if p["name"] != "Sandbox "+s.phone["a"] || p["picture"] != nil {
		t.Errorf("another tenant changed a's profile: %v", p)
	}
	var c map[string]any
	s.must(200, "GET", "/api/contacts?session=b&contactId="+s.chat("a"), nil).json(t, &c)
	if c["isBlocked"] != false {
		t.Errorf("another tenant blocked a at b: %v", c)
	}
}

// A Cloud API session has Meta's business profile (about and picture read, about
// set) and nothing else of the area: the rest answers 501 naming provider and
// capability.
func TestCloudAPIProfile(t *testing.T) {
	var mu sync.Mutex
	about := "We answer 9-5"
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		base := "/v23.0/" + e2ePhoneNumberID
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == "GET" && r.URL.Path == base:
			io.WriteString(w, `{"verified_name":"Acme Support","display_phone_number":"+1 555-078-3881","id":"`+e2ePhoneNumberID+`"}`)
		case r.Method == "GET" && r.URL.Path == base+"/whatsapp_business_profile":
			b, _ := json.Marshal(map[string]any{"data": []any{map[string]any{"about": about, "messaging_product": "whatsapp"}}})
			w.Write(b)
		case r.Method == "POST" && r.URL.Path == base+"/whatsapp_business_profile":
			var body map[string]string
			json.NewDecoder(r.Body).Decode(&body)
			about = body["about"]
			io.WriteString(w, `{"success":true}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"message":"Unknown path components","type":"OAuthException","code":2500}}`)
		}
	}))
	t.Cleanup(graph.Close)
	tg := bootYAML(t, t.TempDir(), "  cloudapi:\n    base_url: "+graph.URL+"\n    request_timeout: 5s\n")
	t.Cleanup(tg.stop)
	key := tg.createTenant("acme")
	cfg := map[string]any{"phoneNumberId": e2ePhoneNumberID, "accessToken": e2eToken, "appSecret": e2eAppSecret, "verifyToken": e2eVerifyToken}
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "cloud", "provider": "cloudapi", "config": cfg}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "cloud")

	var p map[string]any
	r := tg.do("GET", "/api/cloud/profile", key, nil)
	r.json(t, &p)
	if r.status != 200 || p["id"] != "15550783881@c.us" || p["name"] != "Acme Support" || p["about"] != "We answer 9-5" || p["picture"] != nil {
		t.Fatalf("cloud profile: %d %s", r.status, r.body)
	}
	if r := tg.do("PUT", "/api/cloud/profile/status", key, map[string]any{"status": "Closed today"}); r.status != 200 {
		t.Fatalf("PUT status: %d %s", r.status, r.body)
	}
	p = nil
	tg.do("GET", "/api/cloud/profile", key, nil).json(t, &p)
	if p["about"] != "Closed today" {
		t.Errorf("about after PUT: %v", p)
	}
	var me map[string]any
	tg.do("GET", "/api/sessions/cloud/me", key, nil).json(t, &me)
	if me["id"] != "15550783881@c.us" || me["pushName"] != "Acme Support" {
		t.Errorf("cloud me: %v", me)
	}
	for _, tc := range []struct {
		method, path, capability string
		body                     any
	}{
		{"PUT", "/api/cloud/profile/name", "profile", map[string]any{"name": "Acme"}},
		{"PUT", "/api/cloud/profile/picture", "profile", map[string]any{"file": map[string]any{"url": "https://x.example/p.jpg"}}},
		{"DELETE", "/api/cloud/profile/picture", "profile", nil},
		{"GET", "/api/contacts/all?session=cloud", "contacts", nil},
		{"GET", "/api/contacts/check-exists?session=cloud&phone=16505551234", "contacts", nil},
		{"POST", "/api/contacts/block", "contacts", map[string]any{"session": "cloud", "contactId": "16505551234"}},
		{"GET", "/api/cloud/lids", "lids", nil},
		{"GET", "/api/cloud/lids/pn/16505551234", "lids", nil},
		{"POST", "/api/cloud/groups", "groups", map[string]any{"name": "Team"}},
		{"GET", "/api/cloud/groups", "groups", nil},
		{"POST", "/api/cloud/groups/120363000000000001@g.us/admin/promote", "groups", map[string]any{"participants": []map[string]string{{"id": "16505551234"}}}},
		{"GET", "/api/cloud/labels", "labels", nil},
		{"POST", "/api/cloud/calls/reject", "calls", map[string]any{"from": "16505551234", "id": "CA1"}},
		{"PUT", "/api/cloud/labels/chats/16505551234@c.us", "labels", map[string]any{"labels": []any{}}},
		{"GET", "/api/cloud/groups/120363000000000001@g.us/picture", "groups", nil},
		{"POST", "/api/cloud/status/text", "status", map[string]any{"text": "Open today"}},
		{"POST", "/api/cloud/status/image", "status", map[string]any{"file": map[string]any{"url": "https://x.example/p.jpg"}}},
		{"POST", "/api/cloud/status/delete", "status", map[string]any{"id": "wamid.X"}},
		{"GET", "/api/cloud/status/privacy", "status", nil},
	} {
		r := tg.do(tc.method, tc.path, key, tc.body)
		var e struct {
			Error struct {
				Code    string         `json:"code"`
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		json.Unmarshal(r.body, &e)
		if r.status != 501 || e.Error.Code != "not_supported_by_provider" || e.Error.Details["provider"] != "cloudapi" || e.Error.Details["capability"] != tc.capability {
			t.Errorf("%s %s: %d %s, want 501 naming cloudapi and %s", tc.method, tc.path, r.status, r.body, tc.capability)
		}
	}
}
