package api

import (
	"context"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/tenant"
)

// Usage: what a tenant used against its plan. The tenant reads its own
// (GET /api/usage, read scope); the admin any tenant's (GET /api/admin/tenants/{id}/usage).

// usageAnswer is a tenant's usage against its plan.
type usageAnswer struct {
	Tenant string      `json:"tenant"`
	Plan   tenant.Plan `json:"plan"`
	// Messages are the messages accepted today and this month (UTC), as the daily
	// limit counts them (each accepted message once, whatever became of it).
	Messages tenant.MessageUsage `json:"messages"`
	// RemainingToday is what the daily limit still allows; absent when unlimited.
	RemainingToday *int `json:"remainingToday,omitempty"`
	// Sessions counts the tenant's sessions against plan.maxSessions.
	Sessions sessionUsage `json:"sessions"`
}

type sessionUsage struct {
	Count int `json:"count"`
	Limit int `json:"limit"`
	// ByState counts them by status (WORKING, SCAN_QR_CODE, STOPPED, ...).
	ByState map[string]int `json:"byState"`
}

func (s *Server) usageRoutes() []route {
	return []route{
		{method: http.MethodGet, path: "/api/usage", auth: authTenant, handle: s.ownUsage,
			doc: routeDoc{tag: "sessions", summary: "The tenant's usage against its plan: messages today and this month, sessions (ours)",
				response: usageAnswer{}}},
		{method: http.MethodGet, path: "/api/admin/tenants/{id}/usage", auth: authAdmin, handle: s.tenantUsage,
			doc: routeDoc{tag: "admin", summary: "A tenant's usage against its plan: messages today and this month, sessions",
				response: usageAnswer{}}},
	}
}

func (s *Server) ownUsage(c *fasthttp.RequestCtx, r *request) error {
	u, err := s.usageOf(r.ctx, r.tenant())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, u)
}

func (s *Server) tenantUsage(c *fasthttp.RequestCtx, r *request) error {
	u, err := s.usageOf(r.ctx, pathParam(c, "id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, u)
}

// usageOf reads a tenant's plan, message counts and sessions (tenant_not_found for an
// unknown tenant).
func (s *Server) usageOf(ctx context.Context, id string) (usageAnswer, error) {
	t, err := s.d.Tenants.Get(ctx, id)
	if err != nil {
		return usageAnswer{}, err
	}
	m, err := s.d.Tenants.Messages(ctx, id)
	if err != nil {
		return usageAnswer{}, err
	}
	u := usageAnswer{Tenant: t.ID, Plan: t.Plan, Messages: m,
		Sessions: sessionUsage{Limit: t.Plan.MaxSessions, ByState: map[string]int{}}}
	if lim := t.Plan.MaxMessagesPerDay; lim > 0 {
		left := max(lim-m.Today, 0)
		u.RemainingToday = &left
	}
	if s.d.Sessions != nil {
		list, err := s.d.Sessions.List(ctx, id)
		if err != nil {
			return usageAnswer{}, err
		}
		u.Sessions.Count = len(list)
		for _, in := range list {
			u.Sessions.ByState[string(in.Status)]++
		}
	}
	return u, nil
}
