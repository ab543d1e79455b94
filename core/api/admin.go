package api

import (
	"cmp"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/tenant"
)

// createTenantRequest is the body of POST /api/admin/tenants. Every field is optional.
type createTenantRequest struct {
	// ID is the tenant id (1-40 of a-z, 0-9, '-'); generated ("t-...") when empty.
	ID string `json:"id,omitempty"`
	// Name is a display name; defaults to the id.
	Name string `json:"name,omitempty"`
	// Plan, when given, must set both limits; the gateway's default plan otherwise.
	Plan *planInput `json:"plan,omitempty"`
}

// planInput is a plan in a request: both fields are required when a plan is given, so
// that a forgotten field does not silently become 0 ("unlimited" messages).
type planInput struct {
	MaxSessions       *int `json:"maxSessions"`
	MaxMessagesPerDay *int `json:"maxMessagesPerDay"`
	// MaxCampaigns and MaxListSize are optional: 0, or absent from a create or a PUT,
	// means the gateway's defaults (campaigns.max_campaigns, campaigns.max_list_size).
	MaxCampaigns *int `json:"maxCampaigns,omitempty"`
	MaxListSize  *int `json:"maxListSize,omitempty"`
}

// createTenantResponse is the body of a created tenant: the tenant and its first API
// key, whose secret is shown this once.
type createTenantResponse struct {
	Tenant tenant.Tenant `json:"tenant"`
	APIKey tenant.NewKey `json:"apiKey"`
}

// createKeyRequest is the body of POST /api/admin/tenants/{id}/keys (optional).
type createKeyRequest struct {
	// Name labels the key, e.g. "crm-prod"; defaults to "key".
	Name string `json:"name,omitempty"`
	// Scopes is what the key may do: any of "read" (every GET), "send" (the routes
	// that queue messages), "admin" (the whole tenant). Empty or absent: ["admin"].
	Scopes []tenant.Scope `json:"scopes,omitempty"`
}

// updateTenantRequest is the body of PUT and PATCH /api/admin/tenants/{id}. PUT needs
// the whole plan (both limits); PATCH changes only the fields given.
type updateTenantRequest struct {
	// Name is the display name, 1 to 100 characters; left as it is when absent.
	Name *string `json:"name,omitempty"`
	// Plan holds the limits to change.
	Plan *planInput `json:"plan,omitempty"`
}

// apiKeyInfo is a stored key as listed: never the secret nor its hash.
type apiKeyInfo struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Revoked   bool       `json:"revoked"`
	// Scopes is what the key may do (read, send, admin).
	Scopes []tenant.Scope `json:"scopes"`
}

func (s *Server) adminRoutes() []route {
	return []route{
		{
			method: http.MethodPost, path: "/api/admin/tenants", auth: authAdmin,
			handle: s.createTenant,
			doc: routeDoc{tag: "admin", summary: "Create a tenant and its first API key (shown once)",
				request: createTenantRequest{}, requestOptional: true,
				response: createTenantResponse{}, status: http.StatusCreated},
		},
		{
			method: http.MethodGet, path: "/api/admin/tenants", auth: authAdmin,
			handle: s.listTenants,
			doc: routeDoc{tag: "admin", summary: "List tenants, ordered by id",
				response: []tenant.Tenant{}},
		},
		{
			method: http.MethodGet, path: "/api/admin/tenants/{id}", auth: authAdmin,
			handle: s.getTenant,
			doc:    routeDoc{tag: "admin", summary: "Get a tenant", response: tenant.Tenant{}},
		},
		{
			method: http.MethodPut, path: "/api/admin/tenants/{id}", auth: authAdmin,
			handle: s.putTenant,
			doc: routeDoc{tag: "admin", summary: "Change a tenant's plan (both limits required) and optionally its name; applies at once",
				request: updateTenantRequest{}, response: tenant.Tenant{}},
		},
		{
			method: http.MethodPatch, path: "/api/admin/tenants/{id}", auth: authAdmin,
			handle: s.patchTenant,
			doc: routeDoc{tag: "admin", summary: "Change some of a tenant's name and plan limits; applies at once",
				request: updateTenantRequest{}, response: tenant.Tenant{}},
		},
		{
			method: http.MethodDelete, path: "/api/admin/tenants/{id}", auth: authAdmin,
			handle: s.deleteTenant,
			doc: routeDoc{tag: "admin", summary: "Delete a tenant with its sessions, keys and usage",
				status: http.StatusNoContent},
		},
		{
			method: http.MethodPost, path: "/api/admin/tenants/{id}/keys", auth: authAdmin,
			handle: s.createKey,
			doc: routeDoc{tag: "admin", summary: "Create an API key for a tenant (secret shown once)",
				request: createKeyRequest{}, requestOptional: true,
				response: tenant.NewKey{}, status: http.StatusCreated},
		},
		{
			method: http.MethodGet, path: "/api/admin/tenants/{id}/keys", auth: authAdmin,
			handle: s.listKeys,
			doc: routeDoc{tag: "admin", summary: "List a tenant's API keys (without secrets), oldest first",
				response: []apiKeyInfo{}},
		},
		{
			method: http.MethodDelete, path: "/api/admin/tenants/{id}/keys/{keyId}", auth: authAdmin,
			handle: s.revokeKey,
			doc: routeDoc{tag: "admin", summary: "Revoke an API key at once (revoking twice is not an error)",
				status: http.StatusNoContent},
		},
	}
}

