package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/tenant"
	"github.com/wagate/wagate/core/webhook"
)

// createSessionBody is POST /api/sessions. start defaults to true, as in WAHA.
type createSessionBody struct {
	// Name is the session name: 1-64 of A-Z, a-z, 0-9, '_' and '-'.
	Name string `json:"name"`
	// Provider is "sandbox" (more with later providers); default: the gateway's first
	// enabled provider.
	Provider string `json:"provider,omitempty"`
	// Config is the provider-specific config (sandbox: {"faults": {...}}), plus
	// optionally WAHA-style "webhooks": [{url, events, hmac: {key}, customHeaders:
	// [{name, value}]}], which become webhook endpoints of this session (docs/webhooks.md),
	// and WAHA's "metadata": {"key": "value"}, carried by every event of the session.
	Config json.RawMessage `json:"config,omitempty"`
	// Fallback names another session of the tenant that takes this one's messages
	// when it is lost (logged out, banned, disconnected too long, provider auth
	// failure): failover, docs/failover.md.
	Fallback string `json:"fallback,omitempty"`
	// Start starts the session at once; default true.
	Start *bool `json:"start,omitempty"`
}

// updateSessionBody is PUT /api/sessions/{session}.
type updateSessionBody struct {
	// Config replaces the provider config (the session restarts if running). Left
	// out together with a fallback, only the fallback changes. Its "metadata", when
	// present, replaces the metadata (null or {} clears it); a config of metadata
	// alone changes only that, without a restart.
	Config json.RawMessage `json:"config"`
	// Fallback, when given, sets the failover session ("" clears it); no restart.
	Fallback *string `json:"fallback,omitempty"`
}

// requestCodeBody is POST /api/{session}/auth/request-code (WAHA's shape).
type requestCodeBody struct {
	PhoneNumber string `json:"phoneNumber"`
}

type requestCodeAnswer struct {
	Code string `json:"code"`
}

func (s *Server) sessionRoutes() []route {
	return []route{
		{method: "GET", path: "/api/sessions", auth: authTenant, handle: s.listSessions,
			doc: routeDoc{summary: "List the tenant's sessions", tag: "sessions", response: []session.Info{}}},
		{method: "POST", path: "/api/sessions", auth: authTenant, handle: s.createSession,
			doc: routeDoc{summary: "Create a session (and start it unless start is false)", tag: "sessions",
				request: createSessionBody{}, response: session.Info{}, status: http.StatusCreated}},
		{method: "GET", path: "/api/sessions/{session}", auth: authTenant, anyNode: true, handle: s.getSession,
			doc: routeDoc{summary: "Get a session", tag: "sessions", response: session.Info{}}},
		{method: "GET", path: "/api/sessions/{session}/queue", auth: authTenant, handle: s.sessionQueue,
			doc: routeDoc{summary: "What waits in a session's queue: how many messages, since when (ours)", tag: "sessions",
				response: queue.Backlog{}}},
		{method: "PUT", path: "/api/sessions/{session}", auth: authTenant, handle: s.updateSession,
			doc: routeDoc{summary: "Replace a session's provider config (a running session restarts)", tag: "sessions",
				request: updateSessionBody{}, response: session.Info{}}},
		{method: "DELETE", path: "/api/sessions/{session}", auth: authTenant, handle: s.deleteSession,
			doc: routeDoc{summary: "Stop, log out and delete a session", tag: "sessions", status: http.StatusNoContent}},
		{method: "POST", path: "/api/sessions/{session}/start", auth: authTenant, anyNode: true, handle: s.sessionAction((*session.Manager).Start),
			doc: routeDoc{summary: "Start a session", tag: "sessions", response: session.Info{}}},
		{method: "POST", path: "/api/sessions/{session}/stop", auth: authTenant, anyNode: true, handle: s.sessionAction((*session.Manager).Stop),
			doc: routeDoc{summary: "Stop a session, keeping its link", tag: "sessions", response: session.Info{}}},
		{method: "POST", path: "/api/sessions/{session}/restart", auth: authTenant, handle: s.sessionAction((*session.Manager).Restart),
			doc: routeDoc{summary: "Restart a session", tag: "sessions", response: session.Info{}}},
		{method: "POST", path: "/api/sessions/{session}/logout", auth: authTenant, handle: s.sessionAction((*session.Manager).Logout),
			doc: routeDoc{summary: "Unlink the number; start pairs again", tag: "sessions", response: session.Info{}}},
		{method: "GET", path: "/api/{session}/media/{messageId}", auth: authTenant, handle: s.getMedia,
			doc: routeDoc{tag: "sessions", summary: "The file of an inbound media message (by the message event's id), downloaded through the session",
				contentType: "application/octet-stream"}},
		{method: "GET", path: "/api/{session}/auth/qr", auth: authTenant, scope: tenant.ScopeAdmin, handle: s.getQR, // pairing links a phone
			doc: routeDoc{summary: "The current QR code: PNG (format=image, default) or JSON (format=raw)", tag: "auth",
				response: session.QR{}, query: []string{"format"}}},
		{method: "POST", path: "/api/{session}/auth/request-code", auth: authTenant, handle: s.requestCode,
			doc: routeDoc{summary: "Pair by phone number: returns the code to type on the phone", tag: "auth",
				request: requestCodeBody{}, response: requestCodeAnswer{}}},
	}
}

