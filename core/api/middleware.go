package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/cluster/forward"
	"github.com/wagate/wagate/core/diskguard"
	"github.com/wagate/wagate/core/memguard"
	"github.com/wagate/wagate/core/tenant"
)

// The middleware chain, outermost first:
//
//	request id → recover → access log → metrics   (chain, around the router: every
//	                                                response, 404/405 included)
//	auth → request context → handler               (route, per route of the table)
//
// Route labels in logs and metrics are the matched pattern; requests that match no
// route are labelled "unmatched", requests fasthttp rejects before routing (oversized
// or unparsable) "invalid". Both label sets are bounded.
const (
	routeUnmatched = "unmatched"
	routeInvalid   = "invalid"
)

// chain wraps next (the router) with request id, recover, access log and metrics.
func (s *Server) chain(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(c *fasthttp.RequestCtx) {
		start := time.Now()
		id := requestID(c)
		c.Response.Header.Set(headerRequestID, id)
		r := s.newRequest(id, routeUnmatched)
		c.SetUserValue(requestKey{}, r)
		defer func() {
			if p := recover(); p != nil {
				s.panicked(c, p)
			}
			s.observe(c, r, start)
		}()
		next(c)
	}
}

// panicked answers a recovered panic with 500 internal_error and logs it with its
// stack. It is both the chain's recover and the router's PanicHandler.
func (s *Server) panicked(c *fasthttp.RequestCtx, p any) {
	r := requestOf(c)
	if r == nil {
		r = &request{id: requestID(c), route: routeUnmatched, log: s.log}
	}
	r.log.Error("panic in handler", "route", r.route, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	writeErrorBody(c, r.id, internalError(r.id, fmt.Errorf("panic: %v", p)))
}

// observe writes the access log line and the request metrics.
func (s *Server) observe(c *fasthttp.RequestCtx, r *request, start time.Time) {
	status := c.Response.StatusCode()
	dur := time.Since(start)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("method", string(c.Method())),
		slog.String("route", r.route),
		slog.Int("status", status),
		slog.Duration("duration", dur),
	}
	// r.log already carries the tenant once authenticated.
	if r.principal.Admin {
		attrs = append(attrs, slog.Bool("admin", true))
	}
	if r.actingAdmin {
		attrs = append(attrs, slog.Bool("act_as", true))
	}
	r.log.LogAttrs(context.Background(), level, "http request", attrs...)
	s.metrics.observe(r.route, methodLabel(c.Method()), status, dur)
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m []byte) string {
	switch string(m) {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return string(m)
	}
	return "OTHER"
}

// wrap turns a route of the table into a router handler: auth, request context, the
// handler, and errors through writeError.
func (s *Server) wrap(rt route) fasthttp.RequestHandler {
	return func(c *fasthttp.RequestCtx) {
		r := requestOf(c)
		if r == nil { // Handler used without the chain: cannot happen through New.
			r = &request{id: requestID(c), log: s.log}
		}
		r.route, r.lenient = rt.path, s.d.LenientFields
		if err := s.authorize(c, r, rt); err != nil {
			s.writeError(c, r, err)
			return
		}
		if err := s.admit(rt); err != nil {
			s.writeError(c, r, err)
			return
		}
		if s.toOwner(c, r, rt) { // cluster mode: the session runs on another node
			return
		}
		if rt.stream {
			r.ctx, r.cancel = context.WithCancel(s.streamCtx)
		} else {
			timeout := rt.timeout
			if timeout == 0 {
				timeout = s.cfg.WriteTimeout.D()
			}
			if timeout > 0 {
				r.ctx, r.cancel = context.WithTimeout(s.baseCtx, timeout)
			} else {
				r.ctx, r.cancel = context.WithCancel(s.baseCtx)
			}
		}
		err := rt.handle(c, r)
		if r.cancel != nil {
			r.cancel()
			r.cancel = nil
		}
		if err != nil {
			s.writeError(c, r, err)
		}
	}
}