func (s *Server) createTenant(c *fasthttp.RequestCtx, r *request) error {
	var in createTenantRequest
	if err := decodeOptionalJSON(c, &in); err != nil {
		return err
	}
	ci := tenant.CreateInput{ID: in.ID, Name: in.Name}
	if in.Plan != nil {
		p, err := in.Plan.plan("plan.")
		if err != nil {
			return err
		}
		ci.Plan = &p
	}
	t, key, err := s.d.Tenants.Create(r.ctx, ci)
	if err != nil {
		return err
	}
	r.log.Info("tenant created", "tenant", t.ID)
	return writeJSON(c, http.StatusCreated, createTenantResponse{Tenant: t, APIKey: key})
}

// plan checks that both limits are given; prefix names the fields in errors.
func (p *planInput) plan(prefix string) (tenant.Plan, error) {
	switch {
	case p.MaxSessions == nil:
		return tenant.Plan{}, badRequest("missing_field", prefix+"maxSessions is required when a plan is given",
			d("field", prefix+"maxSessions"))
	case p.MaxMessagesPerDay == nil:
		return tenant.Plan{}, badRequest("missing_field", prefix+"maxMessagesPerDay is required when a plan is given (0 means unlimited)",
			d("field", prefix+"maxMessagesPerDay"))
	}
	return tenant.Plan{MaxSessions: *p.MaxSessions, MaxMessagesPerDay: *p.MaxMessagesPerDay, MaxCampaigns: intOr0(p.MaxCampaigns), MaxListSize: intOr0(p.MaxListSize)}, nil
}

// intOr0 is *p, or 0 for nil.
func intOr0(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func (s *Server) listTenants(c *fasthttp.RequestCtx, r *request) error {
	ts, err := s.d.Tenants.List(r.ctx)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ts)
}