func sessionName(c *fasthttp.RequestCtx) string {
	return pathParam(c, "session")
}

func (s *Server) listSessions(c *fasthttp.RequestCtx, r *request) error {
	list, err := s.d.Sessions.List(r.ctx, r.tenant())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, list)
}

func (s *Server) createSession(c *fasthttp.RequestCtx, r *request) error {
	var b createSessionBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	rest, md, _, err := splitMetadata(b.Config)
	if err != nil {
		return err
	}
	rest, calls, _, err := splitCalls(rest)
	if err != nil {
		return err
	}
	cfg, hooks, hasHooks, err := s.sessionWebhooks(r, rest)
	if err != nil {
		return err
	}
	in := session.CreateInput{Name: b.Name, Provider: b.Provider, Config: cfg, Fallback: b.Fallback, Metadata: md,
		Calls: calls, Start: b.Start == nil || *b.Start}
	info, err := s.d.Sessions.Create(r.ctx, r.tenant(), in)
	if err != nil && !(errors.Is(err, session.ErrStartFailed) && info.Name != "") {
		return err
	}
	if hasHooks {
		if err := s.d.Webhooks.SetSessionWebhooks(r.ctx, r.tenant(), info.Name, hooks); err != nil {
			return err
		}
	}
	// A session that was created but failed to start is still created: 201 with
	// status FAILED and the reason, as the session now exists.
	return writeJSON(c, http.StatusCreated, info)
}

func (s *Server) getSession(c *fasthttp.RequestCtx, r *request) error {
	info, err := s.d.Sessions.Get(r.ctx, r.tenant(), sessionName(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, info)
}

// sessionQueue answers a session's backlog (the console's session detail shows it).
func (s *Server) sessionQueue(c *fasthttp.RequestCtx, r *request) error {
	name := sessionName(c)
	if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), name); err != nil {
		return err
	}
	b, err := s.d.Queue.Backlog(r.tenant(), name, time.Now())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, b)
}

func (s *Server) updateSession(c *fasthttp.RequestCtx, r *request) error {
	name := sessionName(c)
	// Existence first, so another tenant's session is a 404 whatever the body.
	if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), name); err != nil {
		return err
	}
	var b updateSessionBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	rest, md, hasMetadata, err := splitMetadata(b.Config)
	if err != nil {
		return err
	}
	rest, calls, hasCalls, err := splitCalls(rest)
	if err != nil {
		return err
	}
	if b.Fallback != nil {
		info, err := s.d.Sessions.SetFallback(r.ctx, r.tenant(), name, *b.Fallback)
		if err != nil {
			return err
		}
		if b.Config == nil {
			return writeJSON(c, http.StatusOK, info)
		}
	}
	if (hasMetadata || hasCalls) && rest == nil { // gateway settings alone: no restart
		info, err := s.setSessionSettings(r, name, md, hasMetadata, calls, hasCalls)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, info)
	}
	cfg, hooks, hasHooks, err := s.sessionWebhooks(r, rest)
	if err != nil {
		return err
	}
	info, err := s.d.Sessions.Update(r.ctx, r.tenant(), name, cfg)
	if err != nil && !errors.Is(err, session.ErrStartFailed) {
		return err
	}
	// After the config, which may be refused: a refused PUT changes nothing.
	if hasMetadata || hasCalls {
		if info, err = s.setSessionSettings(r, name, md, hasMetadata, calls, hasCalls); err != nil {
			return err
		}
	}
	if hasHooks {
		if err := s.d.Webhooks.SetSessionWebhooks(r.ctx, r.tenant(), name, hooks); err != nil {
			return err
		}
	}
	return writeJSON(c, http.StatusOK, info)
}

