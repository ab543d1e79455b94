package api

import "testing"

func TestRegressionMessageIDWithSlashPanics(t *testing.T) {
	e := newSendEnv(t)
	key := e.createTenant("acme")
	for _, p := range []string{"/api/messages/a%2Fb", "/api/messages/a%2Fb/retry", "/api/messages/%2F"} {
		m := "GET"
		if len(p) > 6 && p[len(p)-6:] == "/retry" {
			m = "POST"
		}
		resp, b := e.do(m, p, key, "")
		t.Logf("%s %s -> %d %s", m, p, resp.StatusCode, b)
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s: %d", m, p, resp.StatusCode)
		}
	}
}
