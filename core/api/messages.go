package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
)

// Message operation routes (docs/api.md, "Editing, deleting and polls"): edits and
// deletes of the session's own messages, polls and poll votes. Each is a send: queued
// through submit, durable before the 202, Idempotency-Key honoured, delivered in order
// with the session's other messages.

// Limits of the message operation routes (WhatsApp's where it has them).
const (
	// maxPollName bounds a poll's question, in characters.
	maxPollName = 255
	// maxPollOption bounds one option, in characters.
	maxPollOption = 100
	// minPollOptions and maxPollOptions bound the options of a poll.
	minPollOptions, maxPollOptions = 2, 12
)

// pollBody is WAHA's MessagePoll.
type pollBody struct {
	Name            string   `json:"name"`
	Options         []string `json:"options"`
	MultipleAnswers bool     `json:"multipleAnswers"`
}

// sendPollBody is WAHA's MessagePollRequest: POST /api/sendPoll.
type sendPollBody struct {
	Session string   `json:"session,omitempty"`
	ChatID  string   `json:"chatId"`
	Poll    pollBody `json:"poll"`
	ReplyTo string   `json:"reply_to,omitempty"`
}

// sendPollVoteBody is WAHA's MessagePollVoteRequest: POST /api/sendPollVote.
type sendPollVoteBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	// PollMessageID is the poll: the gateway's message id (msg_…) of a poll the
	// session sent, its provider id, or WAHA's serialized id.
	PollMessageID string `json:"pollMessageId"`
	// PollServerID is WAHA's, for channels; accepted and ignored.
	PollServerID *int `json:"pollServerId,omitempty"`
	// Votes are the options chosen, by their text; [] withdraws the vote.
	Votes []string `json:"votes"`
}

// editMessageBody is WAHA's EditMessageRequest: PUT .../messages/{messageId}.
type editMessageBody struct {
	Text string `json:"text"`
	// LinkPreview and LinkPreviewHighQuality are accepted as WAHA documents them and
	// ignored: only chat texts carry link cards (docs/api.md, "Link previews").
	LinkPreview            *bool `json:"linkPreview,omitempty"`
	LinkPreviewHighQuality *bool `json:"linkPreviewHighQuality,omitempty"`
}

// forwardMessageBody is WAHA's ForwardMessageRequest: POST /api/forwardMessage.
type forwardMessageBody struct {
	Session string `json:"session,omitempty"`
	// ChatID is where the forward goes.
	ChatID string `json:"chatId"`
	// MessageID is the message to forward, from the session's history: the gateway's
	// id (msg_…), or WAHA's serialized id (<true|false>_<chat>_<id>), which names the
	// chat it is in. A bare provider id names no chat and is refused.
	MessageID string `json:"messageId"`
}

// forwardable are the kinds a forward copies.
var forwardable = []provider.Kind{provider.KindText, provider.KindImage, provider.KindFile, provider.KindVoice,
	provider.KindVideo, provider.KindSticker, provider.KindLocation, provider.KindContact}

func (s *Server) messageRoutes() []route {
	doc := func(summary string, body any) routeDoc {
		return routeDoc{summary: summary, tag: "sending", request: body, response: sendAnswer{}, status: http.StatusAccepted,
			description: "Queued like sendText: durable before the 202, Idempotency-Key honoured. See docs/api.md, \"Editing, deleting and polls\"."}
	}
	const msg = "/api/{session}/chats/{chatId}/messages/{messageId}"
	return []route{
		{method: "GET", path: msg, auth: authTenant, handle: s.getChatMessage,
			doc: routeDoc{summary: "One message of the chat's history, by the gateway's id, the provider's or WAHA's serialized id", tag: "chats", response: queue.Message{}}},
		{method: "PUT", path: msg, auth: authTenant, handle: s.editMessage,
			doc: doc("Queue an edit of one of the session's messages (its new text)", editMessageBody{})},
		{method: "DELETE", path: msg, auth: authTenant, handle: s.revokeMessage,
			doc: doc("Queue the deletion of one of the session's messages for everyone", nil)},
		{method: "POST", path: "/api/sendPoll", auth: authTenant, handle: s.sendPoll,
			doc: doc("Queue a poll (2 to 12 options)", sendPollBody{})},
		{method: "POST", path: "/api/sendPollVote", auth: authTenant, handle: s.sendPollVote,
			doc: doc("Queue a vote on a poll of the chat", sendPollVoteBody{})},
		{method: "POST", path: "/api/forwardMessage", auth: authTenant, handle: s.forwardMessage,
			doc: doc("Queue a forward of a message the session sent or received to another chat", forwardMessageBody{})},
	}
}

