package api

import (
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/tenant"
)

// authLevel is who may call a route.
type authLevel int

const (
	// authNone: no key (ops routes, the OpenAPI document).
	authNone authLevel = iota
	// authTenant: a tenant key; the admin key is refused with 403 tenant_key_required.
	// The handler finds the tenant in r.principal.Tenant, never in the URL or body.
	authTenant
	// authAdmin: the admin key; tenant keys are refused with 403 admin_required.
	authAdmin
	// authAny: any valid key, a tenant's or the admin's (the server routes).
	authAny
)

// handlerFunc handles one request. It writes its success response (writeJSON,
// writeNoContent, ...) and returns nil, or returns an error and writes nothing:
// writeError turns the error into the response.
type handlerFunc func(c *fasthttp.RequestCtx, r *request) error

// route is one entry of the route table: the router is built from it and the OpenAPI
// document is generated from it, so the two cannot disagree.
type route struct {
	// method is the HTTP method, e.g. fasthttp.MethodGet.
	method string
	// path is the pattern with {params}, e.g. /api/sessions/{session}. It is also the
	// route label of logs and metrics.
	path string
	// auth is who may call the route.
	auth authLevel
	// scope is what a tenant key needs to call the route; "" means the default of
	// routeScope (GET read, sends send, everything else admin). Shown in the OpenAPI
	// document as x-wagate-scope.
	scope tenant.Scope
	// handle serves the route.
	handle handlerFunc
	// stream marks long-lived responses (SSE, WebSocket): no handler deadline, no write
	// timeout, context cancelled as soon as Shutdown starts.
	stream bool
	// timeout overrides the handler deadline (server.write_timeout) for slow routes.
	timeout time.Duration
	// anyNode marks a route with a {session} parameter that any node serves from the
	// shared state in cluster mode; the others go to the session's owner (owner.go).
	anyNode bool
	// doc describes the route in the OpenAPI document.
	doc routeDoc
}

// routeDoc is the OpenAPI description of a route.
type routeDoc struct {
	// summary is one line shown in API browsers.
	summary string
	// description is optional longer text (Markdown).
	description string
	// tag groups routes, lowercase: "sessions", "auth", "sending", "events",
	// "sandbox", "admin", "ops" (tagOrder in openapi.go gives order and descriptions).
	tag string
	// request is a value of the JSON body type, e.g. createTenantRequest{}; nil if
	// the route takes no body.
	request any
	// requestOptional marks a body that may be left out (decodeOptionalJSON).
	requestOptional bool
	// response is a value of the success body type, e.g. tenant.Tenant{} or
	// []tenant.Tenant{}; nil if there is no JSON body.
	response any
	// contentType of a non-JSON success body, e.g. text/event-stream.
	contentType string
	// status is the success status; 0 means 200.
	status int
	// query lists the query parameters, each "name" or "name: description".
	query []string
}

// routes is the whole route table. Every route the server answers is here; nothing
// registers on the router any other way (buildRouter), which openapi_test.go checks.
func (s *Server) routes() []route {
	var all []route
	for _, group := range [][]route{
		s.opsRoutes(),
		s.adminRoutes(), s.backupRoutes(),
		s.eventRoutes(),
		s.sessionRoutes(),
		s.sendRoutes(),
		s.mediaRoutes(),
		s.linkPreviewRoutes(),
		s.eventMessageRoutes(),
		s.sandboxRoutes(),
		s.webhookRoutes(),
		s.policyRoutes(),
		s.metaRoutes(),
		s.contactRoutes(),
		s.serverRoutes(),
		s.chatRoutes(), s.presenceRoutes(), s.statusRoutes(), s.campaignRoutes(),
		s.groupRoutes(), s.messageRoutes(), s.labelRoutes(), s.channelRoutes(), s.callRoutes(),
		s.listRoutes(), s.optOutRoutes(), s.usageRoutes(), s.sessionHealthRoutes(), s.overviewRoutes(),
	} {
		all = append(all, group...)
	}
	return all
}

// buildRouter registers the route table on a new router. It is the only function that
// calls Handle.
func (s *Server) buildRouter(table []route) *router.Router {
	rt := router.New()
	// A JSON API answers what was asked: no redirects to a "fixed" path.
	rt.RedirectTrailingSlash = false
	rt.RedirectFixedPath = false
	rt.HandleMethodNotAllowed = true
	rt.HandleOPTIONS = true
	rt.GlobalOPTIONS = func(c *fasthttp.RequestCtx) { c.SetStatusCode(fasthttp.StatusNoContent) }
	rt.NotFound = func(c *fasthttp.RequestCtx) {
		r := requestOf(c)
		writeErrorBody(c, r.id, notFound("not_found", "no route for "+string(c.Method())+" "+string(c.Path())))
	}
	rt.MethodNotAllowed = func(c *fasthttp.RequestCtx) {
		// The router has set Allow already.
		r := requestOf(c)
		writeErrorBody(c, r.id, newError(fasthttp.StatusMethodNotAllowed, "method_not_allowed",
			string(c.Method())+" is not allowed here; allowed: "+string(c.Response.Header.Peek("Allow")),
			d("allow", string(c.Response.Header.Peek("Allow")))))
	}
	rt.PanicHandler = func(c *fasthttp.RequestCtx, p any) { s.panicked(c, p) }
	for _, r := range table {
		rt.Handle(r.method, r.path, s.wrap(r))
	}
	return rt
}
