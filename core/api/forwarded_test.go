package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/cluster/clustertest"
	"github.com/wagate/wagate/core/cluster/forward"
)

// A request forwarded by another node (cluster mode) is authorized from the principal it
// carries, with the route's level and scope checks; a bad principal is 401.
func TestForwardedPrincipal(t *testing.T) {
	e := newEnv(t)
	e.createTenant("acme")
	srv := clustertest.Solo(t)
	nc := clustertest.Connect(t, srv.URL())
	fs, err := forward.Serve(nc, "owner", e.srv.Handler())
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	_ = nc.Flush()
	for _, c := range []struct {
		name, method, uri, principal, body string
		status                             int
		code                               string
	}{
		{"admin principal on an admin route", "GET", "/api/admin/tenants/acme", `{"Admin":true}`, "", 200, ""},
		{"tenant principal on an admin route", "GET", "/api/admin/tenants/acme", `{"Tenant":"acme","KeyID":"k","Scopes":["read","send","admin"]}`, "", 403, "admin_required"},
		{"read-only principal sending", "POST", "/api/sendText", `{"Tenant":"acme","KeyID":"admin","Scopes":["read"]}`, `{"session":"default","chatId":"15551234567","text":"hi"}`, 403, "insufficient_scope"},
		{"principal without tenant", "GET", "/api/admin/tenants/acme", `{"KeyID":"k"}`, "", 401, "unauthorized"},
		{"principal not JSON", "GET", "/api/admin/tenants/acme", `not json`, "", 401, "unauthorized"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req := forward.Request{Method: c.method, URI: c.uri, Principal: json.RawMessage(c.principal)}
		if c.body != "" {
			req.Body = []byte(c.body)
			req.Header = map[string][]string{"Content-Type": {"application/json"}}
		}
		res, err := forward.Call(ctx, nc, "owner", req)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.Status != c.status || (c.code != "" && !strings.Contains(string(res.Body), `"code":"`+c.code+`"`)) {
			t.Errorf("%s: %d %s, want %d %s", c.name, res.Status, res.Body, c.status, c.code)
		}
	}
	// Over HTTP, nothing a client sends stands for a forwarded principal.
	resp, b := e.do("GET", "/api/admin/tenants/acme", "", "", "Wagate-Principal", `{"Admin":true}`)
	if resp.StatusCode != 401 {
		t.Errorf("HTTP request with a principal header: %d %s", resp.StatusCode, b)
	}
}
