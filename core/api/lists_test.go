package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/audience"
	"github.com/wagate/wagate/core/store"
)

// newAudience opens an in-memory store and an audience service on it.
func newAudience(t testing.TB, o audience.Options) *audience.Service {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return audience.New(db, o)
}

// newListsEnv is a test server with the audience routes.
func newListsEnv(t *testing.T, o audience.Options) *testEnv {
	return newEnv(t, func(eo *envOptions) {
		eo.deps = func(d *Deps) {
			o.Publish = d.Bus.Publish
			d.Audience = newAudience(t, o)
		}
	})
}

// createList makes a list through the API and returns its id.
func (e *testEnv) createList(key, name string) string {
	e.t.Helper()
	resp, b := e.do("POST", "/api/lists", key, `{"name":"`+name+`"}`)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("creating list: %d %s", resp.StatusCode, b)
	}
	var l audience.List
	if err := json.Unmarshal(b, &l); err != nil {
		e.t.Fatal(err)
	}
	return l.ID
}

func TestListsRoutes(t *testing.T) {
	e := newListsEnv(t, audience.Options{})
	key := e.createTenant("acme")
	id := e.createList(key, "customers")

	resp, b := e.do("POST", "/api/lists/"+id+"/import", key, "phone,name,city\n+1 555 000 0002,Bo,Porto\n15550000001,Ana,Lisbon\nnope,X,y\n",
		"Content-Type", "text/csv")
	if resp.StatusCode != 200 {
		t.Fatalf("import: %d %s", resp.StatusCode, b)
	}
	var rep audience.ImportReport
	_ = json.Unmarshal(b, &rep)
	if rep.Imported != 2 || rep.Invalid != 1 || rep.Count != 2 || len(rep.Errors) != 1 || rep.Errors[0].Line != 4 || rep.Errors[0].Code != "invalid_phone" {
		t.Errorf("report %s", b)
	}
	resp, b = e.do("POST", "/api/lists/"+id+"/import", key, "{\"chatId\":\"15550000003\",\"attrs\":{\"tier\":\"gold\"}}\n", "Content-Type", "application/x-ndjson")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"imported":1`) {
		t.Errorf("ndjson import: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("POST", "/api/lists/"+id+"/import", key, `[{"chatId":"15550000004","name":"D"}]`, "Content-Type", "application/json; charset=utf-8")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"count":4`) {
		t.Errorf("json import: %d %s", resp.StatusCode, b)
	}

	resp, b = e.do("GET", "/api/lists/"+id, key, "")
	var l audience.List
	_ = json.Unmarshal(b, &l)
	if resp.StatusCode != 200 || l.Count != 4 || strings.Join(l.Columns, ",") != "city,tier" || l.Name != "customers" {
		t.Errorf("get list: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/api/lists", key, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `[{"id":"`+id) {
		t.Errorf("lists: %d %s", resp.StatusCode, b)
	}

	// Paging: 2 + 2, then the end.
	var page listContactsPage
	resp, b = e.do("GET", "/api/lists/"+id+"/contacts?limit=2", key, "")
	_ = json.Unmarshal(b, &page)
	if resp.StatusCode != 200 || len(page.Contacts) != 2 || page.Next != "15550000002@c.us" || page.Contacts[0].Name != "Ana" {
		t.Fatalf("page 1: %d %s", resp.StatusCode, b)
	}
	resp, b = e.do("GET", "/api/lists/"+id+"/contacts?limit=2&cursor="+page.Next, key, "")
	page = listContactsPage{}
	_ = json.Unmarshal(b, &page)
	if resp.StatusCode != 200 || len(page.Contacts) != 2 || page.Next != "" {
		t.Fatalf("page 2: %d %s", resp.StatusCode, b)
	}

	resp, b = e.do("GET", "/api/lists/"+id+"/export", key, "")
	want := "chatId,name,city,tier\n15550000001@c.us,Ana,Lisbon,\n15550000002@c.us,Bo,Porto,\n15550000003@c.us,,,gold\n15550000004@c.us,D,,\n"
	if resp.StatusCode != 200 || string(b) != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("export: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}

	resp, b = e.do("DELETE", "/api/lists/"+id+"/contacts/+1%20555%20000%200001", key, "")
	if resp.StatusCode != 200 || string(bytes.TrimSpace(b)) != `{"success":true}` {
		t.Errorf("remove contact: %d %s", resp.StatusCode, b)
	}
	if _, b = e.do("GET", "/api/lists/"+id, key, ""); !strings.Contains(string(b), `"count":3`) {
		t.Errorf("after remove: %s", b)
	}
	if resp, b = e.do("DELETE", "/api/lists/"+id, key, ""); resp.StatusCode != 200 {
		t.Errorf("delete: %d %s", resp.StatusCode, b)
	}
	if resp, b = e.do("GET", "/api/lists/"+id, key, ""); resp.StatusCode != 404 || errorOf(t, b).Code != "list_not_found" {
		t.Errorf("after delete: %d %s", resp.StatusCode, b)
	}
}

func TestListsBadInput(t *testing.T) {
	inUse := ""
	e := newListsEnv(t, audience.Options{MaxLists: 2, InUse: func(_, id string) bool { return id == inUse }})
	key := e.createTenant("acme")
	id := e.createList(key, "a")
	inUse = e.createList(key, "busy")
	l := "/api/lists/" + id
	csv := []string{"Content-Type", "text/csv"}
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"too many lists", "POST", "/api/lists", `{"name":"c"}`, nil, 409, "too_many_lists"},
		{"empty name", "POST", "/api/lists", `{"name":""}`, nil, 400, "invalid_name"},
		{"blank name", "POST", "/api/lists", `{"name":"  "}`, nil, 400, "invalid_name"},
		{"long name", "POST", "/api/lists", `{"name":"` + strings.Repeat("x", 101) + `"}`, nil, 400, "invalid_name"},
		{"unknown field", "POST", "/api/lists", `{"name":"a","x":1}`, nil, 400, "unknown_field"},
		{"no body", "POST", "/api/lists", ``, []string{"Content-Type", "application/json"}, 400, "empty_body"},
		{"unknown list", "GET", "/api/lists/lst_nope", "", nil, 404, "list_not_found"},
		{"not a list id", "GET", "/api/lists/x", "", nil, 404, "list_not_found"},
		{"delete unknown", "DELETE", "/api/lists/lst_nope", "", nil, 404, "list_not_found"},
		{"delete in use", "DELETE", "/api/lists/" + inUse, "", nil, 409, "list_in_use"},
		{"import unknown list", "POST", "/api/lists/lst_nope/import", "phone\n1555000001\n", csv, 404, "list_not_found"},
		{"import text/plain", "POST", l + "/import", "phone\n", []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"import no type", "POST", l + "/import", "", nil, 415, "unsupported_media_type"},
		{"limit zero", "GET", l + "/contacts?limit=0", "", nil, 400, "invalid_pagination"},
		{"limit too big", "GET", l + "/contacts?limit=1001", "", nil, 400, "invalid_pagination"},
		{"limit not a number", "GET", l + "/contacts?limit=ten", "", nil, 400, "invalid_pagination"},
		{"bad cursor", "GET", l + "/contacts?cursor=abc", "", nil, 400, "invalid_cursor"},
		{"cursor not canonical", "GET", l + "/contacts?cursor=15550000001", "", nil, 400, "invalid_cursor"},
		{"contacts unknown list", "GET", "/api/lists/lst_nope/contacts", "", nil, 404, "list_not_found"},
		{"export unknown list", "GET", "/api/lists/lst_nope/export", "", nil, 404, "list_not_found"},
		{"remove bad chat", "DELETE", l + "/contacts/abc", "", nil, 400, "invalid_chat_id"},
		{"remove group", "DELETE", l + "/contacts/120363012345678901@g.us", "", nil, 400, "invalid_chat_id"},
		{"remove from unknown list", "DELETE", "/api/lists/lst_nope/contacts/15550000001", "", nil, 404, "list_not_found"},
		{"optout no chat", "POST", "/api/optouts", `{}`, nil, 400, "missing_field"},
		{"optout both", "POST", "/api/optouts", `{"chatId":"15550000001","chatIds":["15550000002"]}`, nil, 400, "invalid_chat_id"},
		{"optout bad chat", "POST", "/api/optouts", `{"chatIds":["15550000002","x"]}`, nil, 400, "invalid_chat_id"},
		{"optout group", "POST", "/api/optouts", `{"chatId":"120363012345678901@g.us"}`, nil, 400, "invalid_chat_id"},
		{"optout wrong type", "POST", "/api/optouts", `{"chatIds":"15550000001"}`, nil, 400, "wrong_type"},
		{"optout unknown", "GET", "/api/optouts/15550000009", "", nil, 404, "optout_not_found"},
		{"optout get bad chat", "GET", "/api/optouts/nope", "", nil, 400, "invalid_chat_id"},
		{"optout delete unknown", "DELETE", "/api/optouts/15550000009", "", nil, 404, "optout_not_found"},
		{"optouts bad cursor", "GET", "/api/optouts?cursor=x", "", nil, 400, "invalid_cursor"},
		{"optouts bad limit", "GET", "/api/optouts?limit=-1", "", nil, 400, "invalid_pagination"},
		{"admin key", "GET", "/api/lists", "", []string{"X-Api-Key", testAdminKey}, 403, "tenant_key_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.do(tt.method, tt.path, key, tt.body, tt.headers...)
			if resp.StatusCode != tt.status || errorOf(t, b).Code != tt.code {
				t.Errorf("%s %s: %d %s, want %d %s", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.code)
			}
		})
	}
	many := addOptOutsRequest{ChatIDs: make([]string, maxOptOutBatch+1)}
	if _, err := many.chats(); err == nil || err.(*Error).Code != "invalid_chat_id" {
		t.Errorf("1001 chat ids: %v", err)
	}
	resp, b := e.do("GET", "/api/lists", "", "")
	if resp.StatusCode != 401 {
		t.Errorf("no key: %d %s", resp.StatusCode, b)
	}
}

