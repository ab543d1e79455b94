package main

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/campaign"
)

// audienceRoutes are every route of lists, opt-outs and campaigns, with {id} and
// {chatId} standing for the resource; TestCampaignRoutesIsolated checks the list
// against the OpenAPI document, so that a new route cannot be left out.
var audienceRoutes = []struct{ method, path string }{
	{"POST", "/api/lists"},
	{"GET", "/api/lists"},
	{"GET", "/api/lists/{listId}"},
	{"DELETE", "/api/lists/{listId}"},
	{"POST", "/api/lists/{listId}/import"},
	{"GET", "/api/lists/{listId}/contacts"},
	{"GET", "/api/lists/{listId}/export"},
	{"DELETE", "/api/lists/{listId}/contacts/{chatId}"},
	{"GET", "/api/optouts"},
	{"POST", "/api/optouts"},
	{"GET", "/api/optouts/{chatId}"},
	{"DELETE", "/api/optouts/{chatId}"},
	{"POST", "/api/campaigns"},
	{"GET", "/api/campaigns"},
	{"GET", "/api/campaigns/{id}"},
	{"DELETE", "/api/campaigns/{id}"},
	{"POST", "/api/campaigns/{id}/start"},
	{"POST", "/api/campaigns/{id}/pause"},
	{"POST", "/api/campaigns/{id}/resume"},
	{"POST", "/api/campaigns/{id}/cancel"},
	{"POST", "/api/campaigns/{id}/test"},
	{"GET", "/api/campaigns/{id}/recipients"},
	{"GET", "/api/campaigns/{id}/recipients.csv"},
}

