package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
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
	// Mentions are the users the text mentions, as WAHA's: digits or user chat ids
	// (the text names each as "@<digits>"); at most maxMentions.
	Mentions []string `json:"mentions,omitempty"`
	// LinkPreview (default true, as WAHA's) lets the provider show a preview card of
	// the text's first link; LinkPreviewHighQuality asks for a large picture in it
	// (docs/api.md, "Link previews").
	LinkPreview            *bool `json:"linkPreview,omitempty"`
	LinkPreviewHighQuality *bool `json:"linkPreviewHighQuality,omitempty"`
}

// maxMentions bounds the mentions of one message.
const maxMentions = 1024

// parseMentions reads the mentions of a send: users, at most maxMentions.
func parseMentions(list []string) ([]chatid.ID, error) {
	if len(list) > maxMentions {
		return nil, badRequest("invalid_mentions", "mentions holds at most 1024 users", d("field", "mentions", "limit", maxMentions))
	}
	var out []chatid.ID
	for _, m := range list {
		id, err := parseContactID(m, "mentions")
		if err != nil {
			e := err.(*Error)
			e.Code = "invalid_mentions"
			return nil, e
		}
		out = append(out, id)
	}
	return out, nil
}

// sendAnswer is the 202 body of every send: the message is durable and queued.
type sendAnswer struct {
	ID      string       `json:"id"`
	Status  queue.Status `json:"status"`
	Session string       `json:"session"`
	ChatID  string       `json:"chatId"`
}

func (s *Server) sendRoutes() []route {
	return []route{
		{method: "POST", path: "/api/sendText", auth: authTenant, handle: s.sendText,
			doc: routeDoc{summary: "Queue a text message (durable before the answer); Idempotency-Key honoured", tag: "sending",
				request: sendTextBody{}, response: sendAnswer{}, status: http.StatusAccepted}},
		{method: "GET", path: "/api/messages/{id}", auth: authTenant, handle: s.getMessage,
			doc: routeDoc{summary: "A message with its status history", tag: "sending", response: queue.Message{}}},
		{method: "POST", path: "/api/messages/{id}/retry", auth: authTenant, handle: s.retryMessage,
			doc: routeDoc{summary: "Queue a failed message again with a fresh retry budget", tag: "sending", response: queue.Message{}}},
		{method: "POST", path: "/api/messages/batch", auth: authTenant, handle: s.sendBatch,
			doc: routeDoc{summary: "Queue up to 1,000 text messages in one request; one answer per item", tag: "sending",
				request: batchBody{}, response: batchAnswer{}, status: http.StatusAccepted}},
		{method: "GET", path: "/api/{session}/chats/{chatId}/messages", auth: authTenant, handle: s.chatMessages,
			doc: routeDoc{summary: "A chat's history: the messages a session sent and received, newest first, paginated", tag: "sending",
				response: queue.Page{}, query: []string{"limit: 1 to 100, default 20", "cursor: the next of the previous page"}}},
	}
}

// outbound is a validated send request: what the queue will carry.
type outbound struct {
	session string
	msg     provider.Outbound
}

func (s *Server) sendText(c *fasthttp.RequestCtx, r *request) error {
	var b sendTextBody
	if err := decodeJSONWith(c, &b, func(body []byte) bool { return fastSendText(body, &b) }, func() { b = sendTextBody{} }); err != nil {
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
	mentions, err := parseMentions(b.Mentions)
	if err != nil {
		return err
	}
	out := outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindText, Text: b.Text, ReplyTo: b.ReplyTo, Mentions: mentions,
		NoPreview: b.LinkPreview != nil && !*b.LinkPreview, PreviewHighQuality: b.LinkPreviewHighQuality != nil && *b.LinkPreviewHighQuality,
	}}
	return s.submit(c, r, out)
}

