package main

import (
	"strings"
	"testing"
	"time"
)

// WAHA's server routes: /ping with no key, version and status with any key, WAHA's
// shapes.
func TestServerRoutes(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")

	r := tg.do("GET", "/ping", "", nil)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"message":"pong"}` {
		t.Errorf("/ping: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/ping", "", nil); r.status != 405 {
		t.Errorf("POST /ping: %d %s", r.status, r.body)
	}
	want := `{"version":"` + buildVersion() + `","engine":"sandbox","tier":"OSS","browser":null}`
	for _, path := range []string{"/api/server/version", "/api/version"} {
		for who, k := range map[string]string{"tenant": key, "admin": adminKey} {
			r := tg.do("GET", path, k, nil)
			if r.status != 200 || strings.TrimSpace(string(r.body)) != want {
				t.Errorf("%s with the %s key: %d %s; want %s", path, who, r.status, r.body, want)
			}
		}
	}
	before := time.Now().UnixMilli()
	var st struct {
		StartTimestamp int64 `json:"startTimestamp"`
		Uptime         *int64
		Worker         *struct{ ID *string }
	}
	r = tg.do("GET", "/api/server/status", key, nil)
	r.json(t, &st)
	if r.status != 200 || st.StartTimestamp <= 0 || st.StartTimestamp > before || st.Uptime == nil || *st.Uptime < 0 ||
		st.Worker == nil || st.Worker.ID == nil || st.StartTimestamp+*st.Uptime > time.Now().UnixMilli()+1 {
		t.Errorf("/api/server/status: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/server/status", adminKey, nil); r.status != 200 {
		t.Errorf("/api/server/status with the admin key: %d %s", r.status, r.body)
	}
	for _, tc := range []struct{ path, key string }{
		{"/api/server/version", ""}, {"/api/server/version", "wg_nope"}, {"/api/version", ""},
		{"/api/server/status", ""}, {"/api/server/status", "wg_nope"},
	} {
		if r := tg.do("GET", tc.path, tc.key, nil); r.status != 401 {
			t.Errorf("%s with key %q: %d %s; want 401", tc.path, tc.key, r.status, r.body)
		}
	}
	for _, path := range []string{"/api/server/environment", "/api/server/stop"} {
		if r := tg.do("GET", path, key, nil); r.status != 404 {
			t.Errorf("%s: %d; want 404 (not served)", path, r.status)
		}
	}
}