// ownMessage resolves the message an edit, revoke or vote is about to its provider id:
// the gateway's id of a message the session sent to chat (sent already: else 409
// message_not_sent), the provider's id, or WAHA's serialized id. own requires the
// session's own message: a serialized id of someone else's is 403 not_allowed.
func (s *Server) ownMessage(r *request, name string, chat chatid.ID, raw, field string, own bool) (id string, fromMe bool, err error) {
	if strings.HasPrefix(raw, ids.Message+"_") && len(raw) <= 64 {
		m, err := s.d.Queue.Get(r.ctx, r.tenant(), raw)
		if errors.Is(err, queue.ErrNotFound) || (err == nil && (m.Session != name || m.ChatID != chat.String())) {
			return "", false, notFound("message_not_found", "no message "+raw+" of session "+name+" in chat "+chat.String())
		}
		if err != nil {
			return "", false, err
		}
		if m.ProviderID == "" && m.Status == queue.StatusSending {
			m, err = s.awaitSent(r, m)
			if err != nil {
				return "", false, err
			}
			if m.Session != name || m.ChatID != chat.String() { // a failover moved it meanwhile
				return "", false, notFound("message_not_found", "no message "+raw+" of session "+name+" in chat "+chat.String())
			}
		}
		if m.ProviderID == "" {
			return "", false, conflict("message_not_sent", "message "+raw+" is "+string(m.Status)+": it has no id on WhatsApp yet", d("status", m.Status))
		}
		return m.ProviderID, true, nil
	}
	id, fromMe, err = parseMessageID(raw, field)
	if err != nil {
		return "", false, err
	}
	if own && strings.HasPrefix(raw, "false_") {
		return "", false, forbidden("not_allowed", "only the session's own messages can be edited or deleted", d("field", field))
	}
	return id, fromMe, nil
}

// sendingWait bounds how long an edit, revoke or vote waits on a message whose provider
// call is out: its "sent" event can reach a client a moment before the record holds the
// provider's id (the ack is told as the call returns; the record follows within
// milliseconds), and a client acting on that event should not get a 409.
const sendingWait = 3 * time.Second

// awaitSent reads m again until it leaves "sending", for at most sendingWait.
func (s *Server) awaitSent(r *request, m queue.Message) (queue.Message, error) {
	deadline := time.Now().Add(sendingWait)
	for m.Status == queue.StatusSending && time.Now().Before(deadline) {
		select {
		case <-r.ctx.Done():
			return m, nil
		case <-time.After(10 * time.Millisecond):
		}
		next, err := s.d.Queue.Get(r.ctx, r.tenant(), m.ID)
		if err != nil {
			return m, err
		}
		m = next
	}
	return m, nil
}

// messageTarget reads the session, chat and message of an edit or revoke route.
func (s *Server) messageTarget(c *fasthttp.RequestCtx, r *request) (string, chatid.ID, string, error) {
	name := sessionName(c)
	chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return "", chatid.ID{}, "", err
	}
	id, _, err := s.ownMessage(r, name, chat, pathParam(c, "messageId"), "messageId", true)
	return name, chat, id, err
}

func (s *Server) editMessage(c *fasthttp.RequestCtx, r *request) error {
	var b editMessageBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Text == "" || !utf8.ValidString(b.Text) || utf8.RuneCountInString(b.Text) > maxTextLen {
		return badRequest("invalid_text", "text must be 1 to 65536 characters of valid UTF-8", d("field", "text"))
	}
	name, chat, target, err := s.messageTarget(c, r)
	if err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: name, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindEdit, Text: b.Text, Target: target,
	}})
}

func (s *Server) revokeMessage(c *fasthttp.RequestCtx, r *request) error {
	name, chat, target, err := s.messageTarget(c, r)
	if err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: name, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindRevoke, Target: target,
	}})
}