func (s *Server) getTenant(c *fasthttp.RequestCtx, r *request) error {
	t, err := s.d.Tenants.Get(r.ctx, pathParam(c, "id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, t)
}

func (s *Server) putTenant(c *fasthttp.RequestCtx, r *request) error {
	return s.updateTenant(c, r, true)
}

func (s *Server) patchTenant(c *fasthttp.RequestCtx, r *request) error {
	return s.updateTenant(c, r, false)
}

// updateTenant changes a tenant's name and plan; whole says the plan must be complete
// (PUT). The tenant must exist (404 tenant_not_found) before its body is judged.
func (s *Server) updateTenant(c *fasthttp.RequestCtx, r *request, whole bool) error {
	id := pathParam(c, "id")
	if _, err := s.d.Tenants.Get(r.ctx, id); err != nil {
		return err
	}
	var in updateTenantRequest
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	up := tenant.UpdateInput{Name: in.Name}
	if p := in.Plan; p != nil {
		up.MaxSessions, up.MaxMessagesPerDay = p.MaxSessions, p.MaxMessagesPerDay
		up.MaxCampaigns, up.MaxListSize = p.MaxCampaigns, p.MaxListSize
		if whole { // PUT: the whole plan, so an absent campaign limit is the default
			zero := 0
			up.MaxCampaigns = cmp.Or(up.MaxCampaigns, &zero)
			up.MaxListSize = cmp.Or(up.MaxListSize, &zero)
		}
	}
	switch {
	case whole && (in.Plan == nil || in.Plan.MaxSessions == nil):
		return badRequest("missing_field", "plan.maxSessions is required (PATCH changes only what it is given)",
			d("field", "plan.maxSessions"))
	case whole && in.Plan.MaxMessagesPerDay == nil:
		return badRequest("missing_field", "plan.maxMessagesPerDay is required (0 means unlimited)",
			d("field", "plan.maxMessagesPerDay"))
	case up.Name == nil && up.MaxSessions == nil && up.MaxMessagesPerDay == nil && up.MaxCampaigns == nil && up.MaxListSize == nil:
		return badRequest("empty_update", "give name, plan.maxSessions, plan.maxMessagesPerDay, plan.maxCampaigns or plan.maxListSize to change")
	}
	t, err := s.d.Tenants.Update(r.ctx, id, up)
	if err != nil {
		return err
	}
	r.log.Info("tenant updated", "tenant", t.ID, "max_sessions", t.Plan.MaxSessions, "max_messages_per_day", t.Plan.MaxMessagesPerDay)
	return writeJSON(c, http.StatusOK, t)
}

func (s *Server) deleteTenant(c *fasthttp.RequestCtx, r *request) error {
	id := pathParam(c, "id")
	// Keys first: from here nothing of the tenant authenticates, so no new session or
	// stream can appear while its sessions are deleted. A delete cut short is finished
	// by repeating the request.
	if err := s.d.Tenants.BeginDelete(r.ctx, id); err != nil {
		return err
	}
	s.d.Bus.Revoke(id, "")
	if s.d.DeleteTenantSessions != nil {
		if err := s.d.DeleteTenantSessions(r.ctx, id); err != nil {
			return err
		}
	}
	if err := s.d.Tenants.FinishDelete(r.ctx, id); err != nil {
		return err
	}
	r.log.Info("tenant deleted", "tenant", id)
	return writeNoContent(c)
}

func (s *Server) createKey(c *fasthttp.RequestCtx, r *request) error {
	var in createKeyRequest
	if err := decodeOptionalJSON(c, &in); err != nil {
		return err
	}
	if len(in.Name) > 100 {
		return badRequest("invalid_value", "name must be at most 100 characters", d("field", "name"))
	}
	id := pathParam(c, "id")
	key, err := s.d.Tenants.CreateKey(r.ctx, id, in.Name, in.Scopes...)
	if err != nil {
		return err
	}
	r.log.Info("api key created", "tenant", id, "key_id", key.ID)
	return writeJSON(c, http.StatusCreated, key)
}

func (s *Server) listKeys(c *fasthttp.RequestCtx, r *request) error {
	keys, err := s.d.Tenants.ListKeys(r.ctx, pathParam(c, "id"))
	if err != nil {
		return err
	}
	out := make([]apiKeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, apiKeyInfo{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, Revoked: k.RevokedAt != nil,
			Scopes: k.EffectiveScopes()})
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) revokeKey(c *fasthttp.RequestCtx, r *request) error {
	id, keyID := pathParam(c, "id"), pathParam(c, "keyId")
	if err := s.d.Tenants.RevokeKey(r.ctx, id, keyID); err != nil {
		return err
	}
	s.d.Bus.Revoke(id, keyID) // its open event streams end now
	r.log.Info("api key revoked", "tenant", id, "key_id", keyID)
	return writeNoContent(c)
}
