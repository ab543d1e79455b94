package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

const (
	testPhoneNumberID = "106540352242922"
	testToken         = "EAAJB-test-token"
	testAppSecret     = "test-app-secret"
	testVerifyToken   = "test-verify-token"
)

// graphCall is one request the fake Graph API received.
type graphCall struct {
	Method, Path, RawQuery string
	Auth, ContentType      string
	Body                   []byte
	// Fields and File are the multipart form of a media upload.
	Fields           map[string]string
	File             []byte
	FileName, FileCT string
}

// fakeGraph is a Graph API on 127.0.0.1 that answers as Meta documents: the phone
// number node, /messages (sends and mark-as-read), /media uploads, media URL lookups
// and downloads. answer, when set, overrides the answer of a request (ok false keeps
// the default); hold, when set, blocks requests until the client gives up.
type fakeGraph struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	calls  []graphCall
	answer func(c graphCall) (status int, body string, ok bool)
	hold   chan struct{}

	ids atomic.Int64
}

func newFakeGraph(t *testing.T) *fakeGraph {
	t.Helper()
	g := &fakeGraph{t: t}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	c := graphCall{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type")}
	if mt, params, err := mime.ParseMediaType(c.ContentType); err == nil && mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		c.Fields = map[string]string{}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "file" {
				c.File, c.FileName, c.FileCT = b, p.FileName(), p.Header.Get("Content-Type")
			} else {
				c.Fields[p.FormName()] = string(b)
			}
		}
	} else {
		c.Body, _ = io.ReadAll(r.Body)
	}
	g.mu.Lock()
	g.calls = append(g.calls, c)
	answer, hold := g.answer, g.hold
	g.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	status, body := g.defaultAnswer(c)
	if answer != nil {
		if s, b, ok := answer(c); ok {
			status, body = s, b
		}
	}
	if strings.HasPrefix(body, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// defaultAnswer is Meta's documented success answer to c.
func (g *fakeGraph) defaultAnswer(c graphCall) (int, string) {
	base := "/" + DefaultAPIVersion + "/" + testPhoneNumberID
	switch {
	case c.Method == "GET" && c.Path == base:
		return 200, `{"verified_name":"Acme Support","display_phone_number":"+1 555-078-3881","id":"` + testPhoneNumberID + `"}`
	case c.Method == "POST" && c.Path == base+"/messages":
		var m map[string]any
		json.Unmarshal(c.Body, &m)
		if m["status"] == "read" {
			return 200, `{"success":true}`
		}
		to, _ := m["to"].(string)
		return 200, fmt.Sprintf(`{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":"wamid.TEST%d"}]}`,
			to, to, g.ids.Add(1))
	case c.Method == "POST" && c.Path == base+"/media":
		return 200, fmt.Sprintf(`{"id":"%d"}`, 4490709327384033+g.ids.Add(1))
	case c.Method == "GET" && strings.HasPrefix(c.Path, "/download/"):
		return 200, "file bytes of " + strings.TrimPrefix(c.Path, "/download/")
	case c.Method == "GET" && strings.HasPrefix(c.Path, "/"+DefaultAPIVersion+"/"):
		id := strings.TrimPrefix(c.Path, "/"+DefaultAPIVersion+"/")
		return 200, fmt.Sprintf(`{"messaging_product":"whatsapp","url":"%s/download/%s","mime_type":"image/jpeg","sha256":"abc","file_size":"%d","id":%q}`,
			g.srv.URL, id, len("file bytes of ")+len(id), id)
	}
	return 404, `{"error":{"message":"Unknown path components","type":"OAuthException","code":2500,"fbtrace_id":"AbCdEf"}}`
}

// metaError is Meta's error answer with code and details.
func metaError(code int, title, details string) string {
	return fmt.Sprintf(`{"error":{"message":"(#%d) %s","type":"OAuthException","code":%d,"error_data":{"messaging_product":"whatsapp","details":%q},"fbtrace_id":"Az8or2yhqkZfEZ-_4Qn_Bam"}}`,
		code, title, code, details)
}

func (g *fakeGraph) setAnswer(f func(c graphCall) (int, string, bool)) {
	g.mu.Lock()
	g.answer = f
	g.mu.Unlock()
}

func (g *fakeGraph) snapshot() []graphCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]graphCall(nil), g.calls...)
}

