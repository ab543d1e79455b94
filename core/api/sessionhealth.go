package api

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/steer"
)

// sessionHealthAnswer is what GET /api/sessions/{session}/health answers: the health
// monitor's view with the recent failures, the queue's backlog, the pacing state.
type sessionHealthAnswer struct {
	Session string         `json:"session"`
	Health  session.Health `json:"health"`
	Queue   queue.Backlog  `json:"queue"`
	// Pacing is absent when the gateway has no pacing state to give (no steer).
	Pacing *steer.PacingState `json:"pacing,omitempty"`
}

func (s *Server) sessionHealthRoutes() []route {
	return []route{
		{method: http.MethodGet, path: "/api/sessions/{session}/health", auth: authTenant, handle: s.sessionHealth,
			doc: routeDoc{tag: "sessions", summary: "A session's health, pacing state, queue and recent failures (ours)",
				description: "`health.verdict` sums the state up (healthy, degraded, connecting, reconnecting, pairing, down, stopped); " +
					"`health.failures` are the last 20 failures, newest first, kept in memory; `pacing.rule` previews the built-in " +
					"pacing rule (absent when pacing is off). See docs/api.md.",
				response: sessionHealthAnswer{}}},
	}
}

func (s *Server) sessionHealth(c *fasthttp.RequestCtx, r *request) error {
	name := sessionName(c)
	h, err := s.d.Sessions.Health(r.ctx, r.tenant(), name)
	if err != nil {
		return err
	}
	a := sessionHealthAnswer{Session: name, Health: h}
	if a.Queue, err = s.d.Queue.Backlog(r.tenant(), name, time.Now()); err != nil {
		return err
	}
	if s.d.Steer != nil {
		p, err := s.d.Steer.PacingState(r.ctx, r.tenant(), name)
		if err != nil {
			return err
		}
		a.Pacing = &p
	}
	return writeJSON(c, http.StatusOK, a)
}
