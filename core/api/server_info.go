package api

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/event"
)

// The server routes are WAHA's observability routes (its ServerController,
// PingController and VersionController), with WAHA's shapes.

// processStart is when this process began, for /api/server/status.
var processStart = time.Now()

// pingAnswer is GET /ping (WAHA's PingResponse).
type pingAnswer struct {
	// Message is always "pong".
	Message string `json:"message"`
}

// serverStatus is GET /api/server/status (WAHA's ServerStatusResponse).
type serverStatus struct {
	// StartTimestamp is when the server started, Unix milliseconds.
	StartTimestamp int64 `json:"startTimestamp"`
	// Uptime is how long it has run, in milliseconds.
	Uptime int64 `json:"uptime"`
	// Worker is the node: one gateway is one worker, id "" (WAHA's default
	// WAHA_WORKER_ID).
	Worker serverWorker `json:"worker"`
}

type serverWorker struct {
	ID string `json:"id"`
}

func (s *Server) serverRoutes() []route {
	version := routeDoc{tag: "server", response: event.Environment{},
		summary: "The gateway's version, default engine and tier (WAHA's WAHAEnvironment)"}
	deprecated := version
	deprecated.summary = "Same as GET /api/server/version (WAHA's older path)"
	return []route{
		{method: http.MethodGet, path: "/ping", auth: authNone, handle: ping,
			doc: routeDoc{tag: "server", summary: `Is the server alive: {"message":"pong"}, no key needed`, response: pingAnswer{}}},
		{method: http.MethodGet, path: "/api/server/version", auth: authAny, handle: s.serverVersion, doc: version},
		{method: http.MethodGet, path: "/api/version", auth: authAny, handle: s.serverVersion, doc: deprecated},
		{method: http.MethodGet, path: "/api/server/status", auth: authAny, handle: serverStatusOf,
			doc: routeDoc{tag: "server", summary: "When the server started and how long it has run", response: serverStatus{}}},
	}
}

func ping(c *fasthttp.RequestCtx, _ *request) error {
	return writeJSON(c, http.StatusOK, pingAnswer{Message: "pong"})
}

func (s *Server) serverVersion(c *fasthttp.RequestCtx, _ *request) error {
	env := event.Environment{Tier: event.Tier}
	if s.d.Sessions != nil {
		env = s.d.Sessions.Environment()
	}
	return writeJSON(c, http.StatusOK, env)
}

func serverStatusOf(c *fasthttp.RequestCtx, _ *request) error {
	now := time.Now()
	return writeJSON(c, http.StatusOK, serverStatus{StartTimestamp: processStart.UnixMilli(),
		Uptime: now.Sub(processStart).Milliseconds()})
}