// checkPollText checks a poll's question or option.
func checkPollText(v string, max int, field string) error {
	if strings.TrimSpace(v) == "" || !utf8.ValidString(v) || utf8.RuneCountInString(v) > max || strings.ContainsRune(v, 0) {
		return badRequest("invalid_poll", field+" must be 1 to "+strconv.Itoa(max)+" characters of text", d("field", field, "limit", max))
	}
	return nil
}

// checkPoll validates a poll: a question, 2 to 12 distinct options.
func checkPoll(b pollBody) (*provider.Poll, error) {
	if err := checkPollText(b.Name, maxPollName, "poll.name"); err != nil {
		return nil, err
	}
	if len(b.Options) < minPollOptions || len(b.Options) > maxPollOptions {
		return nil, badRequest("invalid_poll", "poll.options must hold 2 to 12 options", d("field", "poll.options", "min", minPollOptions, "max", maxPollOptions))
	}
	for i, o := range b.Options {
		if err := checkPollText(o, maxPollOption, "poll.options"); err != nil {
			return nil, err
		}
		if slices.Contains(b.Options[:i], o) {
			return nil, badRequest("invalid_poll", "poll.options must be distinct: "+o+" is there twice", d("field", "poll.options", "index", i))
		}
	}
	return &provider.Poll{Name: b.Name, Options: slices.Clone(b.Options), MultipleAnswers: b.MultipleAnswers}, nil
}

func (s *Server) sendPoll(c *fasthttp.RequestCtx, r *request) error {
	var b sendPollBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	chat, err := requiredChat(b.ChatID, "chatId")
	if err != nil {
		return err
	}
	poll, err := checkPoll(b.Poll)
	if err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindPoll, Text: poll.Name, Poll: poll, ReplyTo: b.ReplyTo,
	}})
}

func (s *Server) sendPollVote(c *fasthttp.RequestCtx, r *request) error {
	var b sendPollVoteBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	name, err := bodySession(b.Session)
	if err != nil {
		return err
	}
	chat, err := requiredChat(b.ChatID, "chatId")
	if err != nil {
		return err
	}
	if b.Votes == nil || len(b.Votes) > maxPollOptions {
		return badRequest("invalid_votes", "votes must list 0 to 12 options ([] withdraws the vote)", d("field", "votes", "max", maxPollOptions))
	}
	for _, v := range b.Votes {
		if err := checkPollText(v, maxPollOption, "votes"); err != nil {
			e := err.(*Error)
			e.Code = "invalid_votes"
			return e
		}
	}
	poll, fromMe, err := s.ownMessage(r, name, chat, b.PollMessageID, "pollMessageId", false)
	if err != nil {
		return err
	}
	vote := &provider.PollVote{PollID: poll, PollFromMe: fromMe, Options: slices.Clone(b.Votes)}
	if parts := strings.Split(b.PollMessageID, "_"); len(parts) == 4 && chat.IsGroup() {
		if sender, err := chatid.Parse(parts[3]); err == nil {
			vote.PollSender = sender
		}
	}
	return s.submit(c, r, outbound{session: name, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindPollVote, Vote: vote,
	}})
}

// maxHistoryLookup bounds how far back GET .../messages/{messageId} looks for a
// provider id in the chat's history.
const maxHistoryLookup = 10_000

// getChatMessage is GET /api/{session}/chats/{chatId}/messages/{messageId}.
func (s *Server) getChatMessage(c *fasthttp.RequestCtx, r *request) error {
	name := sessionName(c)
	if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), name); err != nil {
		return err
	}
	chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	m, err := s.findChatMessage(r, name, chat, pathParam(c, "messageId"), "messageId")
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, m)
}

