// Package api is the gateway's HTTP API on fasthttp: the route table, the middleware
// chain (request id, recover, access log, metrics, auth), the one error model, JSON
// decoding, the admin and ops routes, the SSE and WebSocket event streams, and the
// OpenAPI document generated from the route table. docs/api.md is its user manual.
//
// Wiring:
//
//	srv := api.New(cfg.Server, api.Deps{Tenants: tenants, Bus: bus, Registry: reg, Logger: log})
//	go func() { errc <- srv.ListenAndServe() }()
//	<-stop // SIGINT/SIGTERM
//	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
//	defer cancel()
//	err := srv.Shutdown(ctx) // ends streams, drains in-flight requests
//
// Adding routes: write a func (s *Server) xxxRoutes() []route next to its handlers and
// add it to routes() in routes.go; see the route, request and Error types.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/wagate/wagate/core/audience"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/catalog"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/queue"
	chatroute "github.com/wagate/wagate/core/route"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/steer"
	"github.com/wagate/wagate/core/webhook"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/campaign"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/tenant"
)

// Deps are the services the API serves. Tenants and Bus are required.
type Deps struct {
	// Tenants authenticates every X-Api-Key and backs the admin routes.
	Tenants *tenant.Service
	// Bus feeds the SSE and WebSocket streams.
	Bus *event.Bus
	// Registry receives the HTTP metrics and is what /metrics serves. New also
	// registers the Go runtime and process collectors on it unless they are already
	// there, so /metrics is complete whoever built the registry. nil means a private
	// registry.
	Registry *prometheus.Registry
	// Ready reports readiness for /ready: nil error means ready. nil means always ready.
	Ready func(ctx context.Context) error
	// Locate and Forward, in cluster mode, send a request for a session another node
	// runs to that node (owner.go). nil: a single node, nothing is forwarded.
	Locate  OwnerLocator
	Forward Forwarder
	// Peers, in cluster mode, lists the other live nodes: a message this node does not
	// hold is asked of them (GET /api/messages/{id}). nil: a single node.
	Peers func() []string
	// Intake, when set, takes the sends instead of Queue (cluster mode: the cluster's
	// send stream, core/cluster/relay); Queue still serves the node's own messages.
	Intake Enqueuer
	// Admission, when set, is asked before every route that takes new work (takesWork
	// in middleware.go: the sending routes but GET); an error refuses the request. A
	// *diskguard.LowError answers 503 storage_low, a *memguard.PressureError 429
	// memory_pressure. nil admits everything.
	Admission func() error
	// Logger receives the access log and errors; nil discards.
	Logger *slog.Logger
	// Sessions serves the session and sending routes.
	Sessions *session.Manager
	// Queue takes every outbound message (unless Intake is set).
	Queue *queue.Queue
	// Route picks the session of a send that names none (the tenant's route policy);
	// it returns ErrNoWorkingSession when no session can send. nil: such sends get 409
	// no_working_session.
	Route func(ctx context.Context, tenant string, m policy.Message) (string, error)
	// Sandbox serves the sandbox routes.
	Sandbox *sandbox.Network
	// Policies serves the policy upload and binding routes; nil leaves them out.
	Policies *catalog.Catalog
	// Webhooks serves the webhook routes; nil leaves them out.
	Webhooks *webhook.Service
	// Audience serves the contact list and opt-out routes (docs/campaigns.md); nil
	// leaves them out.
	Audience *audience.Service
	// Contacts holds the gateway's own record of who talks with whom (core/route):
	// GET /api/contacts/{chatId}/sessions; nil leaves that route out.
	Contacts *chatroute.Router
	// Campaigns serves the campaign routes; nil leaves them out.
	Campaigns *campaign.Service
	// Steer supplies the pacing state of GET /api/sessions/{session}/health; nil
	// leaves it out of the answer.
	Steer *steer.Steer
	// LenientFields ignores the fields of a JSON body that the route does not know,
	// instead of answering 400 unknown_field (config api.strict_fields: false).
	LenientFields bool
	// DeleteTenantSessions removes a tenant's sessions before the tenant is deleted
	// (DELETE /api/admin/tenants/{id}); nil skips that step.
	DeleteTenantSessions func(ctx context.Context, tenant string) error
	// Backups serves GET /api/admin/backup and the resume routes; nil leaves them out.
	Backups *Backups
}

// ErrNoWorkingSession is what Deps.Route returns when the tenant has no session that
// can send now.
var ErrNoWorkingSession = errors.New("no working session")

// Server is the HTTP API. It serves once: after Shutdown, make a new one.
type Server struct {
	cfg     config.Server
	d       Deps // the services; handlers use s.d.Tenants, s.d.Sessions, ...
	log     *slog.Logger
	metrics *httpMetrics

	// names caches the chat list's contact and group names (chats.go).
	names nameCache

	table   []route
	router  *router.Router
	handler fasthttp.RequestHandler
	srv     *fasthttp.Server
	openapi []byte

	// baseCtx parents every request context; cancelled when Shutdown ends (after
	// draining, or when its deadline gives up on stragglers).
	baseCtx    context.Context
	cancelBase context.CancelFunc
	// streamCtx parents stream contexts; cancelled as soon as Shutdown starts.
	streamCtx     context.Context
	cancelStreams context.CancelFunc

	streamsMu sync.Mutex
	closing   bool
	streams   map[*liveStream]struct{}
	streamsWG sync.WaitGroup
	// pending are upgraded WebSockets whose hijack handler has not run yet, by
	// connection; a connection that closes first is cleaned up through ConnState.
	pending map[net.Conn]func()

	// keepAlive is the SSE comment / WebSocket ping interval (15s; tests shorten it).
	keepAlive time.Duration
	// streamGrace is how long Shutdown lets cancelled streams finish their last write
	// before closing their connections.
	streamGrace time.Duration
	// beforeStreamSend, when set (tests), runs before each event is written to a
	// stream, to hold a writer still while the publisher overflows its buffer.
	beforeStreamSend func()
}