func (g *fakeGraph) reset() {
	g.mu.Lock()
	g.calls = nil
	g.mu.Unlock()
}

// count counts calls of method to a path ending in suffix.
func (g *fakeGraph) count(method, suffix string) int {
	n := 0
	for _, c := range g.snapshot() {
		if c.Method == method && strings.HasSuffix(c.Path, suffix) {
			n++
		}
	}
	return n
}

// recorder is a provider.Sink that keeps every event.
type recorder struct {
	mu  sync.Mutex
	evs []provider.Event
	ch  chan provider.Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan provider.Event, 1024)} }

func (r *recorder) sink(ev provider.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	r.ch <- ev
}

func (r *recorder) all() []provider.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]provider.Event(nil), r.evs...)
}

// waitStatus waits (with a deadline) for a StatusEvent with status st.
func (r *recorder) waitStatus(t *testing.T, st provider.Status) provider.StatusEvent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-r.ch:
			if se, ok := ev.(provider.StatusEvent); ok && se.Status == st {
				return se
			}
		case <-deadline:
			t.Fatalf("no %s status within 5s; events: %+v", st, r.all())
		}
	}
}

func (r *recorder) statuses() []provider.Status {
	var out []provider.Status
	for _, ev := range r.all() {
		if se, ok := ev.(provider.StatusEvent); ok {
			out = append(out, se.Status)
		}
	}
	return out
}

// sessionConfig is a valid session config pointing at g, with extra fields merged in.
func sessionConfig(g *fakeGraph, extra map[string]any) json.RawMessage {
	m := map[string]any{"phoneNumberId": testPhoneNumberID, "accessToken": testToken,
		"appSecret": testAppSecret, "verifyToken": testVerifyToken}
	if g != nil {
		m["baseUrl"] = g.srv.URL
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// rig is a factory and one provider against a fake Graph API.
type rig struct {
	t     *testing.T
	graph *fakeGraph
	f     *Factory
	p     *Provider
	rec   *recorder
	store *MemoryInboundStore
}

func newRig(t *testing.T, extra map[string]any, opts ...Option) *rig {
	t.Helper()
	g := newFakeGraph(t)
	st := NewMemoryInboundStore()
	cfg := config.Defaults().Providers.CloudAPI
	cfg.RequestTimeout = config.Duration(5 * time.Second)
	opts = append([]Option{WithStartRetry(time.Millisecond, 5*time.Millisecond)}, opts...)
	f := New(cfg, st, opts...)
	rec := newRecorder()
	p, err := f.New(provider.Spec{Tenant: "acme", Session: "support", Config: sessionConfig(g, extra)}, rec.sink)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, graph: g, f: f, p: p.(*Provider), rec: rec, store: st}
	t.Cleanup(r.p.Close)
	return r
}

// start starts the provider and waits for WORKING, then forgets the check's request.
func (r *rig) start() {
	r.t.Helper()
	if err := r.p.Start(context.Background()); err != nil {
		r.t.Fatalf("Start: %v", err)
	}
	r.rec.waitStatus(r.t, provider.StatusWorking)
	r.graph.reset()
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var customer = chatid.MustParse("16505551234")

func providerSpec(g *fakeGraph) provider.Spec {
	return provider.Spec{Tenant: "acme", Session: "support", Config: sessionConfig(g, nil)}
}

func defaultsCfg() config.CloudAPI { return config.Defaults().Providers.CloudAPI }

func longString(n int) string { return strings.Repeat("x", n) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
