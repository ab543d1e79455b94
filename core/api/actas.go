package api

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/tenant"
)

// Acting as a tenant, read-only: the admin key with the header X-Wagate-Tenant: <id>
// on a tenant route reads that tenant's resources as a read-scoped key of the tenant
// would. It is how an operator (and the console's "Open read-only") looks at a
// tenant's sessions, messages and webhooks without holding one of its keys:
//
//   - only on the tenant routes whose scope is read (the GET routes, minus the QR code
//     and the webhook secret, which need the admin scope): any other tenant route
//     answers 403 act_as_read_only, so the admin never writes as a tenant;
//   - only with the admin key: a tenant key with the header is refused with 403
//     act_as_admin_only (a key acts on its own tenant only; refusing, not ignoring, so a
//     client that believes it acts as another tenant learns it does not);
//   - an unknown (or deleting) tenant is 404 tenant_not_found;
//   - the admin key on routes that are not tenant routes (admin, server) ignores the
//     header; a tenant key with it is refused on every route;
//   - stream routes (SSE, WebSocket) also take it as the x-wagate-tenant query
//     parameter, as they take x-api-key, for browsers.
//
// Without the header the admin key is refused on tenant routes as before (403
// tenant_key_required). Acting requests are logged with the tenant and act_as=true.
const headerActAs = "X-Wagate-Tenant"

// actAsKeyID is the KeyID of an acting principal: no tenant key, so revoking one of the
// tenant's keys leaves the admin's streams open; deleting the tenant closes them.
const actAsKeyID = "admin"

// actAs returns the tenant the request asks to act as ("" for none).
func actAsTenant(c *fasthttp.RequestCtx, rt route) []byte {
	v := c.Request.Header.Peek(headerActAs)
	if len(v) == 0 && rt.stream {
		v = c.QueryArgs().Peek("x-wagate-tenant")
	}
	return v
}

// actAs turns r's admin principal into a read-only principal of tenant id, for rt.
func (s *Server) actAs(r *request, rt route, id string) error {
	if !r.principal.Admin {
		return forbidden("act_as_admin_only",
			headerActAs+" is for the admin key only; a tenant key acts on its own tenant (drop the header)")
	}
	if routeScope(rt) != tenant.ScopeRead {
		return forbidden("act_as_read_only",
			"the admin acts as a tenant read-only: "+headerActAs+" is honoured on the tenant routes of the read scope only",
			d("tenant", id, "required_scope", string(routeScope(rt))))
	}
	t, err := s.d.Tenants.Get(s.baseCtx, id)
	if errors.Is(err, tenant.ErrNotFound) || err == nil && t.Deleting {
		return notFound("tenant_not_found", "no tenant "+id, d("tenant", id))
	}
	if err != nil {
		return err
	}
	r.principal = tenant.Principal{Tenant: t.ID, KeyID: actAsKeyID, Scopes: []tenant.Scope{tenant.ScopeRead}}
	r.actingAdmin = true
	return nil
}
