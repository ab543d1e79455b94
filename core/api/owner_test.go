package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/cluster/clustertest"
	"github.com/wagate/wagate/core/cluster/forward"
)

// Cluster mode: node A answers a request for a session node B runs with B's own answer;
// routes served from the shared state stay on A; a session without an owner, or whose
// owner does not answer, is 503 session_moving; the owner is looked up for the caller's
// tenant only.
func TestRequestsGoToTheSessionsOwner(t *testing.T) {
	srv := clustertest.Solo(t)
	// Node B runs acme's session "far", linked.
	b := newSendEnv(t)
	keyB := b.createTenant("acme")
	b.createSession(keyB, "far", true)
	b.linkSession(keyB, "far", "15550001111")
	ncB := clustertest.Connect(t, srv.URL())
	fs, err := forward.Serve(ncB, "b", b.srv.Handler())
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	_ = ncB.Flush()

	// Node A locates acme/far on b, acme/lost nowhere, acme/gone on a node that is down.
	ncA := clustertest.Connect(t, srv.URL())
	a := newSendEnv(t, func(o *envOptions) {
		o.server = func(s *Server) {
			s.d.Locate = func(tenant, session string) (string, bool) {
				switch tenant + "/" + session {
				case "acme/far":
					return "b", false
				case "acme/lost":
					return "", false
				case "acme/gone":
					return "c", false
				}
				return "", true
			}
			s.d.Forward = func(ctx context.Context, node string, r forward.Request) (forward.Response, error) {
				return forward.Call(ctx, ncA, node, r)
			}
		}
	})
	keyA := a.createTenant("acme")
	keyGlobex := a.createTenant("globex")

	want, wantBody := b.do("GET", "/api/sessions/far/me", keyB, "")
	got, gotBody := a.do("GET", "/api/sessions/far/me", keyA, "")
	if got.StatusCode != http.StatusOK || got.StatusCode != want.StatusCode || string(gotBody) != string(wantBody) ||
		got.Header.Get("Content-Type") != want.Header.Get("Content-Type") || !strings.Contains(string(gotBody), "15550001111") {
		t.Errorf("forwarded: %d %s, want B's %d %s", got.StatusCode, gotBody, want.StatusCode, wantBody)
	}
	// A route of the shared state is A's own: A has no session "far" of its own here.
	if resp, body := a.do("GET", "/api/sessions/far", keyA, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/sessions/far on A: %d %s, want A's own 404", resp.StatusCode, body)
	}
	for _, sess := range []string{"lost", "gone"} {
		resp, body := a.do("GET", "/api/sessions/"+sess+"/me", keyA, "")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"session_moving"`) || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %s (Retry-After %q), want 503 session_moving", sess, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
	// Another tenant naming the same session is located as its own: not forwarded.
	if resp, body := a.do("GET", "/api/sessions/far/me", keyGlobex, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("globex asking for far: %d %s, want its own 404", resp.StatusCode, body)
	}
	// Bad keys are refused by A before anything is forwarded.
	if resp, _ := a.do("GET", "/api/sessions/far/me", "wag_nope", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad key: %d", resp.StatusCode)
	}
}

// Which routes go to the owner is decided for every route with a {session} parameter:
// only the shared-state ones are served anywhere.
func TestOwnerBoundRoutes(t *testing.T) {
	e := newEnv(t)
	anyNode := map[string]bool{}
	for _, rt := range e.srv.routes() {
		if strings.Contains(rt.path, "{session}") && !forwardsToOwner(rt) {
			anyNode[rt.method+" "+rt.path] = true
		}
		if !strings.Contains(rt.path, "{session}") && forwardsToOwner(rt) {
			t.Errorf("%s %s forwarded without a session", rt.method, rt.path)
		}
	}
	want := []string{"GET /api/sessions/{session}", "POST /api/sessions/{session}/start", "POST /api/sessions/{session}/stop"}
	if len(anyNode) != len(want) {
		t.Errorf("served on any node: %v, want %v", anyNode, want)
	}
	for _, w := range want {
		if !anyNode[w] {
			t.Errorf("%s is not served on any node", w)
		}
	}
}