// Tenant A sees nothing of tenant B's lists, opt-outs and campaigns: each route that
// names one of B's answers A a 404 with the resource's code (never 403, never B's
// data), a campaign cannot be made of B's list or sent through B's session, the
// collections A reads hold none of B's, and B's are untouched. Every route refuses a
// missing or wrong key with 401.
func TestCampaignRoutesIsolated(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	keyA, keyB := tg.createTenant("tenant-a"), tg.createTenant("tenant-b")

	// The table covers every lists/optouts/campaigns route of the OpenAPI document.
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	tg.do("GET", "/api/openapi.json", keyA, nil).json(t, &doc)
	var inDoc, inTable []string
	for p, ops := range doc.Paths {
		if !strings.HasPrefix(p, "/api/lists") && !strings.HasPrefix(p, "/api/optouts") && !strings.HasPrefix(p, "/api/campaigns") {
			continue
		}
		for m := range ops {
			if m := strings.ToUpper(m); m == "GET" || m == "POST" || m == "PUT" || m == "DELETE" || m == "PATCH" {
				inDoc = append(inDoc, m+" "+p)
			}
		}
	}
	for _, rt := range audienceRoutes {
		inTable = append(inTable, rt.method+" "+rt.path)
	}
	sort.Strings(inDoc)
	sort.Strings(inTable)
	if strings.Join(inDoc, "\n") != strings.Join(inTable, "\n") {
		t.Fatalf("audienceRoutes is not the OpenAPI document's routes:\n table:\n%s\n document:\n%s", strings.Join(inTable, "\n"), strings.Join(inDoc, "\n"))
	}

	// B's resources: a session, a list of one contact, an opt-out, a draft campaign.
	if r := tg.do("POST", "/api/sessions", keyB, map[string]any{"name": "b-main", "start": false}); r.status != 201 {
		t.Fatalf("B session: %d %s", r.status, r.body)
	}
	var list struct{ ID string }
	tg.do("POST", "/api/lists", keyB, map[string]any{"name": "b-list"}).json(t, &list)
	if r := tg.doHeaders("POST", "/api/lists/"+list.ID+"/import", keyB, "phone,name\n15550000001,Bo\n", "Content-Type", "text/csv"); r.status != 200 {
		t.Fatalf("B import: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/optouts", keyB, map[string]any{"chatId": "15550000002"}); r.status != 200 {
		t.Fatalf("B opt-out: %d %s", r.status, r.body)
	}
	var cmp campaign.Campaign
	tg.do("POST", "/api/campaigns", keyB, map[string]any{"name": "b", "listId": list.ID,
		"message": map[string]any{"type": "text", "text": "hi"}}).json(t, &cmp)
	if cmp.ID == "" {
		t.Fatal("B's campaign not created")
	}

	fill := func(p string) string {
		return strings.NewReplacer("{listId}", list.ID, "{id}", cmp.ID, "{chatId}", "15550000001").Replace(p)
	}
	bodies := map[string]any{
		"POST /api/lists":                 map[string]any{"name": "x"},
		"POST /api/optouts":               map[string]any{"chatId": "15550000003"},
		"POST /api/campaigns":             map[string]any{"name": "x", "listId": list.ID, "message": map[string]any{"type": "text", "text": "hi"}},
		"POST /api/campaigns/{id}/test":   map[string]any{"chatId": "15550000001"},
		"POST /api/lists/{listId}/import": nil,
	}
	for _, rt := range audienceRoutes {
		path := fill(rt.path)
		body := bodies[rt.method+" "+rt.path]
		call := func(key string) resp {
			if strings.HasSuffix(rt.path, "/import") {
				return tg.doHeaders(rt.method, path, key, "phone\n15550000009\n", "Content-Type", "text/csv")
			}
			return tg.do(rt.method, path, key, body)
		}
		if r := call(""); r.status != 401 || r.errCode() != "unauthorized" {
			t.Errorf("no key on %s %s: %d %s, want 401 unauthorized", rt.method, path, r.status, r.body)
		}
		if r := call(keyA + "x"); r.status != 401 {
			t.Errorf("wrong key on %s %s: %d %s, want 401", rt.method, path, r.status, r.body)
		}
		var want string
		switch {
		case strings.Contains(rt.path, "{listId}"):
			want = "list_not_found"
		case strings.Contains(rt.path, "{id}"):
			want = "campaign_not_found"
		case strings.Contains(rt.path, "/optouts/{chatId}"):
			want = "optout_not_found" // B's opt-out of 15550000001 is not A's
		case rt.path == "/api/campaigns" && rt.method == "POST":
			want = "list_not_found" // a campaign of B's list
		default:
			continue // collections: read below
		}
		r := call(keyA)
		if r.status != 404 || r.errCode() != want {
			t.Errorf("A on B's %s %s: %d %s, want 404 %s", rt.method, path, r.status, r.body, want)
		}
		if strings.Contains(string(r.body), "15550000001") || strings.Contains(string(r.body), "b-list") {
			t.Errorf("A on B's %s %s: the answer shows B's data: %s", rt.method, path, r.body)
		}
	}
	if r := tg.do("POST", "/api/optouts", keyB, map[string]any{"chatId": "15550000001"}); r.status != 200 {
		t.Fatalf("B opt-out: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/optouts/15550000001", keyA, nil); r.status != 404 || r.errCode() != "optout_not_found" {
		t.Errorf("A reads B's opt-out: %d %s", r.status, r.body)
	}

	// A's own list, campaign and collections.
	var own struct{ ID string }
	tg.do("POST", "/api/lists", keyA, map[string]any{"name": "a-list"}).json(t, &own)
	tg.doHeaders("POST", "/api/lists/"+own.ID+"/import", keyA, "phone\n15550000005\n", "Content-Type", "text/csv")
	if r := tg.do("POST", "/api/campaigns", keyA, map[string]any{"name": "a", "listId": own.ID, "sessions": []string{"b-main"},
		"message": map[string]any{"type": "text", "text": "hi"}}); r.status != 400 || r.errCode() != "invalid_sessions" {
		t.Errorf("A's campaign through B's session: %d %s, want 400 invalid_sessions", r.status, r.body)
	}
	var mine campaign.Campaign
	tg.do("POST", "/api/campaigns", keyA, map[string]any{"name": "a", "listId": own.ID,
		"message": map[string]any{"type": "text", "text": "hi"}}).json(t, &mine)
	if r := tg.do("POST", "/api/campaigns/"+mine.ID+"/test", keyA, map[string]any{"chatId": "15550000005", "session": "b-main"}); r.status != 404 || r.errCode() != "session_not_found" {
		t.Errorf("A's test send through B's session: %d %s, want 404 session_not_found", r.status, r.body)
	}
	for _, p := range []string{"/api/lists", "/api/optouts", "/api/campaigns"} {
		r := tg.do("GET", p, keyA, nil)
		if r.status != 200 || strings.Contains(string(r.body), list.ID) || strings.Contains(string(r.body), cmp.ID) ||
			strings.Contains(string(r.body), "1555000000") && p == "/api/optouts" {
			t.Errorf("A's %s shows B's: %d %s", p, r.status, r.body)
		}
	}

	// B's are untouched.
	if r := tg.do("GET", "/api/lists/"+list.ID, keyB, nil); r.status != 200 || !strings.Contains(string(r.body), `"count":1`) {
		t.Errorf("B's list after A: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/campaigns/"+cmp.ID, keyB, nil); r.status != 200 || !strings.Contains(string(r.body), `"status":"draft"`) {
		t.Errorf("B's campaign after A: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/optouts/15550000002", keyB, nil); r.status != 200 {
		t.Errorf("B's opt-out after A: %d %s", r.status, r.body)
	}
}

// Bad input on every campaign route is a 4xx with a stable code, never a 500.
func TestCampaignBadInput(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `campaigns:
  max_campaigns: 4
`)
	key := tg.createTenant("acme")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main", "start": false}); r.status != 201 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	var list, empty struct{ ID string }
	tg.do("POST", "/api/lists", key, map[string]any{"name": "l"}).json(t, &list)
	tg.do("POST", "/api/lists", key, map[string]any{"name": "empty"}).json(t, &empty)
	tg.doHeaders("POST", "/api/lists/"+list.ID+"/import", key, "phone,name,city\n15550000001,Ana,Lisbon\n", "Content-Type", "text/csv")
	valid := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"name": "promo", "listId": list.ID, "message": map[string]any{"type": "text", "text": "Hi {{name}}"}}
		if mod != nil {
			mod(m)
		}
		return m
	}
	msg := func(m map[string]any) func(map[string]any) { return func(b map[string]any) { b["message"] = m } }
	set := func(k string, v any) func(map[string]any) { return func(b map[string]any) { b[k] = v } }
	var draft, running campaign.Campaign
	tg.do("POST", "/api/campaigns", key, valid(nil)).json(t, &draft)
	tg.do("POST", "/api/campaigns", key, valid(set("start", true))).json(t, &running) // waits: no session is WORKING
	var onEmpty campaign.Campaign
	tg.do("POST", "/api/campaigns", key, valid(set("listId", empty.ID))).json(t, &onEmpty)
	d, rn := "/api/campaigns/"+draft.ID, "/api/campaigns/"+running.ID

	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"malformed json", "POST", "/api/campaigns", `{"name":`, 400, "malformed_json"},
		{"not an object", "POST", "/api/campaigns", `[1]`, 400, "wrong_type"},
		{"empty body", "POST", "/api/campaigns", "", 400, "empty_body"},
		{"unknown field", "POST", "/api/campaigns", valid(set("bogus", 1)), 400, "unknown_field"},
		{"wrong type", "POST", "/api/campaigns", valid(set("maxFailures", "ten")), 400, "wrong_type"},
		{"oversized", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "text", "text": strings.Repeat("a", 70*1024)})), 413, "payload_too_large"},
		{"no list", "POST", "/api/campaigns", valid(set("listId", "")), 400, "invalid_campaign"},
		{"unknown list", "POST", "/api/campaigns", valid(set("listId", "lst_nope")), 404, "list_not_found"},
		{"not a list id", "POST", "/api/campaigns", valid(set("listId", "../x")), 404, "list_not_found"},
		{"no name", "POST", "/api/campaigns", valid(set("name", " ")), 400, "invalid_campaign"},
		{"long name", "POST", "/api/campaigns", valid(set("name", strings.Repeat("n", 101))), 400, "invalid_campaign"},
		{"no message type", "POST", "/api/campaigns", valid(msg(map[string]any{"text": "hi"})), 400, "invalid_campaign"},
		{"unknown message type", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "sticker2", "text": "hi"})), 400, "invalid_campaign"},
		{"empty text", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "text", "text": ""})), 400, "invalid_campaign"},
		{"image without file", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "image", "caption": "x"})), 400, "invalid_media"},
		{"location without place", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "location"})), 400, "invalid_campaign"},
		{"template without name", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "template", "language": "en"})), 400, "invalid_campaign"},
		{"unknown variable", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "text", "text": "{{surname}}"})), 400, "unknown_variable"},
		{"unknown column", "POST", "/api/campaigns", valid(msg(map[string]any{"type": "text", "text": "{{attrs.zip}}"})), 400, "unknown_variable"},
		{"unknown session", "POST", "/api/campaigns", valid(set("sessions", []string{"nope"})), 400, "invalid_sessions"},
		{"negative rate", "POST", "/api/campaigns", valid(set("rate", map[string]any{"perMinute": -1})), 400, "invalid_campaign"},
		{"rate too high", "POST", "/api/campaigns", valid(set("rate", map[string]any{"perMinute": 100001})), 400, "invalid_campaign"},
		{"bad zone", "POST", "/api/campaigns", valid(set("window", map[string]any{"timezone": "Mars/Olympus"})), 400, "invalid_campaign"},
		{"zone path", "POST", "/api/campaigns", valid(set("window", map[string]any{"timezone": "../../etc/passwd"})), 400, "invalid_campaign"},
		{"from after to", "POST", "/api/campaigns", valid(set("window", map[string]any{"from": "18:00", "to": "09:00"})), 400, "invalid_campaign"},
		{"from without to", "POST", "/api/campaigns", valid(set("window", map[string]any{"from": "09:00"})), 400, "invalid_campaign"},
		{"bad time", "POST", "/api/campaigns", valid(set("window", map[string]any{"from": "9", "to": "25:00"})), 400, "invalid_campaign"},
		{"bad day", "POST", "/api/campaigns", valid(set("window", map[string]any{"days": []string{"someday"}})), 400, "invalid_campaign"},
		{"negative max failures", "POST", "/api/campaigns", valid(set("maxFailures", -1)), 400, "invalid_campaign"},
		{"bad startAt", "POST", "/api/campaigns", valid(set("startAt", "tomorrow")), 400, "invalid_value"},
		{"start an empty list", "POST", "/api/campaigns/" + onEmpty.ID + "/start", nil, 422, "empty_list"},
		{"bad status filter", "GET", "/api/campaigns?status=done", nil, 400, "invalid_status"},
		{"unknown campaign", "GET", "/api/campaigns/cmp_nope", nil, 404, "campaign_not_found"},
		{"not a campaign id", "GET", "/api/campaigns/lst_1", nil, 404, "campaign_not_found"},
		{"delete unknown", "DELETE", "/api/campaigns/cmp_nope", nil, 404, "campaign_not_found"},
		{"delete running", "DELETE", rn, nil, 409, "invalid_state"},
		{"start running", "POST", rn + "/start", nil, 409, "invalid_state"},
		{"resume running", "POST", rn + "/resume", nil, 409, "invalid_state"},
		{"pause a draft", "POST", d + "/pause", nil, 409, "invalid_state"},
		{"resume a draft", "POST", d + "/resume", nil, 409, "invalid_state"},
		{"start unknown", "POST", "/api/campaigns/cmp_nope/start", nil, 404, "campaign_not_found"},
		{"pause unknown", "POST", "/api/campaigns/cmp_nope/pause", nil, 404, "campaign_not_found"},
		{"resume unknown", "POST", "/api/campaigns/cmp_nope/resume", nil, 404, "campaign_not_found"},
		{"cancel unknown", "POST", "/api/campaigns/cmp_nope/cancel", nil, 404, "campaign_not_found"},
		{"test no chat", "POST", d + "/test", map[string]any{}, 400, "invalid_chat_id"},
		{"test bad chat", "POST", d + "/test", map[string]any{"chatId": "abc"}, 400, "invalid_chat_id"},
		{"test unknown field", "POST", d + "/test", map[string]any{"chatId": "15550000001", "x": 1}, 400, "unknown_field"},
		{"test unknown session", "POST", d + "/test", map[string]any{"chatId": "15550000001", "session": "nope"}, 404, "session_not_found"},
		{"test unknown campaign", "POST", "/api/campaigns/cmp_nope/test", map[string]any{"chatId": "15550000001"}, 404, "campaign_not_found"},
		{"recipients bad status", "GET", d + "/recipients?status=gone", nil, 400, "invalid_status"},
		{"recipients limit zero", "GET", d + "/recipients?limit=0", nil, 400, "invalid_pagination"},
		{"recipients limit too big", "GET", d + "/recipients?limit=1001", nil, 400, "invalid_pagination"},
		{"recipients bad cursor", "GET", d + "/recipients?cursor=abc", nil, 400, "invalid_cursor"},
		{"recipients unknown", "GET", "/api/campaigns/cmp_nope/recipients", nil, 404, "campaign_not_found"},
		{"csv bad status", "GET", d + "/recipients.csv?status=gone", nil, 400, "invalid_status"},
		{"csv unknown", "GET", "/api/campaigns/cmp_nope/recipients.csv", nil, 404, "campaign_not_found"},
		{"wrong method", "PUT", d, map[string]any{}, 405, "method_not_allowed"},
		{"admin key", "GET", "/api/campaigns", nil, 403, "tenant_key_required"},
	}
	for _, tc := range cases {
		k := key
		if tc.name == "admin key" {
			k = adminKey
		}
		if r := tg.do(tc.method, tc.path, k, tc.body); r.status != tc.status || r.errCode() != tc.code {
			t.Errorf("%s: %s %s: %d %s, want %d %s", tc.name, tc.method, tc.path, r.status, r.body, tc.status, tc.code)
		}
	}
	// campaigns.max_campaigns: 4 not over; the fourth is made, the fifth refused.
	if r := tg.do("POST", "/api/campaigns", key, valid(nil)); r.status != 201 {
		t.Fatalf("fourth campaign: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/campaigns", key, valid(nil)); r.status != 409 || r.errCode() != "too_many_campaigns" {
		t.Errorf("fifth campaign: %d %s, want 409 too_many_campaigns", r.status, r.body)
	}
	// A cancelled one is over: room again.
	if r := tg.do("POST", d+"/cancel", key, nil); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", d+"/cancel", key, nil); r.status != 409 || r.errCode() != "invalid_state" {
		t.Errorf("cancel twice: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/campaigns", key, valid(nil)); r.status != 201 {
		t.Errorf("a campaign after one is cancelled: %d %s", r.status, r.body)
	}
}
