package main

import (
	"net/url"
	"sort"
	"strings"
	"testing"
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
