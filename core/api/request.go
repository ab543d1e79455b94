package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/tenant"
)

const headerRequestID = "X-Request-Id"

// request is what the middleware chain hands every handler besides the fasthttp
// context.
type request struct {
	// id is the request id, echoed in X-Request-Id and in every log line.
	id string
	// principal is who the X-Api-Key authenticated; zero on authNone routes.
	principal tenant.Principal
	// ctx is bound to the request: it has a deadline (server.write_timeout, or the
	// route's own timeout) on ordinary routes, and is cancelled when Shutdown gives up
	// draining. On stream routes it has no deadline and is cancelled as soon as
	// Shutdown starts. Pass it to every service call.
	ctx context.Context
	// log carries request_id (and tenant once authenticated): see reqLog.
	log *slog.Logger
	// logh and logv back log (newRequest), in the request's own allocation.
	logh reqLog
	logv slog.Logger
	// route is the matched pattern, e.g. /api/sessions/{session}; "unmatched" before.
	route string
	// lenient makes decodeJSON ignore unknown fields (Deps.LenientFields).
	lenient bool
	// actingAdmin is set when the admin key acts as principal.Tenant, read-only
	// (X-Wagate-Tenant, actas.go).
	actingAdmin bool

	// cancel releases ctx when the handler returns, unless a stream took it over
	// with detach.
	cancel context.CancelFunc
}

// tenant returns the authenticated tenant id ("" for the admin and on authNone routes).
func (r *request) tenant() string { return r.principal.Tenant }

// detach hands the request context's lifetime to the caller: the middleware will not
// cancel it when the handler returns. Streams that outlive their handler (SSE body
// writers, hijacked WebSockets) call it and cancel the context themselves.
func (r *request) detach() (context.Context, context.CancelFunc) {
	cancel := r.cancel
	r.cancel = nil
	if cancel == nil {
		cancel = func() {}
	}
	return r.ctx, cancel
}

// requestKey is the fasthttp user-value key of the *request.
type requestKey struct{}

func requestOf(c *fasthttp.RequestCtx) *request {
	r, _ := c.UserValue(requestKey{}).(*request)
	return r
}

// requestID returns the client's X-Request-Id when it is 1..64 characters of
// [A-Za-z0-9._-], else a new "req_..." id.
func requestID(c *fasthttp.RequestCtx) string {
	if v := c.Request.Header.Peek(headerRequestID); validRequestID(v) {
		return string(v)
	}
	return ids.New(ids.Request)
}

func validRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for _, b := range v {
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// writeJSON writes v as the JSON response body with the given status.
func writeJSON(c *fasthttp.RequestCtx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err // a programming error: writeError answers 500
	}
	c.SetStatusCode(status)
	c.SetContentType(contentTypeJSON)
	c.SetBody(append(b, '\n'))
	return nil
}

// writeNoContent answers 204 with no body.
func writeNoContent(c *fasthttp.RequestCtx) error {
	c.SetStatusCode(http.StatusNoContent)
	c.ResetBody()
	return nil
}

// pathParam returns the path parameter name ({name} in the route pattern), unescaped.
func pathParam(c *fasthttp.RequestCtx, name string) string {
	v, _ := c.UserValue(name).(string)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// queryList returns every value of a query parameter that may be repeated and/or
// comma-separated (?session=a&session=b,c → [a b c]), trimmed, empties dropped.
func queryList(c *fasthttp.RequestCtx, name string) []string {
	var out []string
	for _, v := range c.QueryArgs().PeekMulti(name) {
		for _, p := range strings.Split(string(v), ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