// submit is the one door of every send route: it resolves the session, counts the
// message against the plan, and makes it durable in the session's queue before the 202.
// With an Idempotency-Key seen before, it answers the first message again and queues
// nothing (header Idempotent-Replayed: true); when that key came with a different
// message, it refuses with 422 idempotency_key_mismatch.
func (s *Server) submit(c *fasthttp.RequestCtx, r *request, out outbound) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	name, err := s.pickSession(r, out.session, policy.Message{ID: out.msg.ID, ChatID: out.msg.ChatID.String(),
		Kind: string(out.msg.Kind), Text: out.msg.Text, CreatedAt: time.Now()})
	if err != nil {
		return err
	}
	if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), name); err != nil {
		return err
	}
	// Counted in memory now, stored in the queue's transaction: one sync for both.
	if err := s.d.Tenants.CountMessages(r.ctx, r.tenant(), 1); err != nil {
		return err
	}
	m := out.msg
	tenantID := r.tenant()
	item := queue.Item{IdempotencyKey: key, Message: queue.Message{
		ID: m.ID, Session: name, ChatID: m.ChatID.String(), Type: m.Kind, Text: m.Text, ReplyTo: m.ReplyTo,
		Payload: queue.PayloadOf(m),
	}}
	if key != "" {
		item.Fingerprint = fingerprint(out.session, m)
	}
	res, err := s.enqueuer().Enqueue(r.ctx, tenantID, []queue.Item{item}, func(txn *badger.Txn) error { return s.d.Tenants.WriteUsage(txn, tenantID) })
	if err != nil || res[0].Replayed {
		s.d.Tenants.UncountMessages(tenantID, 1)
	}
	if err != nil {
		return err
	}
	if res[0].Mismatch {
		return keyMismatch(res[0].ID)
	}
	answer := sendAnswer{ID: res[0].ID, Status: res[0].Status, Session: name, ChatID: m.ChatID.String()}
	if !res[0].Replayed {
		s.publishQueued(tenantID, name, m.ID, answer.ChatID)
	}
	if res[0].Replayed {
		c.Response.Header.Set("Idempotent-Replayed", "true")
		if orig, err := s.d.Queue.Get(r.ctx, r.tenant(), res[0].ID); err == nil {
			answer.Session, answer.ChatID = orig.Session, orig.ChatID
		}
	}
	return writeSendAnswer(c, answer)
}

// idempotencyKey reads the Idempotency-Key header: 1..255 printable ASCII characters.
func idempotencyKey(c *fasthttp.RequestCtx) (string, error) {
	return checkIdempotencyKey(c.Request.Header.Peek("Idempotency-Key"))
}