// Another tenant's list and opt-outs are not there.
func TestListsOtherTenant(t *testing.T) {
	e := newListsEnv(t, audience.Options{})
	acme, other := e.createTenant("acme"), e.createTenant("acme2")
	id := e.createList(acme, "mine")
	if resp, _ := e.do("POST", "/api/optouts", acme, `{"chatId":"15550000001"}`); resp.StatusCode != 200 {
		t.Fatal("opt-out")
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/lists/" + id, ""},
		{"DELETE", "/api/lists/" + id, ""},
		{"GET", "/api/lists/" + id + "/contacts", ""},
		{"GET", "/api/lists/" + id + "/export", ""},
		{"DELETE", "/api/lists/" + id + "/contacts/15550000001", ""},
	} {
		resp, b := e.do(r.method, r.path, other, r.body)
		if resp.StatusCode != 404 || errorOf(t, b).Code != "list_not_found" {
			t.Errorf("%s %s as another tenant: %d %s", r.method, r.path, resp.StatusCode, b)
		}
	}
	resp, b := e.do("POST", "/api/lists/"+id+"/import", other, "phone\n15550000001\n", "Content-Type", "text/csv")
	if resp.StatusCode != 404 || errorOf(t, b).Code != "list_not_found" {
		t.Errorf("import as another tenant: %d %s", resp.StatusCode, b)
	}
	if _, b := e.do("GET", "/api/lists", other, ""); string(bytes.TrimSpace(b)) != "[]" {
		t.Errorf("other tenant's lists: %s", b)
	}
	if resp, b := e.do("GET", "/api/optouts/15550000001", other, ""); resp.StatusCode != 404 {
		t.Errorf("other tenant's opt-out: %d %s", resp.StatusCode, b)
	}
	if _, b := e.do("GET", "/api/optouts", other, ""); !strings.Contains(string(b), `"optouts":[]`) {
		t.Errorf("other tenant's opt-outs: %s", b)
	}
}

