package api

import (
	"net/http"

	"github.com/wagate/wagate/core/tenant"
)

// sendTags are the tags whose non-GET routes queue messages: what a send key may do.
var sendTags = map[string]bool{"sending": true, "status": true}

// routeScope is the scope a tenant key needs to call rt: rt.scope when the route table
// sets one; otherwise read for GET (and HEAD), send for the routes of sendTags that take
// a message, admin (the whole tenant) for everything else. Routes without a tenant key
// (ops, admin) need none.
func routeScope(rt route) tenant.Scope {
	if rt.auth == authNone || rt.auth == authAdmin {
		return ""
	}
	if rt.scope != "" {
		return rt.scope
	}
	switch {
	case rt.method == http.MethodGet || rt.method == http.MethodHead:
		return tenant.ScopeRead
	case sendTags[rt.doc.tag]:
		return tenant.ScopeSend
	}
	return tenant.ScopeAdmin
}

// checkScope refuses a tenant key without the route's scope: 403 insufficient_scope,
// with the scope needed and the key's in the details.
func checkScope(p tenant.Principal, rt route) error {
	need := routeScope(rt)
	if p.Allows(need) {
		return nil
	}
	return forbidden("insufficient_scope", "this API key's scopes do not allow this route; it needs the "+string(need)+" scope",
		d("required_scope", string(need), "key_scopes", p.Scopes))
}
