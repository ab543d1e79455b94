package api

import (
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// maxTextLen is WhatsApp's limit on a text message, in characters.
const maxTextLen = 65536

// sendTextBody is POST /api/sendText (WAHA's shape).
type sendTextBody struct {
	// Session sends through this session; omitted, the gateway picks one (see docs/api.md).
	Session string `json:"session,omitempty"`
	// ChatID is the recipient: digits, +digits, @c.us, @s.whatsapp.net, @g.us or @lid.
	ChatID string `json:"chatId"`
	// Text is the message, 1..65536 characters.
	Text string `json:"text"`
	// ReplyTo is the provider id of a message to quote.
	ReplyTo string `json:"reply_to,omitempty"`
}

// sendAnswer is the 202 body of every send. Status is "sent" while sends are handed to
// the provider within the request; it becomes "queued" with the durable queue, with the
// same shape.
type sendAnswer struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Session    string `json:"session"`
	ChatID     string `json:"chatId"`
	ProviderID string `json:"providerId,omitempty"`
}

func (s *Server) sendRoutes() []route {
	return []route{
		{method: "POST", path: "/api/sendText", auth: authTenant, handle: s.sendText,
			doc: routeDoc{summary: "Send a text message", tag: "sending", request: sendTextBody{}, response: sendAnswer{}, status: http.StatusAccepted}},
	}
}

// outbound is a validated send request: what the queue will carry.
type outbound struct {
	session string
	msg     provider.Outbound
}

func (s *Server) sendText(c *fasthttp.RequestCtx, r *request) error {
	var b sendTextBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	chat, err := chatid.Parse(b.ChatID)
	if err != nil {
		return badRequest("invalid_chat_id", err.Error(), d("field", "chatId"))
	}
	if b.Text == "" {
		return badRequest("invalid_text", "text must not be empty", d("field", "text"))
	}
	if !utf8.ValidString(b.Text) || utf8.RuneCountInString(b.Text) > maxTextLen {
		return badRequest("invalid_text", "text must be valid UTF-8 of at most 65536 characters", d("field", "text"))
	}
	out := outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindText, Text: b.Text, ReplyTo: b.ReplyTo,
	}}
	return s.submit(c, r, out)
}

// submit is the one door of every send route: it resolves the session, counts the
// message against the plan and hands it on. The durable queue replaces the hand-over
// (provider call within the request) without changing this signature or the answer.
func (s *Server) submit(c *fasthttp.RequestCtx, r *request, out outbound) error {
	name, err := s.pickSession(r, out.session)
	if err != nil {
		return err
	}
	// The session must exist and be WORKING before anything is counted.
	info, err := s.d.Sessions.Get(r.ctx, r.tenant(), name)
	if err != nil {
		return err
	}
	if info.Status != session.StateWorking {
		return &session.NotWorkingError{State: info.Status}
	}
	if err := s.d.Tenants.ReserveMessages(r.ctx, r.tenant(), 1); err != nil {
		return err
	}
	res, err := s.d.Sessions.Send(r.ctx, r.tenant(), name, out.msg)
	if err != nil {
		// Not sent: the message does not count against the plan.
		if rerr := s.d.Tenants.ReleaseMessages(r.ctx, r.tenant(), 1); rerr != nil {
			r.log.Warn("releasing daily reservation", "err", rerr)
		}
		return sendError(err)
	}
	return writeJSON(c, http.StatusAccepted, sendAnswer{
		ID: out.msg.ID, Status: "sent", Session: name, ChatID: out.msg.ChatID.String(), ProviderID: res.ProviderID,
	})
}

// pickSession returns the named session, or, when none is named, the tenant's first
// WORKING session by name. (The route policy of the pipeline replaces this rule.)
func (s *Server) pickSession(r *request, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	list, err := s.d.Sessions.List(r.ctx, r.tenant())
	if err != nil {
		return "", err
	}
	for _, in := range list {
		if in.Status == session.StateWorking {
			return in.Name, nil
		}
	}
	return "", conflict("no_working_session", "no session is WORKING to send through; name one with \"session\" or start one")
}

// sendError maps a provider failure to the API: the message was not sent.
func sendError(err error) error {
	var se *provider.SendError
	var nw *session.NotWorkingError
	switch {
	case errors.As(err, &nw), errors.Is(err, session.ErrNotFound):
		return err
	case errors.Is(err, provider.ErrBanned):
		return newError(http.StatusBadGateway, "number_banned", "the number is banned; the message was not sent")
	case errors.Is(err, provider.ErrLoggedOut):
		return newError(http.StatusBadGateway, "number_logged_out", "the number was logged out; the message was not sent")
	case errors.Is(err, provider.ErrInvalidRecipient):
		return unprocessable("invalid_recipient", "the recipient cannot receive messages")
	case errors.Is(err, provider.ErrUnsupported):
		return unprocessable("unsupported_message", "the session's provider cannot send this message")
	case errors.As(err, &se) && se.Retryable:
		return unavailable("send_failed", "the provider failed to send ("+se.Code+"); retry later", 5*time.Second, d("reason", se.Code))
	case errors.As(err, &se):
		return newError(http.StatusBadGateway, "send_failed", "the provider refused the message ("+se.Code+")", d("reason", se.Code))
	}
	return unavailable("send_failed", "the provider failed to send; retry later", 5*time.Second)
}