func TestOptOutsRoutes(t *testing.T) {
	e := newListsEnv(t, audience.Options{})
	key := e.createTenant("acme")
	sub := e.openSSE("?events=optout.added", key)
	resp, b := e.do("POST", "/api/optouts", key, `{"chatIds":["+1 555 000 0001","15550000002@c.us","15550000001"]}`)
	if resp.StatusCode != 200 || string(bytes.TrimSpace(b)) != `{"added":2}` {
		t.Fatalf("add: %d %s", resp.StatusCode, b)
	}
	if _, b = e.do("POST", "/api/optouts", key, `{"chatId":"15550000002"}`); string(bytes.TrimSpace(b)) != `{"added":0}` {
		t.Errorf("add again: %s", b)
	}
	resp, b = e.do("GET", "/api/optouts/15550000001@c.us", key, "")
	var o audience.OptOut
	_ = json.Unmarshal(b, &o)
	if resp.StatusCode != 200 || o.Reason != "api" || o.ChatID.String() != "15550000001@c.us" || strings.Contains(string(b), "session") {
		t.Errorf("get: %d %s", resp.StatusCode, b)
	}
	var page optOutsPage
	resp, b = e.do("GET", "/api/optouts?limit=1", key, "")
	_ = json.Unmarshal(b, &page)
	if resp.StatusCode != 200 || len(page.OptOuts) != 1 || page.Next != "15550000001@c.us" {
		t.Errorf("page: %d %s", resp.StatusCode, b)
	}
	if resp, b = e.do("DELETE", "/api/optouts/15550000001", key, ""); resp.StatusCode != 200 {
		t.Errorf("delete: %d %s", resp.StatusCode, b)
	}
	if _, b = e.do("GET", "/api/optouts", key, ""); strings.Count(string(b), "chatId") != 1 {
		t.Errorf("after delete: %s", b)
	}
	ev := sub.nextEvent(t)
	if !strings.Contains(ev.data, `"event":"optout.added"`) || !strings.Contains(ev.data, `"chatId":"15550000001@c.us"`) {
		t.Errorf("event %s", ev.data)
	}
}