// New builds the server and its router from the route table. It registers the HTTP
// metrics (and the Go and process collectors, if absent) on d.Registry; it starts
// nothing.
func New(cfg config.Server, d Deps) *Server {
	if d.Tenants == nil || d.Bus == nil {
		panic("api.New: Deps.Tenants and Deps.Bus are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	registerRuntimeCollectors(d.Registry)
	s := &Server{
		cfg:         cfg,
		d:           d,
		log:         d.Logger.With("component", "api"),
		metrics:     newHTTPMetrics(d.Registry),
		streams:     make(map[*liveStream]struct{}),
		pending:     make(map[net.Conn]func()),
		keepAlive:   15 * time.Second,
		streamGrace: time.Second,
	}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	s.streamCtx, s.cancelStreams = context.WithCancel(s.baseCtx)
	s.table = s.routes()
	s.router = s.buildRouter(s.table)
	s.handler = s.chain(s.router.Handler)
	doc, err := buildOpenAPI(s.table)
	if err != nil {
		panic("api.New: building the OpenAPI document: " + err.Error())
	}
	s.openapi = doc
	s.srv = &fasthttp.Server{
		Handler:               s.handler,
		ErrorHandler:          s.transportError,
		ConnState:             s.connState,
		Name:                  "wagate",
		NoDefaultServerHeader: true,
		ReadTimeout:           cfg.ReadTimeout.D(),
		WriteTimeout:          cfg.WriteTimeout.D(),
		IdleTimeout:           cfg.IdleTimeout.D(),
		MaxRequestBodySize:    int(cfg.MaxBodyBytes),
		StreamRequestBody:     false,
		Logger:                fasthttpLogger{s.log.With("subsystem", "fasthttp")},
	}
	return s
}

// registerRuntimeCollectors adds the Go runtime and process collectors unless the
// registry has them already.
func registerRuntimeCollectors(reg prometheus.Registerer) {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			panic("api.New: registering runtime collectors: " + err.Error())
		}
	}
}

// Handler returns the whole API as a fasthttp handler (chain, router, routes), for
// in-memory tests. Limits enforced by the fasthttp.Server (body size, timeouts) need
// Serve.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handler }

// Serve serves on ln until Shutdown, then returns nil. After Shutdown it closes ln
// and returns nil at once.
func (s *Server) Serve(ln net.Listener) error {
	s.streamsMu.Lock()
	closing := s.closing
	s.streamsMu.Unlock()
	if closing {
		return ln.Close()
	}
	return s.srv.Serve(ln)
}

// ListenAndServe listens on the configured address and serves until Shutdown.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listening on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ln)
}

// Shutdown stops the server: it refuses new streams and ends the open SSE and
// WebSocket streams at once (a stream stuck writing to a client that stopped reading
// has its connection closed after a second), stops accepting connections, and waits
// for in-flight requests until ctx ends. When ctx ends first, the request contexts
// of the stragglers are cancelled and ctx.Err() is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.streamsMu.Lock()
	s.closing = true
	s.streamsMu.Unlock()
	s.cancelStreams()

	streamsDone := make(chan struct{})
	go func() { s.streamsWG.Wait(); close(streamsDone) }()
	forced := make(chan struct{})
	go func() {
		defer close(forced)
		t := time.NewTimer(s.streamGrace)
		defer t.Stop()
		select {
		case <-streamsDone:
			return
		case <-t.C:
		case <-ctx.Done():
		}
		s.closeStreamConns()
	}()

	err := s.srv.ShutdownWithContext(ctx)
	select {
	case <-streamsDone:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	s.cancelBase()
	<-forced
	return err
}

// transportError is fasthttp's ErrorHandler: the request could not be read or parsed,
// so no route ran. It answers in the API's error model.
func (s *Server) transportError(c *fasthttp.RequestCtx, err error) {
	id := requestID(c)
	var e *Error
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		limit := s.srv.MaxRequestBodySize
		if limit <= 0 {
			limit = fasthttp.DefaultMaxRequestBodySize
		}
		e = newError(http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("the request body exceeds the limit of %d bytes", limit), d("limit", limit))
	case errors.As(err, &small):
		e = newError(http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "the request headers are too large")
	case errors.As(err, &netErr) && netErr.Timeout():
		e = newError(http.StatusRequestTimeout, "request_timeout", "the request was not received in time")
	default:
		e = badRequest("bad_request", "the HTTP request could not be parsed")
	}
	writeErrorBody(c, id, e)
	r := s.newRequest(id, routeInvalid)
	r.log.Debug("unreadable request", "err", err)
	s.observe(c, r, time.Now())
}

// fasthttpLogger adapts slog to fasthttp.Logger.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn(fmt.Sprintf(format, args...))
}