// fingerprint is what an Idempotency-Key is stored with: the SHA-256 of the message a
// request asks for, in canonical form (the session as named, "" when the route policy
// picks; the message as validated, chat ids normalized, without its fresh id). The same
// message sent again matches whatever its JSON's spacing or field order; any change of
// content, kind, chat or session does not.
func fingerprint(session string, m provider.Outbound) string {
	m.ID = ""
	b, err := json.Marshal(struct {
		Session string
		Message provider.Outbound
	}{session, m})
	if err != nil { // cannot happen: plain data
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// keyMismatch is the answer to an Idempotency-Key reused for a different message.
func keyMismatch(original string) *Error {
	return unprocessable("idempotency_key_mismatch",
		"this Idempotency-Key was used for a different message; use a new key for a new message",
		d("message_id", original))
}

// checkIdempotencyKey accepts "" (none) or 1..255 printable ASCII characters.
func checkIdempotencyKey(k []byte) (string, error) {
	if len(k) == 0 {
		return "", nil
	}
	if len(k) > 255 {
		return "", badRequest("invalid_idempotency_key", "Idempotency-Key must be at most 255 characters")
	}
	for _, b := range k {
		if b < 0x21 || b > 0x7e {
			return "", badRequest("invalid_idempotency_key", "Idempotency-Key must be printable ASCII without spaces")
		}
	}
	return string(k), nil
}

func (s *Server) getMessage(c *fasthttp.RequestCtx, r *request) error {
	id := pathParam(c, "id")
	if len(id) > 64 {
		return notFound("message_not_found", "message not found")
	}
	m, err := s.d.Queue.Get(r.ctx, r.tenant(), id)
	if errors.Is(err, queue.ErrNotFound) && s.askPeers(c, r, time.Time{}) {
		return nil
	}
	if err == nil && s.d.Locate != nil {
		// Cluster mode: a copy of a message whose session runs elsewhere may be behind
		// (the session moved, or a failover handed the message to another node's
		// session): the newest copy answers.
		if _, local := s.d.Locate(r.tenant(), m.Session); !local && len(m.History) > 0 &&
			s.askPeers(c, r, m.History[len(m.History)-1].At) {
			return nil
		}
	}
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, m)
}

// Enqueuer makes messages durable before the 202, with queue.Queue.Enqueue's contract.
type Enqueuer interface {
	Enqueue(ctx context.Context, tenant string, items []queue.Item, also ...func(*badger.Txn) error) ([]queue.Result, error)
}

// enqueuer is where sends go: the cluster's intake, or this node's queue.
func (s *Server) enqueuer() Enqueuer {
	if s.d.Intake != nil {
		return s.d.Intake
	}
	return s.d.Queue
}

// mapQueueError is the queue's part of mapError.
func mapQueueError(err error) *Error {
	var full *queue.FullError
	switch {
	case errors.As(err, &full):
		return tooManyRequests("queue_full", err.Error(), full.RetryAfter, d("scope", full.Scope, "limit", full.Limit))
	case errors.Is(err, queue.ErrNotFound):
		return notFound("message_not_found", err.Error())
	case errors.Is(err, queue.ErrNotFailed):
		return conflict("message_not_failed", err.Error())
	case errors.Is(err, queue.ErrClosed):
		return unavailable("shutting_down", "the gateway is shutting down", 5*time.Second)
	}
	return nil
}

// pickSession returns the named session or, when none is named, the tenant's route
// policy's pick among its WORKING sessions (by default: the one that last talked with
// the chat, else the next in turn).
func (s *Server) pickSession(r *request, name string, m policy.Message) (string, error) {
	if name != "" {
		return name, nil
	}
	if s.d.Route != nil {
		picked, err := s.d.Route(r.ctx, r.tenant(), m)
		if err == nil && picked != "" {
			return picked, nil
		}
		if err != nil && !errors.Is(err, ErrNoWorkingSession) {
			return "", err
		}
	}
	return "", conflict("no_working_session", "no session is WORKING to send through; name one with \"session\" or start one")
}

// maxBatch is the most messages one batch request may carry.
const maxBatch = 1000

// batchItem is one message of POST /api/messages/batch.
type batchItem struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	Text    string `json:"text"`
	ReplyTo string `json:"reply_to,omitempty"`
	// IdempotencyKey makes this item happen once, as the Idempotency-Key header does
	// for a single send.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

type batchBody struct {
	Messages []batchItem `json:"messages"`
}

// batchResult is the answer for one item: the message, or why it was refused.
type batchResult struct {
	ID       string       `json:"id,omitempty"`
	Status   queue.Status `json:"status,omitempty"`
	Session  string       `json:"session,omitempty"`
	ChatID   string       `json:"chatId,omitempty"`
	Replayed bool         `json:"replayed,omitempty"`
	Error    *errorDetail `json:"error,omitempty"`
}

type batchAnswer struct {
	// Results has one entry per item, in the order of the request.
	Results []batchResult `json:"results"`
	// Queued counts the items queued by this request (not replayed, not refused).
	Queued int `json:"queued"`
}

// sendBatch validates every item on its own (a bad item is refused in its result, the
// others go on), then queues the valid ones in one durable write. Limits that concern
// the whole request (daily limit, queue full) refuse the whole request.
func (s *Server) sendBatch(c *fasthttp.RequestCtx, r *request) error {
	var b batchBody
	if err := decodeJSONWith(c, &b, func(body []byte) bool { return fastBatch(body, &b) }, func() { b = batchBody{} }); err != nil {
		return err
	}
	if len(b.Messages) == 0 {
		return badRequest("empty_batch", "messages must hold at least one message", d("field", "messages"))
	}
	if len(b.Messages) > maxBatch {
		return badRequest("batch_too_large", fmt.Sprintf("at most %d messages per batch", maxBatch), d("field", "messages", "max", maxBatch))
	}
	results := make([]batchResult, len(b.Messages))
	var items []queue.Item
	var at []int // items[i] answers results[at[i]]
	known := map[string]error{}
	for i, it := range b.Messages {
		fail := func(e *Error) { results[i].Error = &errorDetail{Code: e.Code, Message: e.Message, Details: e.Details} }
		chat, err := chatid.Parse(it.ChatID)
		if err != nil {
			fail(badRequest("invalid_chat_id", err.Error(), d("field", fmt.Sprintf("messages[%d].chatId", i))))
			continue
		}
		if it.Text == "" || utf8.RuneCountInString(it.Text) > maxTextLen {
			fail(badRequest("invalid_text", "text must be 1 to 65536 characters", d("field", fmt.Sprintf("messages[%d].text", i))))
			continue
		}
		if _, err := checkIdempotencyKey([]byte(it.IdempotencyKey)); err != nil {
			e := s.resolveError(r, err)
			e.Details = d("field", fmt.Sprintf("messages[%d].idempotencyKey", i))
			fail(e)
			continue
		}
		name, err := s.pickSession(r, it.Session, policy.Message{ChatID: chat.String(), Kind: string(provider.KindText),
			Text: it.Text, CreatedAt: time.Now()})
		if err == nil {
			if _, seen := known[name]; !seen {
				_, known[name] = s.d.Sessions.Get(r.ctx, r.tenant(), name)
			}
			err = known[name]
		}
		if err != nil {
			fail(s.resolveError(r, err))
			continue
		}
		item := queue.Item{IdempotencyKey: it.IdempotencyKey, Message: queue.Message{
			ID: ids.New(ids.Message), Session: name, ChatID: chat.String(), Type: provider.KindText, Text: it.Text, ReplyTo: it.ReplyTo,
		}}
		if it.IdempotencyKey != "" {
			item.Fingerprint = fingerprint(it.Session, provider.Outbound{ChatID: chat, Kind: provider.KindText, Text: it.Text, ReplyTo: it.ReplyTo})
		}
		items = append(items, item)
		at = append(at, i)
	}
	answer := batchAnswer{Results: results}
	if len(items) > 0 {
		tenantID := r.tenant()
		if err := s.d.Tenants.CountMessages(r.ctx, tenantID, len(items)); err != nil {
			return err
		}
		res, err := s.enqueuer().Enqueue(r.ctx, tenantID, items, func(txn *badger.Txn) error { return s.d.Tenants.WriteUsage(txn, tenantID) })
		if err != nil {
			s.d.Tenants.UncountMessages(tenantID, len(items))
			return err
		}
		replayed := 0
		for j, x := range res {
			i := at[j]
			if x.Mismatch {
				replayed++
				e := keyMismatch(x.ID)
				e.Details["field"] = fmt.Sprintf("messages[%d].idempotencyKey", i)
				results[i] = batchResult{Error: &errorDetail{Code: e.Code, Message: e.Message, Details: e.Details}}
				continue
			}
			results[i] = batchResult{ID: x.ID, Status: x.Status, Session: items[j].Message.Session, ChatID: items[j].Message.ChatID, Replayed: x.Replayed}
			if x.Replayed {
				replayed++
			} else {
				answer.Queued++
				s.publishQueued(tenantID, items[j].Message.Session, x.ID, items[j].Message.ChatID)
			}
		}
		if replayed > 0 {
			s.d.Tenants.UncountMessages(tenantID, replayed)
		}
	}
	return writeJSON(c, http.StatusAccepted, answer)
}

func (s *Server) retryMessage(c *fasthttp.RequestCtx, r *request) error {
	id := pathParam(c, "id")
	if len(id) > 64 {
		return notFound("message_not_found", "message not found")
	}
	m, err := s.d.Queue.Requeue(r.ctx, r.tenant(), id)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, m)
}

