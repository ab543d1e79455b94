package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/audience"
)

// bootLists boots the gateway with bodies up to 4 MiB (a 10,000-row import), tenant
// acme and a linked sandbox session "a"; it returns the gateway and acme's key.
func bootLists(t *testing.T) (*testGateway, string) {
	t.Helper()
	tg := bootConfig(t, `
server:
  listen: 127.0.0.1:0
  max_body_bytes: 4MiB
  shutdown_timeout: 5s
store:
  dir: `+t.TempDir()+`
  gc_interval: 0
admin:
  api_key: `+adminKey+`
log:
  level: error
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 5ms
    read_delay: 5ms
`)
	key := tg.createTenant("acme")
	return tg, key
}

func TestListsImportExportThroughGateway(t *testing.T) {
	tg, key := bootLists(t)
	r := tg.do("POST", "/api/lists", key, map[string]any{"name": "customers"})
	if r.status != 201 {
		t.Fatalf("create list: %d %s", r.status, r.body)
	}
	var l audience.List
	r.json(t, &l)

	// 10,000 rows, 20 of them bad: lines (header = line 1) where the phone is missing
	// or not a number.
	var csv strings.Builder
	csv.WriteString("phone,name,city,plan\n")
	var badLines []int
	for i := range 10_000 {
		line := i + 2
		switch {
		case i%500 == 17:
			badLines = append(badLines, line)
			fmt.Fprintf(&csv, "not-a-phone,Bad %d,x,y\n", i)
		default:
			fmt.Fprintf(&csv, "+1 (555) %03d-%04d,Contact %d,City %d,p%d\n", i/10000, i%10000, i, i%13, i%3)
		}
	}
	if len(badLines) != 20 {
		t.Fatalf("generated %d bad rows", len(badLines))
	}
	r = tg.doHeaders("POST", "/api/lists/"+l.ID+"/import", key, csv.String(), "Content-Type", "text/csv")
	if r.status != 200 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	var rep audience.ImportReport
	r.json(t, &rep)
	if rep.Imported != 9_980 || rep.Invalid != 20 || rep.Duplicates != 0 || rep.Count != 9_980 || len(rep.Errors) != 20 {
		t.Fatalf("report: imported %d invalid %d duplicates %d count %d errors %d", rep.Imported, rep.Invalid, rep.Duplicates, rep.Count, len(rep.Errors))
	}
	var lines []int
	for _, e := range rep.Errors {
		if e.Code != "invalid_phone" {
			t.Errorf("error %+v, want invalid_phone", e)
		}
		lines = append(lines, e.Line)
	}
	if !slices.Equal(lines, badLines) {
		t.Errorf("error lines %v, want %v", lines, badLines)
	}

	r = tg.do("GET", "/api/lists/"+l.ID, key, nil)
	r.json(t, &l)
	if l.Count != 9_980 || !slices.Equal(l.Columns, []string{"city", "plan"}) {
		t.Errorf("list %+v", l)
	}

	// Export, import the export into a new list, export again: the same bytes.
	exp := tg.do("GET", "/api/lists/"+l.ID+"/export", key, nil)
	if exp.status != 200 || !strings.HasPrefix(exp.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", exp.status, exp.header.Get("Content-Type"))
	}
	if n := strings.Count(string(exp.body), "\n"); n != 9_981 {
		t.Errorf("export has %d lines, want 9,981", n)
	}
	if !strings.HasPrefix(string(exp.body), "chatId,name,city,plan\n15550000000@c.us,Contact 0,City 0,p0\n") {
		t.Errorf("export starts %q", exp.body[:80])
	}
	r = tg.do("POST", "/api/lists", key, map[string]any{"name": "copy"})
	var cp audience.List
	r.json(t, &cp)
	r = tg.doHeaders("POST", "/api/lists/"+cp.ID+"/import", key, string(exp.body), "Content-Type", "text/csv")
	var rep2 audience.ImportReport
	r.json(t, &rep2)
	if r.status != 200 || rep2.Imported != 9_980 || rep2.Invalid != 0 {
		t.Fatalf("re-import: %d %s", r.status, r.body)
	}
	again := tg.do("GET", "/api/lists/"+cp.ID+"/export", key, nil)
	if string(again.body) != string(exp.body) {
		t.Error("the export of the re-imported list differs from the first export")
	}

	// Importing the same file again: every row a duplicate, the count unchanged.
	r = tg.doHeaders("POST", "/api/lists/"+l.ID+"/import", key, csv.String(), "Content-Type", "text/csv")
	r.json(t, &rep)
	if rep.Imported != 0 || rep.Duplicates != 9_980 || rep.Count != 9_980 {
		t.Errorf("second import: imported %d duplicates %d count %d", rep.Imported, rep.Duplicates, rep.Count)
	}
}

// A sandbox contact replying "stop" lands on the opt-out list, reason stop_word, with
// the session it wrote to; a message that only contains the word does not.
func TestListsStopWordOptsOut(t *testing.T) {
	tg, key := bootLists(t)
	events, stop := tg.sse(key, "")
	defer stop()
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "a"}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	waitEvent(t, events, "session.qr", nil)
	if r := tg.do("POST", "/api/sandbox/a/link", key, map[string]any{"phone": "15550000001"}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, key, "a")

	for _, in := range []map[string]any{
		{"from": "15557654322", "text": "please stop"},
		{"from": "15557654321", "text": "  Stop \n"},
	} {
		if r := tg.do("POST", "/api/sandbox/a/inbound", key, in); r.status != 200 {
			t.Fatalf("inbound %v: %d %s", in, r.status, r.body)
		}
	}
	env := waitEvent(t, events, "optout.added", nil)
	if env.Session != "a" || !strings.Contains(string(env.Payload), `"chatId":"15557654321@c.us"`) {
		t.Errorf("optout.added %+v %s", env, env.Payload)
	}
	r := tg.do("GET", "/api/optouts", key, nil)
	var page struct {
		OptOuts []audience.OptOut `json:"optouts"`
		Next    string            `json:"next"`
	}
	r.json(t, &page)
	if r.status != 200 || len(page.OptOuts) != 1 || page.OptOuts[0].ChatID.String() != "15557654321@c.us" ||
		page.OptOuts[0].Reason != "stop_word" || page.OptOuts[0].Session != "a" || page.Next != "" {
		t.Errorf("opt-outs: %d %s", r.status, r.body)
	}
	r = tg.do("GET", "/api/optouts/15557654321", key, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"reason":"stop_word"`) {
		t.Errorf("GET opt-out: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/optouts/15557654322", key, nil); r.status != 404 || r.errCode() != "optout_not_found" {
		t.Errorf("a message containing stop: %d %s", r.status, r.body)
	}
}