// authorize resolves X-Api-Key to r.principal and enforces the route's auth level.
// Stream routes also accept the key as the x-api-key query parameter, because browsers
// cannot set headers on EventSource and WebSocket.
func (s *Server) authorize(c *fasthttp.RequestCtx, r *request, rt route) error {
	if rt.auth == authNone {
		return nil
	}
	if raw, ok := c.UserValue(forward.PrincipalKey).(json.RawMessage); ok {
		// Forwarded by the node that took the request (cluster mode): it authenticated
		// the key, and act-as already made the principal read-only. Only forward.Serve,
		// in this process, sets this value; no HTTP request can.
		var p tenant.Principal
		if err := json.Unmarshal(raw, &p); err != nil || (!p.Admin && p.Tenant == "") {
			return unauthorized("forwarded request without a valid principal")
		}
		r.principal = p
		return s.checkLevel(p, rt)
	}
	key := c.Request.Header.Peek("X-Api-Key")
	if len(key) == 0 && rt.stream {
		key = c.QueryArgs().Peek("x-api-key")
	}
	if len(key) == 0 {
		return unauthorized("missing X-Api-Key header")
	}
	// No deadline of its own: Authenticate answers from memory or one Badger read (which
	// takes no context); a timer per request was 5% of the send path's CPU.
	p, err := s.d.Tenants.Authenticate(s.baseCtx, string(key))
	if errors.Is(err, tenant.ErrUnauthenticated) {
		return unauthorized("invalid or revoked X-Api-Key")
	}
	if err != nil {
		return err
	}
	r.principal = p // r.log adds the tenant from here on (reqLog)
	if v := actAsTenant(c, rt); len(v) > 0 && rt.auth == authTenant {
		if err := s.actAs(r, rt, string(v)); err != nil {
			return err
		}
		return nil // a read-only principal of the tenant, for a read route (actas.go)
	} else if len(v) > 0 && !p.Admin && rt.auth != authNone {
		return forbidden("act_as_admin_only",
			headerActAs+" is for the admin key only; a tenant key acts on its own tenant (drop the header)")
	}
	return s.checkLevel(p, rt)
}

// checkLevel enforces the route's auth level and scope on an authenticated principal.
func (s *Server) checkLevel(p tenant.Principal, rt route) error {
	switch rt.auth {
	case authTenant:
		if p.Admin || p.Tenant == "" {
			return forbidden("tenant_key_required",
				"this route acts on one tenant's resources and needs that tenant's API key; the admin key manages tenants only")
		}
	case authAdmin:
		if !p.Admin {
			return forbidden("admin_required", "this route needs the admin API key")
		}
	}
	return checkScope(p, rt)
}

// takesWork reports whether a route takes new work that the gateway must store and
// carry out (a send, a batch, a retry): the routes Deps.Admission guards. Reads,
// session management and webhooks stay available while the gateway sheds work, so that
// tenants can still see and manage what they have.
func takesWork(rt route) bool {
	return rt.doc.tag == "sending" && rt.method != http.MethodGet
}

// admit asks Deps.Admission about a route that takes work and turns its refusal into
// the API error: 503 storage_low (free disk under disk.min_free) or 429
// memory_pressure (memory over memory.high_watermark), both with Retry-After.
func (s *Server) admit(rt route) error {
	if s.d.Admission == nil || !takesWork(rt) {
		return nil
	}
	err := s.d.Admission()
	var low *diskguard.LowError
	var mem *memguard.PressureError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &low):
		return unavailable("storage_low",
			"the gateway is low on disk space and refuses new messages until space is freed; retry later",
			low.RetryAfter, d("free_bytes", low.Free, "min_free_bytes", low.MinFree))
	case errors.As(err, &mem):
		return tooManyRequests("memory_pressure",
			"the gateway is under memory pressure and sheds new messages; retry after Retry-After",
			mem.RetryAfter)
	}
	return err
}

// httpMetrics are the request metrics, labelled by route pattern, method and status.
type httpMetrics struct {
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec

	// handles holds the children of both vectors by label values, resolved once: the
	// vectors' own lookup hashes the labels and formats the status on every request.
	mu      sync.RWMutex
	handles map[metricLabels]metricHandles
}

type metricLabels struct {
	route, method string
	status        int
}

type metricHandles struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to handle an HTTP request, by route pattern, method and status. Streams count until their first byte.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests handled, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
	}
	m.handles = map[metricLabels]metricHandles{}
	m.duration = registerOrExisting(reg, m.duration)
	m.requests = registerOrExisting(reg, m.requests)
	return m
}

// registerOrExisting registers c, or returns the identical collector already there
// (a second Server on the same registry shares the metrics).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("api: registering metrics: %v", err))
	}
	return c
}

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	k := metricLabels{route, method, status}
	m.mu.RLock()
	h, ok := m.handles[k]
	m.mu.RUnlock()
	if !ok {
		st := strconv.Itoa(status)
		h = metricHandles{m.requests.WithLabelValues(route, method, st), m.duration.WithLabelValues(route, method, st)}
		m.mu.Lock()
		m.handles[k] = h
		m.mu.Unlock()
	}
	h.requests.Inc()
	h.duration.Observe(d.Seconds())
}