// FuzzListsRequests feeds arbitrary bodies to the decoding and checks of the list and
// opt-out routes, and arbitrary bytes to the importer in each format: answers are
// success or a 4xx with a code, imports report row errors and never fail, and nothing
// panics.
func FuzzListsRequests(f *testing.F) {
	f.Add([]byte(`{"name":"customers"}`), []byte("phone,name\n15550000001,A\n"), "text/csv")
	f.Add([]byte(`{"chatIds":["15550000001","x"]}`), []byte(`[{"chatId":"15550000001","attrs":{"a":"b"}}]`), "application/json")
	f.Add([]byte(`{"chatId":"+1 (555) 000-0001"}`), []byte("{\"chatId\":\"15550000001\"}\nnope\n"), "application/x-ndjson")
	f.Add([]byte(`{"name":""}`), []byte("phone\n\"15550000001\n"), "text/csv; charset=utf-8")
	f.Add([]byte(`null`), []byte(`[{"chatId":5},`), "application/json")
	f.Add([]byte(`{"chatIds":[]}`), []byte("\xff\xfe,\"\"\"\n"), "text/plain")
	aud := newAudience(f, audience.Options{MaxListSize: 50})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body, data []byte, ct string) {
		var c fasthttp.RequestCtx
		c.Request.Header.SetContentType("application/json")
		c.Request.SetBody(body)

		var cl createListRequest
		if err := decodeJSON(&c, &cl); err != nil {
			checkClientError(t, "create body", err)
		} else if err := audience.CheckName(cl.Name); err == nil {
			if _, err := aud.CreateList(ctx, "fuzz", cl.Name); err != nil && !errors.Is(err, audience.ErrTooManyLists) {
				t.Fatalf("CreateList(%q): %v", cl.Name, err)
			}
		}
		var ob addOptOutsRequest
		if err := decodeJSON(&c, &ob); err != nil {
			checkClientError(t, "optouts body", err)
		} else {
			chats, err := ob.chats()
			checkClientError(t, "optouts body", err)
			for _, ch := range chats {
				if !audience.Reachable(ch) {
					t.Fatalf("accepted %v", ch)
				}
			}
		}

		format, err := importFormat([]byte(ct))
		checkClientError(t, "content type", err)
		if err != nil {
			return
		}
		l, err := aud.CreateList(ctx, "imports", "l")
		if err != nil {
			t.Fatal(err)
		}
		defer aud.DeleteList(ctx, "imports", l.ID)
		rep, err := aud.Import(ctx, "imports", l.ID, format, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Import(%s, %q): %v", format, data, err)
		}
		if rep.Imported > 50 || rep.Count != rep.Imported || len(rep.Errors) > rep.Invalid {
			t.Fatalf("report %+v", rep)
		}
		for _, e := range rep.Errors {
			if e.Line < 1 || e.Code == "" {
				t.Fatalf("row error %+v", e)
			}
		}
		if _, _, err := aud.Contacts(ctx, "imports", l.ID, "", 100); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := aud.Export(ctx, "imports", l.ID, &out); err != nil {
			t.Fatal(fmt.Sprint("export: ", err))
		}
	})
}