// findChatMessage finds a message of the session's chat in the gateway's history: by
// the gateway's id at once; by a provider id (or WAHA's serialized id) among the chat's
// last maxHistoryLookup messages. None is 404 message_not_found.
func (s *Server) findChatMessage(r *request, name string, chat chatid.ID, raw, field string) (queue.Message, error) {
	missing := notFound("message_not_found", "no message "+raw+" of session "+name+" in chat "+chat.String())
	if strings.HasPrefix(raw, ids.Message+"_") && len(raw) <= 64 {
		m, err := s.d.Queue.Get(r.ctx, r.tenant(), raw)
		if errors.Is(err, queue.ErrNotFound) || (err == nil && (m.Session != name || m.ChatID != chat.String())) {
			return queue.Message{}, missing
		}
		return m, err
	}
	id, _, err := parseMessageID(raw, field)
	if err != nil {
		return queue.Message{}, err
	}
	for cursor, seen := "", 0; seen < maxHistoryLookup; {
		page, err := s.d.Queue.ChatMessages(r.ctx, r.tenant(), name, chat.String(), cursor, 100)
		if err != nil {
			return queue.Message{}, err
		}
		for _, m := range page.Messages {
			if m.ProviderID == id {
				return m, nil
			}
		}
		seen += len(page.Messages)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	return queue.Message{}, missing
}

// forwardMessage queues a copy of a message of the session's history to another chat,
// marked forwarded. The copy is made now: the message's text, media, location or
// contacts; inbound media the record holds no file of (whatsmeow and the Cloud API
// keep media at WhatsApp) is downloaded through the session's provider first.
func (s *Server) forwardMessage(c *fasthttp.RequestCtx, r *request) error {
	var b forwardMessageBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	name, err := bodySession(b.Session)
	if err != nil {
		return err
	}
	to, err := requiredChat(b.ChatID, "chatId")
	if err != nil {
		return err
	}
	orig, err := s.forwardSource(r, name, b.MessageID)
	if err != nil {
		return err
	}
	if !slices.Contains(forwardable, orig.Type) {
		return unprocessable("not_forwardable", "a "+string(orig.Type)+" message cannot be forwarded", d("field", "messageId", "type", orig.Type))
	}
	msg := provider.Outbound{ID: ids.New(ids.Message), ChatID: to, Kind: orig.Type, Text: orig.Text, Forwarded: true}
	if p := orig.Payload; p != nil {
		msg.Location, msg.Contacts, msg.Mentions = p.Location, p.Contacts, p.Mentions
		if p.Media != nil {
			media := *p.Media
			if media.URL == "" && len(media.Data) == 0 {
				if media, err = s.forwardMedia(r, name, orig); err != nil {
					return err
				}
			}
			msg.Media = &media
		}
	}
	if msg.Kind != provider.KindText && msg.Kind != provider.KindLocation && msg.Kind != provider.KindContact && msg.Media == nil {
		return unprocessable("not_forwardable", "the "+string(orig.Type)+" message has no file to forward", d("field", "messageId"))
	}
	return s.submit(c, r, outbound{session: name, msg: msg})
}

// forwardSource finds the message a forward copies in the session's history.
func (s *Server) forwardSource(r *request, name, raw string) (queue.Message, error) {
	if strings.HasPrefix(raw, ids.Message+"_") && len(raw) <= 64 {
		m, err := s.d.Queue.Get(r.ctx, r.tenant(), raw)
		if errors.Is(err, queue.ErrNotFound) || (err == nil && m.Session != name) {
			return queue.Message{}, notFound("message_not_found", "no message "+raw+" of session "+name)
		}
		return m, err
	}
	key, ok, err := parseSerializedID(raw)
	switch {
	case err != nil:
		return queue.Message{}, badRequest("invalid_message_id", err.Error(), d("field", "messageId"))
	case !ok:
		return queue.Message{}, badRequest("invalid_message_id",
			"messageId must be the gateway's id (msg_…) or WAHA's serialized id <true|false>_<chatId>_<id>: a bare provider id names no chat",
			d("field", "messageId"))
	}
	return s.findChatMessage(r, name, key.chat, raw, "messageId")
}

// forwardMedia downloads the file of an inbound media message for its forward.
func (s *Server) forwardMedia(r *request, name string, orig queue.Message) (provider.Media, error) {
	media, err := s.d.Sessions.DownloadMedia(r.ctx, r.tenant(), name, orig.ProviderID)
	if err != nil {
		if e := mapSessionError(err); e != nil {
			return provider.Media{}, e
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return provider.Media{}, err
		}
		return provider.Media{}, unprocessable("media_not_available", "the file of the message to forward: "+err.Error(), d("field", "messageId"))
	}
	if len(media.Data) > maxMediaBytes {
		return provider.Media{}, unprocessable("media_not_available", "the file of the message to forward is over 16 MiB", d("field", "messageId", "limit", maxMediaBytes))
	}
	if media.Filename == "" {
		media.Filename = orig.Payload.Media.Filename
	}
	return media, nil
}
