package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/tenant"
	"github.com/wagate/wagate/core/webhook"
)

// webhookRequest is the body of POST /api/webhooks and PUT /api/webhooks/{id} (a PUT
// replaces every field; the secret is changed only by rotate-secret).
type webhookRequest struct {
	// URL receives the POSTs: http or https, a public address unless the operator
	// allowed others (webhooks.allow_networks).
	URL string `json:"url"`
	// Events are event names or patterns: "message", "message.*", "*".
	Events []string `json:"events"`
	// Sessions, when given, limits delivery to events of these sessions.
	Sessions []string `json:"sessions,omitempty"`
	// Headers are added to every request (not the signature headers).
	Headers map[string]string `json:"headers,omitempty"`
	// Description is free text.
	Description string `json:"description,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// Unordered lets deliveries of a session overtake each other.
	Unordered bool `json:"unordered,omitempty"`
	// RetryHorizon overrides the gateway's retry horizon, up to 168h ("48h").
	RetryHorizon config.Duration `json:"retryHorizon,omitempty"`
	// WAHAHmacKey adds WAHA's X-Webhook-Hmac (hex HMAC-SHA512 of the body) with this key.
	WAHAHmacKey string `json:"wahaHmacKey,omitempty"`
	// Secret sets the signing secret on create (migrating receivers); generated when
	// empty. Refused on PUT.
	Secret string `json:"secret,omitempty"`
}

func (w webhookRequest) input() webhook.Input {
	enabled := w.Enabled == nil || *w.Enabled
	return webhook.Input{
		URL: w.URL, Events: w.Events, Sessions: w.Sessions, Headers: w.Headers, Description: w.Description,
		Enabled: enabled, Unordered: w.Unordered, RetryHorizon: w.RetryHorizon.D(), WAHAHmacKey: w.WAHAHmacKey,
		Secret: w.Secret,
	}
}

// webhookView is an endpoint as shown: everything but the secrets (and the WAHA key,
// shown only as whether it is set).
type webhookView struct {
	ID             string            `json:"id"`
	URL            string            `json:"url"`
	Events         []string          `json:"events"`
	Sessions       []string          `json:"sessions,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Description    string            `json:"description,omitempty"`
	Session        string            `json:"session,omitempty"`
	Enabled        bool              `json:"enabled"`
	Unordered      bool              `json:"unordered"`
	RetryHorizon   string            `json:"retryHorizon,omitempty"`
	WAHAHmac       bool              `json:"wahaHmac"`
	DisabledReason string            `json:"disabledReason,omitempty"`
	FailingSince   *time.Time        `json:"failingSince,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
}

func viewWebhook(ep webhook.Endpoint) webhookView {
	v := webhookView{
		ID: ep.ID, URL: ep.URL, Events: ep.Events, Sessions: ep.Sessions, Headers: ep.Headers,
		Description: ep.Description, Session: ep.Session, Enabled: ep.Enabled, Unordered: ep.Unordered,
		WAHAHmac: ep.WAHAHmacKey != "", DisabledReason: ep.DisabledReason, FailingSince: ep.FailingSince,
		CreatedAt: ep.CreatedAt, UpdatedAt: ep.UpdatedAt,
	}
	if ep.RetryHorizon > 0 {
		v.RetryHorizon = ep.RetryHorizon.String()
	}
	return v
}

// webhookSecret is the body that shows an endpoint's signing secrets.
type webhookSecret struct {
	// Secret signs every delivery ("whsec_..."); verify with any Standard Webhooks
	// library.
	Secret string `json:"secret"`
	// PreviousSecret also signs deliveries until PreviousValidUntil, after a rotation.
	PreviousSecret     string     `json:"previousSecret,omitempty"`
	PreviousValidUntil *time.Time `json:"previousValidUntil,omitempty"`
}

func secretOf(ep webhook.Endpoint) webhookSecret {
	s := webhookSecret{Secret: ep.Secret}
	if ep.PreviousSecret != "" && time.Now().Before(ep.PreviousUntil) {
		t := ep.PreviousUntil
		s.PreviousSecret, s.PreviousValidUntil = ep.PreviousSecret, &t
	}
	return s
}

// createdWebhook is the answer to a create: the endpoint and its secret.
type createdWebhook struct {
	webhookView
	Secret string `json:"secret"`
}

// rotateRequest is the body of POST /api/webhooks/{id}/rotate-secret (optional).
type rotateRequest struct {
	// Secret is the new secret; generated when empty.
	Secret string `json:"secret,omitempty"`
	// GracePeriod is how long the old secret keeps signing beside the new one; default
	// 24h, 0s to stop at once, at most 168h.
	GracePeriod *config.Duration `json:"gracePeriod,omitempty"`
}

// replayRequest is the body of POST /api/webhooks/{id}/replay.
type replayRequest struct {
	// Since and Until bound the creation time of the deliveries to send again
	// (RFC 3339), Until excluded.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
}

// replayResponse says what a replay queued.
type replayResponse struct {
	Replayed int `json:"replayed"`
	// Truncated is true when the range held more than 10,000 deliveries: replay again
	// from the createdAt of the last one sent.
	Truncated bool `json:"truncated"`
}

func (s *Server) webhookRoutes() []route {
	if s.d.Webhooks == nil {
		return nil
	}
	return []route{
		{method: http.MethodPost, path: "/api/webhooks", auth: authTenant, handle: s.createWebhook,
			doc: routeDoc{tag: "webhooks", summary: "Create a webhook endpoint (its signing secret is in the answer)",
				request: webhookRequest{}, response: createdWebhook{}, status: http.StatusCreated}},
		{method: http.MethodGet, path: "/api/webhooks", auth: authTenant, handle: s.listWebhooks,
			doc: routeDoc{tag: "webhooks", summary: "List the tenant's webhook endpoints", response: []webhookView{}}},
		{method: http.MethodGet, path: "/api/webhooks/{id}", auth: authTenant, handle: s.getWebhook,
			doc: routeDoc{tag: "webhooks", summary: "Get a webhook endpoint", response: webhookView{}}},
		{method: http.MethodPut, path: "/api/webhooks/{id}", auth: authTenant, handle: s.updateWebhook,
			doc: routeDoc{tag: "webhooks", summary: "Replace a webhook endpoint's settings (enabling clears a disabled reason)",
				request: webhookRequest{}, response: webhookView{}}},
		{method: http.MethodDelete, path: "/api/webhooks/{id}", auth: authTenant, handle: s.deleteWebhook,
			doc: routeDoc{tag: "webhooks", summary: "Delete a webhook endpoint with its outbox and delivery log", status: http.StatusNoContent}},
		{method: http.MethodGet, path: "/api/webhooks/{id}/secret", auth: authTenant, scope: tenant.ScopeAdmin, handle: s.webhookSecret, // a secret, not a read
			doc: routeDoc{tag: "webhooks", summary: "Show the signing secret (and the previous one during a rotation)", response: webhookSecret{}}},
		{method: http.MethodPost, path: "/api/webhooks/{id}/rotate-secret", auth: authTenant, handle: s.rotateWebhookSecret,
			doc: routeDoc{tag: "webhooks", summary: "Rotate the signing secret; the old one keeps signing for the grace period",
				request: rotateRequest{}, requestOptional: true, response: webhookSecret{}}},
		{method: http.MethodGet, path: "/api/webhooks/{id}/deliveries", auth: authTenant, handle: s.listDeliveries,
			doc: routeDoc{tag: "webhooks", summary: "The delivery log, newest first (status, attempts, last response code and latency)",
				response: webhook.Page{}, query: []string{"status: pending, delivered or failed", "limit: 1 to 500, default 50",
					"cursor: the next of the previous page (before is its older name)"}}},
		{method: http.MethodGet, path: "/api/webhooks/{id}/deliveries/{delivery}", auth: authTenant, handle: s.getDelivery,
			doc: routeDoc{tag: "webhooks", summary: "One delivery, with the exact body sent", response: webhook.Delivery{}}},
		{method: http.MethodPost, path: "/api/webhooks/{id}/deliveries/{delivery}/retry", auth: authTenant, handle: s.retryDelivery,
			doc: routeDoc{tag: "webhooks", summary: "Send a delivery again now, with a fresh retry horizon",
				response: webhook.Delivery{}, status: http.StatusAccepted}},
		{method: http.MethodPost, path: "/api/webhooks/{id}/replay", auth: authTenant, handle: s.replayWebhook,
			doc: routeDoc{tag: "webhooks", summary: "Send again every delivery created in a time range (at most 10,000 per call)",
				request: replayRequest{}, response: replayResponse{}, status: http.StatusAccepted}},
	}
}

func (s *Server) createWebhook(c *fasthttp.RequestCtx, r *request) error {
	var in webhookRequest
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ep, err := s.d.Webhooks.Create(r.ctx, r.tenant(), in.input())
	if err != nil {
		return err
	}
	r.log.Info("webhook created", "tenant", r.tenant(), "webhook", ep.ID)
	return writeJSON(c, http.StatusCreated, createdWebhook{webhookView: viewWebhook(ep), Secret: ep.Secret})
}

func (s *Server) listWebhooks(c *fasthttp.RequestCtx, r *request) error {
	list := s.d.Webhooks.List(r.tenant())
	out := make([]webhookView, len(list))
	for i, ep := range list {
		out[i] = viewWebhook(ep)
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) getWebhook(c *fasthttp.RequestCtx, r *request) error {
	ep, err := s.d.Webhooks.Get(r.tenant(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, viewWebhook(ep))
}

func (s *Server) updateWebhook(c *fasthttp.RequestCtx, r *request) error {
	var in webhookRequest
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	ep, err := s.d.Webhooks.Update(r.ctx, r.tenant(), pathParam(c, "id"), in.input())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, viewWebhook(ep))
}

func (s *Server) deleteWebhook(c *fasthttp.RequestCtx, r *request) error {
	if err := s.d.Webhooks.Delete(r.tenant(), pathParam(c, "id")); err != nil {
		return err
	}
	return writeNoContent(c)
}

func (s *Server) webhookSecret(c *fasthttp.RequestCtx, r *request) error {
	ep, err := s.d.Webhooks.Get(r.tenant(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, secretOf(ep))
}

func (s *Server) rotateWebhookSecret(c *fasthttp.RequestCtx, r *request) error {
	var in rotateRequest
	if err := decodeOptionalJSON(c, &in); err != nil {
		return err
	}
	grace := 24 * time.Hour
	if in.GracePeriod != nil {
		grace = in.GracePeriod.D()
	}
	ep, err := s.d.Webhooks.RotateSecret(r.tenant(), pathParam(c, "id"), in.Secret, grace)
	if err != nil {
		return err
	}
	r.log.Info("webhook secret rotated", "tenant", r.tenant(), "webhook", ep.ID)
	return writeJSON(c, http.StatusOK, secretOf(ep))
}

func (s *Server) listDeliveries(c *fasthttp.RequestCtx, r *request) error {
	q := c.QueryArgs()
	o := webhook.ListOptions{Status: string(q.Peek("status")), Before: string(q.Peek("before"))}
	if cur := string(q.Peek("cursor")); cur != "" {
		if o.Before != "" && o.Before != cur {
			return badRequest("invalid_cursor", "give cursor or its older name before, not both", d("param", "cursor"))
		}
		o.Before = cur
	}
	if v := q.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return badRequest("invalid_limit", "limit must be 1 to 500", d("param", "limit"))
		}
		o.Limit = n
	}
	page, err := s.d.Webhooks.Deliveries(r.tenant(), pathParam(c, "id"), o)
	var fe *webhook.FieldError
	if errors.As(err, &fe) && fe.Field == "before" {
		return badRequest("invalid_cursor", "cursor must be the next of a previous page (a delivery id)", d("param", "cursor"))
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, page)
}

func (s *Server) getDelivery(c *fasthttp.RequestCtx, r *request) error {
	dl, err := s.d.Webhooks.Delivery(r.tenant(), pathParam(c, "id"), pathParam(c, "delivery"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, dl)
}

func (s *Server) retryDelivery(c *fasthttp.RequestCtx, r *request) error {
	dl, err := s.d.Webhooks.Retry(r.tenant(), pathParam(c, "id"), pathParam(c, "delivery"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, dl)
}

func (s *Server) replayWebhook(c *fasthttp.RequestCtx, r *request) error {
	var in replayRequest
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Since.IsZero() || in.Until.IsZero() {
		return badRequest("missing_field", "since and until are required (RFC 3339 times)", d("field", "since"))
	}
	n, truncated, err := s.d.Webhooks.Replay(r.tenant(), pathParam(c, "id"), in.Since, in.Until)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusAccepted, replayResponse{Replayed: n, Truncated: truncated})
}

// mapWebhookError translates core/webhook errors.
func mapWebhookError(err error) *Error {
	var fe *webhook.FieldError
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		return notFound("webhook_not_found", err.Error())
	case errors.Is(err, webhook.ErrDeliveryNotFound):
		return notFound("delivery_not_found", err.Error())
	case errors.As(err, &fe):
		return badRequest("invalid_webhook", err.Error(), d("field", fe.Field))
	case errors.Is(err, webhook.ErrInvalidURL):
		return badRequest("invalid_webhook_url", err.Error(), d("field", "url"))
	case errors.Is(err, webhook.ErrForbiddenURL):
		return badRequest("webhook_url_forbidden", err.Error(), d("field", "url"))
	case errors.Is(err, webhook.ErrTooMany):
		return conflict("webhook_limit_reached", err.Error())
	case errors.Is(err, webhook.ErrSessionOwned):
		return conflict("webhook_owned_by_session", err.Error())
	case errors.Is(err, webhook.ErrClosed):
		return unavailable("shutting_down", "the gateway is shutting down", 5*time.Second)
	}
	return nil
}

// sessionWebhook is one entry of a session's config.webhooks, in WAHA's shape, so that
// WAHA session configs work unchanged.
type sessionWebhook struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// HMAC.Key adds WAHA's X-Webhook-Hmac (hex HMAC-SHA512 of the body).
	HMAC *struct {
		Key string `json:"key"`
	} `json:"hmac,omitempty"`
	CustomHeaders []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"customHeaders,omitempty"`
	// Retries is accepted for compatibility and ignored: the gateway's retry policy
	// (webhooks.retry_horizon) applies.
	Retries json.RawMessage `json:"retries,omitempty"`
}