func (s *Server) chatMessages(c *fasthttp.RequestCtx, r *request) error {
	name := sessionName(c)
	if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), name); err != nil {
		return err
	}
	chat, err := chatid.Parse(pathParam(c, "chatId"))
	if err != nil {
		return badRequest("invalid_chat_id", err.Error(), d("field", "chatId"))
	}
	limit := 20
	if v := c.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 100 {
			return badRequest("invalid_limit", "limit must be 1 to 100", d("param", "limit"))
		}
		limit = n
	}
	cursor := string(c.QueryArgs().Peek("cursor"))
	if cursor != "" && !validMessageID(cursor) {
		return badRequest("invalid_cursor", "cursor must be the next value of a previous page (a message id)", d("param", "cursor"))
	}
	page, err := s.d.Queue.ChatMessages(r.ctx, r.tenant(), name, chat.String(), cursor, limit)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, page)
}

// validMessageID reports whether id has the form of a message id (ids.New or NewLow
// with the msg prefix).
func validMessageID(id string) bool {
	_, ok := ids.Time(id)
	return ok && strings.HasPrefix(id, ids.Message+"_")
}

// publishQueued publishes the first status of an accepted message, message.ack queued.
func (s *Server) publishQueued(tenant, sessionName, id, chat string) {
	s.d.Bus.Publish(event.New(event.MessageAck, tenant, sessionName,
		session.NewAckPayload(id, "", chat, string(queue.StatusQueued), "")))
}
