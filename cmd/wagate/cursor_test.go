package main

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestMalformedCursorEveryPagedRoute: every route whose OpenAPI operation takes a
// cursor answers a cursor that no page ever handed out with 400 invalid_cursor — never
// 200 with the first page. The routes come from the served OpenAPI document, so a paged
// route added later is covered or fails this test for want of test resources.
func TestMalformedCursorEveryPagedRoute(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
`)
	key := tg.createTenant("acme")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main"}); r.status != 201 {
		t.Fatalf("create session: %d %s", r.status, r.body)
	}
	var list, hook, camp struct {
		ID string `json:"id"`
	}
	tg.do("POST", "/api/lists", key, map[string]any{"name": "customers"}).json(t, &list)
	tg.do("POST", "/api/webhooks", key, map[string]any{"url": "http://127.0.0.1:9/wa", "events": []string{"*"}}).json(t, &hook)
	r := tg.do("POST", "/api/campaigns", key, map[string]any{"name": "promo", "listId": list.ID, "sessions": []string{"main"},
		"message": map[string]any{"type": "text", "text": "hi"}})
	if r.status != 201 {
		t.Fatalf("create campaign: %d %s", r.status, r.body)
	}
	r.json(t, &camp)
	params := map[string]string{"session": "main", "chatId": "15551234567", "listId": list.ID, "id": ""}
	// {id} names a campaign or a webhook, by the route.
	ids := map[string]string{"/api/campaigns/": camp.ID, "/api/webhooks/": hook.ID}

	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct{ Name, In string }
		}
	}
	tg.do("GET", "/api/openapi.json", "", nil).json(t, &doc)
	var paged []string
	for path, ops := range doc.Paths {
		for _, p := range ops["get"].Parameters {
			if p.In == "query" && p.Name == "cursor" {
				paged = append(paged, path)
			}
		}
	}
	sort.Strings(paged)
	if len(paged) < 5 {
		t.Fatalf("only %d paged routes in the OpenAPI document: %v", len(paged), paged)
	}
	for _, path := range paged {
		concrete := path
		for name, v := range params {
			if name == "id" {
				for prefix, id := range ids {
					if strings.HasPrefix(path, prefix) {
						v = id
					}
				}
			}
			concrete = strings.ReplaceAll(concrete, "{"+name+"}", v)
		}
		if strings.Contains(concrete, "{") || strings.Contains(concrete, "//") {
			t.Errorf("%s: no test resource for a path parameter (%s)", path, concrete)
			continue
		}
		if r := tg.do("GET", concrete, key, nil); r.status != 200 {
			t.Errorf("%s without cursor: %d %s", path, r.status, r.body)
			continue
		}
		for _, cur := range []string{"zzz", "msg_", "dlv_zzz", "../x", strings.Repeat("9", 300)} {
			r := tg.do("GET", concrete+"?cursor="+url.QueryEscape(cur), key, nil)
			if r.status != 400 || r.errCode() != "invalid_cursor" {
				t.Errorf("%s?cursor=%s: %d %s, want 400 invalid_cursor", path, cur, r.status, r.body)
			}
		}
	}
	t.Logf("paged routes: %v", paged)
}

// TestDeliveryBodyEncodingAndPaging: a delivery shown with its body says the body is
// base64, and the body decodes to the envelope POSTed; the delivery log pages with
// cursor (and its older name before) from one page's next to the following page.
func TestDeliveryBodyEncodingAndPaging(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
`)
	key := tg.createTenant("acme")
	h := newHookReceiver(t)
	var hook struct{ ID, Secret string }
	r := tg.do("POST", "/api/webhooks", key, map[string]any{"url": h.srv.URL + "/wa", "events": []string{"session.status"}})
	r.json(t, &hook)
	h.mu.Lock()
	h.secret = hook.Secret
	h.mu.Unlock()
	for _, name := range []string{"a", "b", "c"} {
		tg.do("POST", "/api/sessions", key, map[string]any{"name": name, "start": false})
	}
	type page struct {
		Deliveries []struct{ ID, Status string }
		Next       string
	}
	var all page
	deadline := time.Now().Add(10 * time.Second)
	for {
		all = page{}
		tg.do("GET", "/api/webhooks/"+hook.ID+"/deliveries?status=delivered", key, nil).json(t, &all)
		if len(all.Deliveries) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries not delivered: %+v", all)
		}
		time.Sleep(10 * time.Millisecond) // polling the delivery log with a deadline
	}
	var one struct {
		Body         []byte
		BodyEncoding string
	}
	r = tg.do("GET", "/api/webhooks/"+hook.ID+"/deliveries/"+all.Deliveries[0].ID, key, nil)
	r.json(t, &one)
	var raw struct{ Body string }
	r.json(t, &raw)
	var env struct{ Event string }
	if one.BodyEncoding != "base64" || json.Unmarshal(one.Body, &env) != nil || env.Event != "session.status" {
		t.Errorf("delivery: encoding %q, body %q decoded from %q", one.BodyEncoding, one.Body, raw.Body)
	}
	for _, param := range []string{"cursor", "before"} {
		var p1, p2 page
		tg.do("GET", "/api/webhooks/"+hook.ID+"/deliveries?limit=1", key, nil).json(t, &p1)
		if len(p1.Deliveries) != 1 || p1.Next == "" {
			t.Fatalf("first page: %+v", p1)
		}
		r := tg.do("GET", "/api/webhooks/"+hook.ID+"/deliveries?limit=1&"+param+"="+p1.Next, key, nil)
		r.json(t, &p2)
		if r.status != 200 || len(p2.Deliveries) != 1 || p2.Deliveries[0].ID == p1.Deliveries[0].ID {
			t.Errorf("second page by %s: %d %s", param, r.status, r.body)
		}
	}
	if r := tg.do("GET", "/api/webhooks/"+hook.ID+"/deliveries?cursor="+all.Deliveries[0].ID+"&before="+all.Deliveries[1].ID, key, nil); r.status != 400 || r.errCode() != "invalid_cursor" {
		t.Errorf("cursor and before disagreeing: %d %s", r.status, r.body)
	}
}
