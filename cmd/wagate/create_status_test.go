package main

import (
	"encoding/json"
	"testing"
)

// TestCreateSessionFirstStatus: through the API, a session created to start (the
// default) publishes STARTING as its first session.status, with no STOPPED before it;
// one created with start false publishes STOPPED.
func TestCreateSessionFirstStatus(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "")
	key := tg.createTenant("acme")
	events, stop := tg.sse(key, "?events=session.status")
	defer stop()
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"started", map[string]any{"name": "started"}, "STARTING"},
		{"idle", map[string]any{"name": "idle", "start": false}, "STOPPED"},
	} {
		if r := tg.do("POST", "/api/sessions", key, tc.body); r.status != 201 {
			t.Fatalf("%s: create: %d %s", tc.name, r.status, r.body)
		}
		env := waitEvent(t, events, "session.status", func(map[string]any) bool { return true })
		for env.Session != tc.name { // a previous session's later statuses
			env = waitEvent(t, events, "session.status", func(map[string]any) bool { return true })
		}
		var p struct{ Status string }
		json.Unmarshal(env.Payload, &p)
		if p.Status != tc.want {
			t.Errorf("%s: first status %s, want %s", tc.name, p.Status, tc.want)
		}
	}
}
