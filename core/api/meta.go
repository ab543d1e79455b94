package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/provider/cloudapi"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/webhook"
)

// metaWebhookPath is the callback URL to give Meta for a Cloud API session. The tenant
// is in the path because session names are per tenant; Meta sends no API key.
const metaWebhookPath = "/api/webhooks/meta/{tenant}/{session}"

// metaReceived is the answer to a delivery that was handed to its sessions.
type metaReceived struct {
	// Status is "received".
	Status string `json:"status"`
}

// metaRoutes serve Meta's webhook for Cloud API sessions, without an API key but
// behind webhook.Inbound, which answers the GET hub.challenge handshake with the
// session's verifyToken and checks X-Hub-Signature-256 of every POST with its
// appSecret (then refuses replays, stale deliveries and oversized bodies) before the
// handler runs. A tenant or session that does not exist, or is not a cloudapi session,
// is 404 webhook_not_found.
//
// Meta sends the events of every number of an app to the one callback URL of the app,
// so a verified delivery goes to each session of the tenant whose phoneNumberId it has
// changes for, provided that session shares the path session's appSecret (it is the
// same app); changes for numbers without such a session are dropped (logged).
func (s *Server) metaRoutes() []route {
	if s.d.Sessions == nil {
		return nil
	}
	v := &webhook.Inbound{
		Secrets: s.metaSecrets,
		Reject: func(c *fasthttp.RequestCtx, status int, code, msg string) {
			writeErrorBody(c, requestOf(c).id, newError(status, code, msg))
		},
	}
	verified := v.Wrap(func(c *fasthttp.RequestCtx) {
		r := requestOf(c)
		if err := s.metaDeliver(c, r); err != nil {
			s.writeError(c, r, err)
		}
	})
	handle := func(c *fasthttp.RequestCtx, r *request) error {
		verified(c)
		return nil
	}
	const about = "The callback URL of a Cloud API session, to enter in the Meta app's WhatsApp > Configuration " +
		"(docs/cloudapi.md). No API key: Meta proves itself with the session's verify token (GET) and app secret (POST)."
	return []route{
		{method: http.MethodGet, path: metaWebhookPath, auth: authNone, handle: handle,
			doc: routeDoc{tag: "webhooks", summary: "Meta webhook verification: echoes hub.challenge when hub.verify_token is the session's verifyToken",
				description: about, contentType: "text/plain",
				query: []string{"hub.mode: subscribe", "hub.verify_token: the session's verifyToken", "hub.challenge: echoed back"}}},
		{method: http.MethodPost, path: metaWebhookPath, auth: authNone, handle: handle,
			doc: routeDoc{tag: "webhooks", summary: "Meta webhook delivery (messages and statuses), signed with X-Hub-Signature-256",
				description: about + " A replayed delivery is answered {\"status\":\"duplicate\"} and not processed.",
				response:    metaReceived{}}},
	}
}

// metaConfigKey is the user value holding the path session's cloudapi config, set by
// metaSecrets for metaDeliver.
type metaConfigKey struct{}

// metaSecrets finds the app secret and verify token of the path's session: a cloudapi
// session of the path's tenant with a valid config.
func (s *Server) metaSecrets(c *fasthttp.RequestCtx) (appSecret, verifyToken string, ok bool) {
	all, err := s.d.Sessions.Secrets(s.baseCtx, pathParam(c, "tenant"))
	if err != nil {
		return "", "", false
	}
	var cfg cloudapi.SessionConfig
	found := false
	for _, sc := range all {
		if sc.Name == pathParam(c, "session") && sc.Provider == cloudapi.Name {
			cfg, err = cloudapi.ParseConfig(sc.Config)
			found = err == nil
		}
	}
	if !found {
		return "", "", false
	}
	c.SetUserValue(metaConfigKey{}, cfg)
	return cfg.AppSecret, cfg.VerifyToken, true
}

// metaDeliver hands a verified delivery to the sessions of the numbers it concerns and
// answers 200 once they have reported its events. A delivery for a session that is not
// running is answered 503 session_not_working: its events are not processed (see
// docs/cloudapi.md on keeping Cloud API sessions running).
func (s *Server) metaDeliver(c *fasthttp.RequestCtx, r *request) error {
	tenant, name := pathParam(c, "tenant"), pathParam(c, "session")
	cfg, _ := c.UserValue(metaConfigKey{}).(cloudapi.SessionConfig)
	body := c.Request.Body()
	var notWorking error
	for _, target := range s.metaTargets(r, tenant, name, cfg, cloudapi.PhoneNumberIDs(body)) {
		err := s.d.Sessions.HandleWebhook(r.ctx, tenant, target, body)
		var nw *session.NotWorkingError
		switch {
		case err == nil:
		case errors.As(err, &nw):
			r.log.Warn("Meta webhook for a session that is not running: events dropped", "tenant", tenant, "session", target, "status", nw.State)
			notWorking = err
		case errors.Is(err, cloudapi.ErrBadPayload):
			return badRequest("invalid_payload", "the delivery is not a WhatsApp Business Account webhook payload")
		default:
			return err
		}
	}
	if notWorking != nil {
		return unavailable("session_not_working", notWorking.Error(), 30*time.Second)
	}
	return writeJSON(c, http.StatusOK, metaReceived{Status: "received"})
}

// metaTargets names the sessions a delivery goes to: the path session for its own
// phone number id, and for any other id the tenant's cloudapi session with that id and
// the same app secret.
func (s *Server) metaTargets(r *request, tenant, name string, cfg cloudapi.SessionConfig, ids []string) []string {
	var out []string
	var others []session.Secret
	listed := false
	for _, id := range ids {
		if id == cfg.PhoneNumberID {
			out = append(out, name)
			continue
		}
		if !listed {
			others, _ = s.d.Sessions.Secrets(r.ctx, tenant)
			listed = true
		}
		found := false
		for _, in := range others {
			if in.Provider != cloudapi.Name || in.Name == name {
				continue
			}
			oc, err := cloudapi.ParseConfig(in.Config)
			if err == nil && oc.PhoneNumberID == id && oc.AppSecret == cfg.AppSecret {
				out = append(out, in.Name)
				found = true
				break
			}
		}
		if !found {
			r.log.Warn("Meta webhook for a phone number id without a session of this app: dropped", "tenant", tenant, "phone_number_id", id)
		}
	}
	return out
}
