package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/tenant"
)

const testAdminKey = "wag_admin.test-admin-key"

// testEnv is a gateway API on a random 127.0.0.1 port with a temp-dir store.
type testEnv struct {
	t       *testing.T
	srv     *Server
	tenants *tenant.Service
	bus     *event.Bus
	reg     *prometheus.Registry
	base    string // http://127.0.0.1:port
	addr    string
	client  *http.Client
	served  chan error
}

// envOptions adjust the environment before the server starts.
type envOptions struct {
	cfg    config.Server
	bus    event.Options
	deps   func(*Deps)
	server func(*Server)
}

func testConfig() config.Server {
	return config.Server{
		Listen:          "127.0.0.1:0",
		ReadTimeout:     config.Duration(5 * time.Second),
		WriteTimeout:    config.Duration(5 * time.Second),
		IdleTimeout:     config.Duration(10 * time.Second),
		MaxBodyBytes:    4096,
		ShutdownTimeout: config.Duration(5 * time.Second),
	}
}

func newEnv(t *testing.T, opts ...func(*envOptions)) *testEnv {
	t.Helper()
	o := envOptions{cfg: testConfig()}
	for _, f := range opts {
		f(&o)
	}
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ts := tenant.NewService(db, tenant.Options{DefaultPlan: tenant.Plan{MaxSessions: 5, MaxMessagesPerDay: 100}})
	if _, err := ts.SetupAdmin(context.Background(), testAdminKey); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o.bus.Registerer = reg
	bus := event.NewBus(o.bus)
	deps := Deps{Tenants: ts, Bus: bus, Registry: reg}
	if o.deps != nil {
		o.deps(&deps)
	}
	srv := New(o.cfg, deps)
	if o.server != nil {
		o.server(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{
		t: t, srv: srv, tenants: ts, bus: bus, reg: reg,
		addr:   ln.Addr().String(),
		base:   "http://" + ln.Addr().String(),
		client: &http.Client{Transport: &http.Transport{}},
		served: make(chan error, 1),
	}
	go func() { e.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		e.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-e.served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
		bus.Close()
	})
	return e
}

// do sends a request; key "" sends no X-Api-Key. headers are name, value pairs.
func (e *testEnv) do(method, path, key, body string, headers ...string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, b
}

// createTenant makes a tenant through the admin API and returns its first key.
func (e *testEnv) createTenant(id string) string {
	e.t.Helper()
	resp, b := e.do("POST", "/api/admin/tenants", testAdminKey, `{"id":"`+id+`"}`)
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("creating tenant %s: %d %s", id, resp.StatusCode, b)
	}
	var out createTenantResponse
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatal(err)
	}
	return out.APIKey.Key
}

// errorOf decodes an error body.
func errorOf(t *testing.T, b []byte) errorDetail {
	t.Helper()
	var eb errorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("not an error body: %q (%v)", b, err)
	}
	return eb.Error
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseFrame is one parsed Server-Sent Events frame; comment frames have only comment.
type sseFrame struct {
	id, event, data, comment string
}

// sseStream reads frames from an open SSE response in the background.
type sseStream struct {
	resp   *http.Response
	frames chan sseFrame
	done   chan error // receives the read error (io.EOF at a clean end), then closes
}

func (e *testEnv) openSSE(query, key string) *sseStream {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.base+"/api/events"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.t.Fatalf("GET /api/events%s: %d %s", query, resp.StatusCode, b)
	}
	s := &sseStream{resp: resp, frames: make(chan sseFrame, 1024), done: make(chan error, 1)}
	go s.read()
	e.t.Cleanup(func() { resp.Body.Close() })
	// The stream is live once ": connected" arrives.
	if f := s.next(e.t); f.comment != "connected" {
		e.t.Fatalf("first frame = %+v, want the connected comment", f)
	}
	return s
}

func (s *sseStream) read() {
	br := bufio.NewReader(s.resp.Body)
	var f sseFrame
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			s.done <- err
			close(s.done)
			close(s.frames)
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			s.frames <- f
			f = sseFrame{}
		case strings.HasPrefix(line, ":"):
			f.comment = strings.TrimSpace(line[1:])
		default:
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "id":
				f.id = v
			case "event":
				f.event = v
			case "data":
				f.data = v
			}
		}
	}
}

// next returns the next frame, failing the test after a deadline.
func (s *sseStream) next(t *testing.T) sseFrame {
	t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			t.Fatalf("SSE stream ended: %v", <-s.done)
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for an SSE frame")
	}
	return sseFrame{}
}

// nextEvent skips comments and returns the next event frame.
func (s *sseStream) nextEvent(t *testing.T) sseFrame {
	t.Helper()
	for {
		if f := s.next(t); f.comment == "" {
			return f
		}
	}
}

// waitEnd waits for the stream to end and returns the frames left before the end.
func (s *sseStream) waitEnd(t *testing.T) []sseFrame {
	t.Helper()
	var rest []sseFrame
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return rest
			}
			if f.comment == "" {
				rest = append(rest, f)
			}
		case <-deadline:
			t.Fatal("timed out waiting for the SSE stream to end")
		}
	}
}

// inMemory runs one request through h without a network.
func inMemory(h fasthttp.RequestHandler, method, uri, body string, headers ...string) *fasthttp.Response {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	var c fasthttp.RequestCtx
	c.Init(&req, nil, nil)
	h(&c)
	var resp fasthttp.Response
	c.Response.CopyTo(&resp)
	return &resp
}

func publish(bus *event.Bus, tenantID, session, name string, n int) event.Envelope {
	env := event.New(name, tenantID, session, map[string]int{"n": n})
	bus.Publish(env)
	return env
}