// splitSessionConfig takes "webhooks" out of a session's config: the provider gets the
// rest. present is false when the config has no "webhooks" key.
func splitSessionConfig(raw json.RawMessage) (provider json.RawMessage, hooks []webhook.Input, present bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return raw, nil, false, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw, nil, false, nil // not an object: the provider's validation says why
	}
	list, ok := m["webhooks"]
	if !ok {
		return raw, nil, false, nil
	}
	var ws []sessionWebhook
	if err := decodeJSONBytes(list, &ws); err != nil {
		return nil, nil, true, badRequest("invalid_webhook", "config.webhooks: "+err.Error(), d("field", "config.webhooks"))
	}
	for _, w := range ws {
		in := webhook.Input{URL: w.URL, Events: w.Events, Enabled: true}
		if w.HMAC != nil {
			in.WAHAHmacKey = w.HMAC.Key
		}
		if len(w.CustomHeaders) > 0 {
			in.Headers = map[string]string{}
			for _, h := range w.CustomHeaders {
				in.Headers[h.Name] = h.Value
			}
		}
		hooks = append(hooks, in)
	}
	delete(m, "webhooks")
	if len(m) == 0 {
		return nil, hooks, true, nil
	}
	provider, err = json.Marshal(m)
	return provider, hooks, true, err
}
