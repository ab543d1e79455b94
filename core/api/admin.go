package api

import (
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
}

// apiKeyInfo is a stored key as listed: never the secret nor its hash.
type apiKeyInfo struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Revoked   bool       `json:"revoked"`
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
			method: http.MethodPut, path: "/api/admin/tenants/{id}/plan", auth: authAdmin,
			handle: s.setPlan,
			doc: routeDoc{tag: "admin", summary: "Replace a tenant's plan (both limits required); applies from the next request",
				request: planInput{}, response: tenant.Tenant{}},
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
	return tenant.Plan{MaxSessions: *p.MaxSessions, MaxMessagesPerDay: *p.MaxMessagesPerDay}, nil
}

func (s *Server) setPlan(c *fasthttp.RequestCtx, r *request) error {
	var in planInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := in.plan("")
	if err != nil {
		return err
	}
	t, err := s.d.Tenants.SetPlan(r.ctx, pathParam(c, "id"), p)
	if err != nil {
		return err
	}
	r.log.Info("tenant plan changed", "tenant", t.ID, "max_sessions", p.MaxSessions, "max_messages_per_day", p.MaxMessagesPerDay)
	return writeJSON(c, http.StatusOK, t)
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
	key, err := s.d.Tenants.CreateKey(r.ctx, id, in.Name)
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
		out = append(out, apiKeyInfo{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, Revoked: k.RevokedAt != nil})
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
