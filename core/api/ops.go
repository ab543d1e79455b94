package api

import (
	"context"
	"github.com/wagate/wagate/core/api/dashboard"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// statusResponse is the body of /health and /ready.
type statusResponse struct {
	// Status is "ok".
	Status string `json:"status"`
}

// readyTimeout bounds the Ready check.
const readyTimeout = 5 * time.Second

func (s *Server) opsRoutes() []route {
	metrics := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.d.Registry, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return []route{
		{
			method: http.MethodGet, path: "/health", auth: authNone,
			handle: s.health,
			doc: routeDoc{tag: "ops", summary: "Liveness: the process is up and serving HTTP",
				response: statusResponse{}},
		},
		{
			method: http.MethodGet, path: "/ready", auth: authNone,
			handle: s.ready,
			doc: routeDoc{tag: "ops", summary: "Readiness: the gateway can take traffic (503 not_ready otherwise)",
				response: statusResponse{}},
		},
		{
			method: http.MethodGet, path: "/metrics", auth: authNone,
			handle: func(c *fasthttp.RequestCtx, _ *request) error { metrics(c); return nil },
			doc: routeDoc{tag: "ops", summary: "Prometheus metrics (text exposition format)",
				contentType: "text/plain; version=0.0.4"},
		},
		{
			method: http.MethodGet, path: "/", auth: authNone,
			handle: dashboardPage,
			doc: routeDoc{tag: "ops", summary: "The web console (HTML; it asks for the admin key or a tenant API key)",
				contentType: dashboard.ContentType},
		},
		{
			method: http.MethodGet, path: "/static/{file}", auth: authNone,
			handle: consoleFile,
			doc: routeDoc{tag: "ops", summary: "A file of the web console (app.js, api.js, style.css, favicon.svg)",
				contentType: "text/javascript"},
		},
		{
			method: http.MethodGet, path: "/static/pages/{file}", auth: authNone,
			handle: consolePage,
			doc: routeDoc{tag: "ops", summary: "A page module of the web console (sessions.js, chats.js, ...)",
				contentType: "text/javascript"},
		},
		{
			method: http.MethodGet, path: "/favicon.ico", auth: authNone,
			handle: func(c *fasthttp.RequestCtx, _ *request) error {
				serveConsole(c, dashboard.Favicon, dashboard.FaviconType)
				return nil
			},
			doc: routeDoc{tag: "ops", summary: "The console's icon (SVG)", contentType: dashboard.FaviconType},
		},
		{
			method: http.MethodGet, path: "/api/openapi.json", auth: authNone,
			handle: s.openAPI,
			doc: routeDoc{tag: "ops", summary: "This API's OpenAPI 3.1 document, generated from the route table",
				contentType: "application/json"},
		},
	}
}

// dashboardPage serves the embedded console's shell. The page holds no data; it calls
// the API with the key the user types.
func dashboardPage(c *fasthttp.RequestCtx, _ *request) error {
	serveConsole(c, dashboard.Index, dashboard.ContentType)
	return nil
}

// consoleFile serves /static/{file}; consolePage /static/pages/{file}.
func consoleFile(c *fasthttp.RequestCtx, _ *request) error {
	return consoleAsset(c, pathParam(c, "file"))
}
func consolePage(c *fasthttp.RequestCtx, _ *request) error {
	return consoleAsset(c, "pages/"+pathParam(c, "file"))
}

func consoleAsset(c *fasthttp.RequestCtx, name string) error {
	body, ct, ok := dashboard.File(name)
	if !ok {
		return notFound("not_found", "no console file "+name)
	}
	serveConsole(c, body, ct)
	return nil
}

// serveConsole writes a console response with its security headers: the CSP allows
// only same-origin scripts, styles and connections (no inline code).
func serveConsole(c *fasthttp.RequestCtx, body []byte, contentType string) {
	c.Response.Header.Set("Cache-Control", "no-cache")
	c.Response.Header.Set("X-Content-Type-Options", "nosniff")
	c.Response.Header.Set("X-Frame-Options", "DENY")
	c.Response.Header.Set("Content-Security-Policy", dashboard.CSP)
	c.Response.Header.Set("Referrer-Policy", "no-referrer")
	c.SetContentType(contentType)
	c.SetStatusCode(http.StatusOK)
	c.SetBody(body)
}

func (s *Server) health(c *fasthttp.RequestCtx, _ *request) error {
	return writeJSON(c, http.StatusOK, statusResponse{Status: "ok"})
}

func (s *Server) ready(c *fasthttp.RequestCtx, r *request) error {
	s.streamsMu.Lock()
	closing := s.closing
	s.streamsMu.Unlock()
	if closing {
		return unavailable("not_ready", "not ready: shutting down", 0, d("reason", "shutting down"))
	}
	if s.d.Ready != nil {
		ctx, cancel := context.WithTimeout(r.ctx, readyTimeout)
		defer cancel()
		if err := s.d.Ready(ctx); err != nil {
			r.log.Warn("not ready", "err", err)
			return unavailable("not_ready", "not ready: "+err.Error(), 0, d("reason", err.Error()))
		}
	}
	return writeJSON(c, http.StatusOK, statusResponse{Status: "ok"})
}

func (s *Server) openAPI(c *fasthttp.RequestCtx, _ *request) error {
	c.SetStatusCode(http.StatusOK)
	c.SetContentType(contentTypeJSON)
	c.SetBody(s.openapi)
	return nil
}

// promLogger sends promhttp's gathering errors to the server log.
type promLogger struct{ s *Server }

func (p promLogger) Println(v ...any) { p.s.log.Warn("metrics gathering", "err", v) }
