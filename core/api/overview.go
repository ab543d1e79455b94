package api

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/webhook"
)

// The tenant's overview (GET /api/overview): the console's Overview page for a tenant,
// its own figures only; the gateway-wide ones are on /metrics.

// maxOverviewPending bounds the pending webhook deliveries counted per overview.
const maxOverviewPending = 100_000

// overviewAnswer is a tenant's figures now.
type overviewAnswer struct {
	Tenant string `json:"tenant"`
	// Sessions counts the tenant's sessions by status.
	Sessions sessionUsage `json:"sessions"`
	// Messages: sent through the tenant's sessions in the last minute and hour (every
	// provider call, retries included, since this process started), and accepted today
	// and this month (the daily limit's count).
	Messages overviewMessages `json:"messages"`
	// Queue is what waits in all the tenant's session queues.
	Queue overviewQueue `json:"queue"`
	// Webhooks is the tenant's webhook backlog.
	Webhooks webhook.Backlog `json:"webhooks"`
}

type overviewMessages struct {
	SentLastMinute int `json:"sentLastMinute"`
	SentLastHour   int `json:"sentLastHour"`
	AcceptedToday  int `json:"acceptedToday"`
	AcceptedMonth  int `json:"acceptedThisMonth"`
}

type overviewQueue struct {
	// Waiting counts the messages queued or sending.
	Waiting int `json:"waiting"`
	// Oldest is when the oldest of them was accepted (absent when none waits), and
	// OldestSession its session.
	Oldest           *time.Time `json:"oldest,omitempty"`
	OldestSession    string     `json:"oldestSession,omitempty"`
	OldestAgeSeconds float64    `json:"oldestAgeSeconds"`
}

func (s *Server) overviewRoutes() []route {
	return []route{
		{method: http.MethodGet, path: "/api/overview", auth: authTenant, handle: s.overview,
			doc: routeDoc{tag: "sessions", summary: "The tenant's figures now: sessions by state, messages a minute, queue depth, webhook backlog (ours)",
				response: overviewAnswer{}}},
	}
}

func (s *Server) overview(c *fasthttp.RequestCtx, r *request) error {
	id := r.tenant()
	m, err := s.d.Tenants.Messages(r.ctx, id)
	if err != nil {
		return err
	}
	list, err := s.d.Sessions.List(r.ctx, id)
	if err != nil {
		return err
	}
	a := overviewAnswer{Tenant: id, Sessions: sessionUsage{Count: len(list), ByState: map[string]int{}},
		Messages: overviewMessages{AcceptedToday: m.Today, AcceptedMonth: m.ThisMonth}}
	if t, err := s.d.Tenants.Get(r.ctx, id); err == nil {
		a.Sessions.Limit = t.Plan.MaxSessions
	}
	now := time.Now()
	for _, in := range list {
		a.Sessions.ByState[string(in.Status)]++
		if s.d.Steer != nil {
			minute, hour, _ := s.d.Steer.Sent(id, in.Name)
			a.Messages.SentLastMinute += minute
			a.Messages.SentLastHour += hour
		}
		b, err := s.d.Queue.Backlog(id, in.Name, now)
		if err != nil {
			return err
		}
		a.Queue.Waiting += b.Waiting
		if b.Oldest != nil && (a.Queue.Oldest == nil || b.Oldest.Before(*a.Queue.Oldest)) {
			a.Queue.Oldest, a.Queue.OldestSession, a.Queue.OldestAgeSeconds = b.Oldest, in.Name, b.OldestAgeSeconds
		}
	}
	if s.d.Webhooks != nil {
		if a.Webhooks, err = s.d.Webhooks.Backlog(r.ctx, id, maxOverviewPending); err != nil {
			return err
		}
	}
	return writeJSON(c, http.StatusOK, a)
}
