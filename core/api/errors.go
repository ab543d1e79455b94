package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dgraph-io/badger/v4"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/tenant"
)

// Error is the one error shape of the API. Handlers return it (or any error that
// mapError knows); writeError turns it into
//
//	{"error":{"code":"snake_case","message":"...","details":{...}}}
//
// with Status as the HTTP status. Code is stable and documented in docs/api.md; Message
// is for humans and may change.
type Error struct {
	// Status is the HTTP status, 4xx or 5xx.
	Status int
	// Code is the machine-readable snake_case code.
	Code string
	// Message explains the error to a human. Never put internal details here.
	Message string
	// Details is optional structured context (the offending field, a limit, ...).
	Details map[string]any
	// RetryAfter, when positive, is sent as the Retry-After header (rounded up to whole
	// seconds). Every 429 carries Retry-After: 1 when this is zero.
	RetryAfter time.Duration
	// Cause is the underlying error, logged but never sent to the client.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Message + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause, so errors.Is sees through an *Error.
func (e *Error) Unwrap() error { return e.Cause }

// newError builds an *Error; details are optional key/value maps merged in order.
func newError(status int, code, msg string, details ...map[string]any) *Error {
	e := &Error{Status: status, Code: code, Message: msg}
	for _, d := range details {
		for k, v := range d {
			if e.Details == nil {
				e.Details = make(map[string]any, len(d))
			}
			e.Details[k] = v
		}
	}
	return e
}

// Constructors for the common statuses. code is snake_case; details are optional.

func badRequest(code, msg string, details ...map[string]any) *Error {
	return newError(http.StatusBadRequest, code, msg, details...)
}

func unauthorized(msg string) *Error {
	return newError(http.StatusUnauthorized, "unauthorized", msg)
}

func forbidden(code, msg string, details ...map[string]any) *Error {
	return newError(http.StatusForbidden, code, msg, details...)
}

func notFound(code, msg string, details ...map[string]any) *Error {
	return newError(http.StatusNotFound, code, msg, details...)
}

func conflict(code, msg string, details ...map[string]any) *Error {
	return newError(http.StatusConflict, code, msg, details...)
}

func unprocessable(code, msg string, details ...map[string]any) *Error {
	return newError(http.StatusUnprocessableEntity, code, msg, details...)
}

func tooManyRequests(code, msg string, retryAfter time.Duration, details ...map[string]any) *Error {
	e := newError(http.StatusTooManyRequests, code, msg, details...)
	e.RetryAfter = retryAfter
	return e
}

func unavailable(code, msg string, retryAfter time.Duration, details ...map[string]any) *Error {
	e := newError(http.StatusServiceUnavailable, code, msg, details...)
	e.RetryAfter = retryAfter
	return e
}

func internalError(requestID string, cause error) *Error {
	return &Error{
		Status:  http.StatusInternalServerError,
		Code:    "internal_error",
		Message: "internal error (request id " + requestID + ")",
		Cause:   cause,
	}
}

// mapError translates the errors of the services into API errors. It returns nil for
// errors it does not know, which writeError answers with 500 internal_error. Extend the
// switch when a service adds a sentinel; match with errors.Is or errors.As, never by
// string. Messages of mapped errors are sent to the client, so map only errors whose
// text is meant for users.
func (s *Server) mapError(err error) *Error {
	// Sessions, capabilities, sandbox, queue and webhooks have their own mappers
	// (sessions.go, capability.go, sandbox.go, send.go, webhooks.go), tried in this order.
	for _, mapper := range []func(error) *Error{mapSessionError, mapCapabilityError, mapSandboxError, mapQueueError, mapWebhookError, mapPolicyError, mapCampaignError, mapAudienceError} {
		if e := mapper(err); e != nil {
			return e
		}
	}
	switch {
	// Tenants and keys.
	case errors.Is(err, tenant.ErrNotFound):
		return notFound("tenant_not_found", err.Error())
	case errors.Is(err, tenant.ErrKeyNotFound):
		return notFound("key_not_found", err.Error())
	case errors.Is(err, tenant.ErrExists):
		return conflict("tenant_exists", err.Error())
	case errors.Is(err, tenant.ErrInvalidID):
		return badRequest("invalid_tenant_id", err.Error())
	case errors.Is(err, tenant.ErrInvalidPlan):
		return badRequest("invalid_plan", err.Error())
	case errors.Is(err, tenant.ErrInvalidScope):
		return badRequest("invalid_scope", err.Error(), d("field", "scopes", "allowed", tenant.Scopes))
	case errors.Is(err, tenant.ErrInvalidName):
		return badRequest("invalid_value", err.Error(), d("field", "name"))
	case errors.Is(err, tenant.ErrTooManyTenants):
		return conflict("tenant_limit_reached", err.Error())
	case errors.Is(err, tenant.ErrUnauthenticated):
		return unauthorized("missing, invalid or revoked X-Api-Key")
	case errors.Is(err, tenant.ErrDailyLimit):
		return tooManyRequests("daily_limit_reached", err.Error(), untilUTCMidnight(time.Now()))

	// Event streams.
	case errors.Is(err, event.ErrTooManySubscribers):
		return unavailable("too_many_subscribers", "the gateway is at its limit of event subscribers; retry later", 5*time.Second)
	case errors.Is(err, event.ErrBusClosed):
		return unavailable("shutting_down", "the gateway is shutting down", 5*time.Second)

	// Store contention that survived the store's own retries: retryable by the client.
	case errors.Is(err, badger.ErrConflict):
		return unavailable("busy", "the gateway is busy; retry", time.Second)

	// Deadlines: the handler ran out of time, or the server is stopping.
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, "timeout", "the request did not complete in time")
	case errors.Is(err, context.Canceled):
		return unavailable("shutting_down", "the request was cancelled because the gateway is shutting down", 5*time.Second)
	}
	return nil
}

