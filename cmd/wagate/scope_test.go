package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestKeyScopesOverEveryRoute: for every route of the served OpenAPI document that a
// tenant key may call, a key whose scopes do not cover the route's x-wagate-scope is
// refused with 403 insufficient_scope naming the scope needed, and a key whose scopes
// do is not (it reaches the handler, which may answer anything else). So a read key
// cannot POST, a send key can send but not manage webhooks or sessions, an admin key
// and a key made without scopes can do everything.
func TestKeyScopesOverEveryRoute(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	full := tg.createTenant("acme")
	keys := map[string]string{"admin (default)": full}
	for name, scopes := range map[string][]string{
		"read": {"read"}, "send": {"send"}, "read+send": {"send", "read", "send"}, "admin": {"admin"},
	} {
		r := tg.do("POST", "/api/admin/tenants/acme/keys", adminKey, map[string]any{"name": name, "scopes": scopes})
		var k struct {
			Key    string
			Scopes []string
		}
		r.json(t, &k)
		if r.status != 201 || k.Key == "" {
			t.Fatalf("create %s key: %d %s", name, r.status, r.body)
		}
		if want := slices.Compact(sortedCopy(scopes)); !slices.Equal(sortedCopy(k.Scopes), want) {
			t.Errorf("%s key scopes %v, want %v", name, k.Scopes, want)
		}
		keys[name] = k.Key
	}
	grants := map[string][]string{
		"read": {"read"}, "send": {"send"}, "read+send": {"read", "send"}, "admin": {"admin"}, "admin (default)": {"admin"},
	}
	allowed := func(key, need string) bool {
		g := grants[key]
		return slices.Contains(g, "admin") || slices.Contains(g, need)
	}

	var doc struct {
		Paths map[string]map[string]struct {
			Auth  string `json:"x-wagate-auth"`
			Scope string `json:"x-wagate-scope"`
		}
	}
	tg.do("GET", "/api/openapi.json", "", nil).json(t, &doc)
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, path, key string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var body io.Reader
		if method != "GET" && method != "DELETE" {
			body = strings.NewReader(`{}`)
		}
		req, _ := http.NewRequestWithContext(ctx, method, tg.base+path, body)
		req.Header.Set("X-Api-Key", key)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		if res.StatusCode != 403 { // a stream answering 200 keeps its body open
			return res.StatusCode, ""
		}
		var e struct {
			Error struct {
				Code    string
				Details map[string]any
			}
		}
		b, _ := io.ReadAll(res.Body)
		json.Unmarshal(b, &e)
		if e.Error.Code == "insufficient_scope" && e.Error.Details["required_scope"] == nil {
			t.Errorf("%s %s: insufficient_scope without required_scope: %s", method, path, b)
		}
		if rs, _ := e.Error.Details["required_scope"].(string); rs != "" {
			return 403, e.Error.Code + ":" + rs
		}
		return 403, e.Error.Code
	}
	counts := map[string]int{}
	var paths []string
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		for method, op := range doc.Paths[path] {
			method = strings.ToUpper(method)
			if op.Auth == "" || strings.HasPrefix(op.Auth, "the admin") {
				if op.Scope != "" {
					t.Errorf("%s %s: scope %q on a route without a tenant key", method, path, op.Scope)
				}
				continue
			}
			if op.Scope == "" {
				t.Errorf("%s %s: no x-wagate-scope", method, path)
				continue
			}
			counts[op.Scope]++
			concrete := strings.NewReplacer("{session}", "nosuch", "{chatId}", "15551234567", "{id}", "x",
				"{listId}", "x", "{messageId}", "x", "{labelId}", "x", "{delivery}", "x", "{keyId}", "x", "{name}", "x").Replace(path)
			if strings.Contains(concrete, "{") {
				concrete = paramRe.ReplaceAllString(concrete, "x")
			}
			for name, key := range keys {
				st, code := call(method, concrete, key)
				denied := st == 403 && strings.HasPrefix(code, "insufficient_scope")
				switch {
				case allowed(name, op.Scope) && denied:
					t.Errorf("%s %s with a %s key: refused (%s), needs %s", method, path, name, code, op.Scope)
				case !allowed(name, op.Scope) && !denied:
					t.Errorf("%s %s with a %s key: %d %s, want 403 insufficient_scope (needs %s)", method, path, name, st, code, op.Scope)
				case denied && code != "insufficient_scope:"+op.Scope:
					t.Errorf("%s %s: %s, want required_scope %s", method, path, code, op.Scope)
				}
			}
		}
	}
	if counts["read"] < 20 || counts["send"] < 10 || counts["admin"] < 20 {
		t.Errorf("routes by scope %v: the document lost scopes", counts)
	}
	t.Logf("routes by scope: %v", counts)

	// Spot checks by name, the promises of docs/api.md.
	for _, tc := range []struct {
		key, method, path string
		ok                bool
	}{
		{"read", "POST", "/api/sendText", false},
		{"read", "GET", "/api/sessions", true},
		{"send", "POST", "/api/sendText", true},
		{"send", "POST", "/api/messages/batch", true},
		{"send", "POST", "/api/webhooks", false},
		{"send", "GET", "/api/webhooks", false},
		{"send", "POST", "/api/sessions", false},
		{"read+send", "GET", "/api/messages/x", true},
		{"read+send", "DELETE", "/api/sessions/nosuch", false},
		{"read", "GET", "/api/nosuch/auth/qr", false},
		{"read", "GET", "/api/webhooks/x/secret", false},
		{"admin", "GET", "/api/webhooks/x/secret", true},
	} {
		st, code := call(tc.method, tc.path, keys[tc.key])
		if denied := st == 403 && strings.HasPrefix(code, "insufficient_scope"); denied == tc.ok {
			t.Errorf("%s key %s %s: %d %s, want allowed=%v", tc.key, tc.method, tc.path, st, code, tc.ok)
		}
	}

	// Unknown scope: 400 invalid_scope; listing shows every key's scopes.
	if r := tg.do("POST", "/api/admin/tenants/acme/keys", adminKey, map[string]any{"scopes": []string{"read", "write"}}); r.status != 400 || r.errCode() != "invalid_scope" {
		t.Errorf("unknown scope: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/admin/tenants/acme/keys", adminKey, map[string]any{"scopes": "read"}); r.status != 400 {
		t.Errorf("scopes not a list: %d %s", r.status, r.body)
	}
	var listed []struct {
		Name   string
		Scopes []string
	}
	tg.do("GET", "/api/admin/tenants/acme/keys", adminKey, nil).json(t, &listed)
	if len(listed) != 5 {
		t.Fatalf("listed %d keys: %+v", len(listed), listed)
	}
	for _, k := range listed {
		if len(k.Scopes) == 0 {
			t.Errorf("key %s listed without scopes", k.Name)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

var paramRe = regexp.MustCompile(`\{[^}]+\}`)
