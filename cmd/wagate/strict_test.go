package main

import (
	"strings"
	"testing"
)

// api.strict_fields: by default an unknown field is 400 unknown_field; with false the
// gateway ignores it, as WAHA does, and still refuses wrong types and bad values.
func TestStrictFields(t *testing.T) {
	body := map[string]any{"session": "main", "chatId": "15557654321", "text": "hi", "wahaOnlyOption": true}
	for _, c := range []struct {
		name, yaml string
		status     int
		code       string
	}{
		{"default", "", 400, "unknown_field"},
		{"lenient", "api:\n  strict_fields: false\n", 202, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := bootYAML(t, t.TempDir(), c.yaml)
			t.Cleanup(tg.stop)
			key := tg.createTenant("acme")
			if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "main", "start": false}); r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			r := tg.do("POST", "/api/sendText", key, body)
			if r.status != c.status || (c.code != "" && !strings.Contains(string(r.body), `"`+c.code+`"`)) {
				t.Fatalf("unknown field: %d %s; want %d %s", r.status, r.body, c.status, c.code)
			}
			r = tg.do("POST", "/api/sendText", key, map[string]any{"session": "main", "chatId": "15557654321", "text": 5, "other": 1})
			if r.status != 400 || !strings.Contains(string(r.body), `"wrong_type"`) && !strings.Contains(string(r.body), `"unknown_field"`) {
				t.Fatalf("wrong type: %d %s", r.status, r.body)
			}
			if c.status == 202 && !strings.Contains(string(r.body), `"wrong_type"`) {
				t.Fatalf("lenient wrong type: %d %s; want wrong_type", r.status, r.body)
			}
		})
	}
}