// setSessionSettings stores the gateway's own settings of a session (config.metadata,
// config.calls) that a PUT carried; they take effect without a restart.
func (s *Server) setSessionSettings(r *request, name string, md map[string]string, hasMetadata bool,
	calls *session.CallSettings, hasCalls bool) (info session.Info, err error) {
	if hasMetadata {
		if info, err = s.d.Sessions.SetMetadata(r.ctx, r.tenant(), name, md); err != nil {
			return info, err
		}
	}
	if hasCalls {
		info, err = s.d.Sessions.SetCalls(r.ctx, r.tenant(), name, calls)
	}
	return info, err
}

func (s *Server) deleteSession(c *fasthttp.RequestCtx, r *request) error {
	if err := s.d.Sessions.Delete(r.ctx, r.tenant(), sessionName(c)); err != nil {
		return err
	}
	if s.d.Webhooks != nil {
		if err := s.d.Webhooks.SetSessionWebhooks(r.ctx, r.tenant(), sessionName(c), nil); err != nil {
			return err
		}
	}
	c.SetStatusCode(http.StatusNoContent)
	return nil
}

// sessionWebhooks takes WAHA-style "webhooks" out of a session's config and validates
// them before the session is touched. Without a webhook service they stay in the
// config (and the provider refuses them).
func (s *Server) sessionWebhooks(r *request, raw json.RawMessage) (json.RawMessage, []webhook.Input, bool, error) {
	if s.d.Webhooks == nil {
		return raw, nil, false, nil
	}
	cfg, hooks, present, err := splitSessionConfig(raw)
	if err != nil {
		return nil, nil, false, err
	}
	for i, in := range hooks {
		if err := s.d.Webhooks.Validate(r.ctx, in); err != nil {
			return nil, nil, false, fmt.Errorf("config.webhooks[%d]: %w", i, err)
		}
	}
	return cfg, hooks, present, nil
}

// sessionAction adapts a lifecycle method of the manager to a handler. A start that
// fails answers 200 with the session FAILED and its reason: the request itself was
// carried out.
func (s *Server) sessionAction(action func(*session.Manager, context.Context, string, string) (session.Info, error)) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		info, err := action(s.d.Sessions, r.ctx, r.tenant(), sessionName(c))
		if err != nil && !(errors.Is(err, session.ErrStartFailed) || errors.Is(err, session.ErrLogoutFailed)) {
			return err
		}
		return writeJSON(c, http.StatusOK, info)
	}
}

func (s *Server) getQR(c *fasthttp.RequestCtx, r *request) error {
	format := string(c.QueryArgs().Peek("format"))
	if format != "" && format != "image" && format != "raw" {
		return badRequest("invalid_format", "format must be image (PNG) or raw (JSON)", d("format", format))
	}
	qr, err := s.d.Sessions.QR(r.ctx, r.tenant(), sessionName(c))
	if err != nil {
		return err
	}
	// WAHA also picks the image by Accept: image/png; raw JSON by Accept: application/json.
	if format == "" && strings.Contains(string(c.Request.Header.Peek("Accept")), "application/json") {
		format = "raw"
	}
	if format == "raw" {
		return writeJSON(c, http.StatusOK, qr)
	}
	png, err := qrcode.Encode(qr.Code, qrcode.Medium, 256)
	if err != nil {
		return err
	}
	c.Response.Header.Set("Cache-Control", "no-store")
	c.SetContentType("image/png")
	c.SetStatusCode(http.StatusOK)
	c.SetBody(png)
	return nil
}