// untilUTCMidnight is the time from now to the next 00:00 UTC, when daily limits reset.
func untilUTCMidnight(now time.Time) time.Duration {
	now = now.UTC()
	next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
	return next.Sub(now)
}

// resolveError turns any error into the *Error to send: an *Error in the chain as is,
// a known service error through mapError, anything else as 500 with the cause kept for
// the log.
func (s *Server) resolveError(r *request, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if e := s.mapError(err); e != nil {
		e.Cause = err
		return e
	}
	return internalError(r.id, err)
}

// writeError writes err as the JSON error body with its status and headers. It is the
// only place errors become responses. 5xx errors are logged with their cause.
func (s *Server) writeError(c *fasthttp.RequestCtx, r *request, err error) {
	e := s.resolveError(r, err)
	if e.Status >= 500 {
		r.log.Error("request failed", "status", e.Status, "code", e.Code, "err", err)
	}
	writeErrorBody(c, r.id, e)
}

// writeErrorBody writes e without logging; the transport-level error handler uses it
// before a request exists.
func writeErrorBody(c *fasthttp.RequestCtx, requestID string, e *Error) {
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	// A handler may have set a body or headers before failing; the error replaces them.
	c.Response.ResetBody()
	c.Response.Header.Del("Content-Disposition")
	c.Response.Header.Set(headerRequestID, requestID)
	if ra := e.RetryAfter; ra > 0 || status == http.StatusTooManyRequests {
		secs := int64(math.Ceil(ra.Seconds()))
		if secs < 1 {
			secs = 1
		}
		c.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if status == http.StatusUnauthorized {
		c.Response.Header.Set("WWW-Authenticate", "ApiKey")
	}
	body := errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Details: e.Details}}
	b, err := json.Marshal(body)
	if err != nil {
		// Details held something unencodable: send the error without them.
		body.Error.Details = nil
		b, _ = json.Marshal(body)
	}
	c.SetStatusCode(status)
	c.SetContentType(contentTypeJSON)
	c.SetBody(append(b, '\n'))
}

// errorBody is the JSON shape of every error response (the Error schema of the OpenAPI
// document).
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	// Code is the stable machine-readable code, e.g. "tenant_not_found".
	Code string `json:"code"`
	// Message is a human-readable explanation.
	Message string `json:"message"`
	// Details holds structured context, e.g. {"field":"plan.maxSessions"}.
	Details map[string]any `json:"details,omitempty"`
}

// d is shorthand for a details map: d("field", "name", "expected", "string").
func d(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return m
}