func (s *Server) requestCode(c *fasthttp.RequestCtx, r *request) error {
	name := sessionName(c)
	if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), name); err != nil {
		return err
	}
	var b requestCodeBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	phone := strings.TrimPrefix(b.PhoneNumber, "+")
	if len(phone) < 5 || len(phone) > 15 || strings.Trim(phone, "0123456789") != "" {
		return badRequest("invalid_phone_number", "phoneNumber must be 5 to 15 digits with country code, like 15551234567")
	}
	code, err := s.d.Sessions.RequestCode(r.ctx, r.tenant(), name, phone)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, requestCodeAnswer{Code: code})
}

// mapSessionError is the session manager's part of mapError.
func mapSessionError(err error) *Error {
	var limit *session.LimitError
	var notWorking *session.NotWorkingError
	var poolFull *session.PoolFullError
	var qrLimit *session.QRLimitError
	switch {
	case errors.Is(err, session.ErrNotFound):
		return notFound("session_not_found", err.Error())
	case errors.Is(err, session.ErrExists):
		return conflict("session_exists", err.Error())
	case errors.Is(err, session.ErrInvalidName):
		return badRequest("invalid_session_name", err.Error())
	case errors.Is(err, session.ErrUnknownProvider):
		return badRequest("unknown_provider", err.Error())
	case errors.Is(err, session.ErrInvalidFallback):
		return badRequest("invalid_fallback", err.Error(), d("field", "fallback"))
	case errors.Is(err, session.ErrInvalidConfig):
		return badRequest("invalid_session_config", err.Error())
	case errors.Is(err, session.ErrInvalidMetadata):
		return badRequest("invalid_metadata", err.Error(), d("field", "config.metadata"))
	case errors.Is(err, session.ErrInvalidCallSettings):
		return badRequest("invalid_calls", err.Error(), d("field", "config.calls"))
	case errors.Is(err, session.ErrMetadataTooLarge):
		return badRequest("metadata_too_large", err.Error(), d("field", "config.metadata",
			"maxKeys", session.MaxMetadataKeys, "maxKeyBytes", session.MaxMetadataKey,
			"maxValueBytes", session.MaxMetadataValue, "maxBytes", session.MaxMetadataSize))
	case errors.Is(err, session.ErrNoQR):
		return conflict("session_not_pairing", err.Error())
	case errors.Is(err, session.ErrClosed):
		return unavailable("shutting_down", "the gateway is shutting down", 5e9)
	case errors.As(err, &limit):
		return forbidden("session_limit_reached", err.Error(), d("limit", limit.Limit))
	case errors.As(err, &poolFull):
		scope := "node"
		if poolFull.Tenant {
			scope = "tenant"
		}
		return unavailable("session_pool_full", err.Error(), 30*time.Second, d("limit", poolFull.Limit, "scope", scope))
	case errors.As(err, &qrLimit):
		return tooManyRequests("qr_limit", err.Error(), max(time.Until(qrLimit.RetryAt), time.Second), d("retryAt", qrLimit.RetryAt))
	case errors.As(err, &notWorking):
		return conflict("session_not_working", err.Error(), d("status", notWorking.State))
	case errors.Is(err, session.ErrNoDownload):
		return badRequest("download_unsupported", err.Error())
	}
	return nil
}

// getMedia streams an inbound media file. Errors of the provider's download (the
// message is not among those it remembers, the file is too large, the transport
// refused) are 404 media_not_available with the provider's reason.
func (s *Server) getMedia(c *fasthttp.RequestCtx, r *request) error {
	id := pathParam(c, "messageId")
	if id == "" || len(id) > 256 {
		return notFound("media_not_available", "no such message")
	}
	m, err := s.d.Sessions.DownloadMedia(r.ctx, r.tenant(), sessionName(c), id)
	if err != nil {
		if e := mapSessionError(err); e != nil {
			return e
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return notFound("media_not_available", err.Error())
	}
	ct := m.Mimetype
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.SetContentType(ct)
	if m.Filename != "" {
		c.Response.Header.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": m.Filename}))
	}
	c.SetStatusCode(http.StatusOK)
	c.SetBody(m.Data)
	return nil
}
