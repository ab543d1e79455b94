package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Chat routes (docs/api.md, "Chats"): read receipts, archive, unread, pin, delete,
// star. Each is an immediate call to the session's provider through session.Call, not
// queued.

// Limits of the chat routes.
const (
	// maxSeenMessages bounds messageIds of one sendSeen.
	maxSeenMessages = 1000
	// maxSeenIDLen bounds one message id (WAHA's serialized form included).
	maxSeenIDLen = 256
)

// sendSeenBody is WAHA's SendSeenRequest: POST /api/sendSeen.
type sendSeenBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	// MessageID and MessageIDs name the messages read (WAHA's serialized ids,
	// "false_<chat>_<id>", or the bare id); none marks every unread message of the chat.
	MessageID  string   `json:"messageId,omitempty"`
	MessageIDs []string `json:"messageIds,omitempty"`
	// Participant is the author of the messages in a group.
	Participant string `json:"participant,omitempty"`
}

// starBody is WAHA's MessageStarRequest: PUT /api/star.
type starBody struct {
	Session   string `json:"session,omitempty"`
	ChatID    string `json:"chatId"`
	MessageID string `json:"messageId"`
	Star      bool   `json:"star"`
}

// readBody is POST /api/{session}/chats/{chatId}/messages/read (optional body).
type readBody struct {
	MessageIDs []string `json:"messageIds,omitempty"`
}

// chatRoutes are the routes of chats.
func (s *Server) chatRoutes() []route {
	return []route{
		{method: "POST", path: "/api/sendSeen", auth: authTenant, handle: s.sendSeen,
			doc: routeDoc{summary: "Mark a chat's messages read: their senders see the read receipt (immediate, not queued)", tag: "chats",
				request: sendSeenBody{}, response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/messages/read", auth: authTenant, handle: s.readChat,
			doc: routeDoc{summary: "Mark a chat's messages read", tag: "chats", request: readBody{}, response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/archive", auth: authTenant, handle: s.chatFlag(flagArchive),
			doc: routeDoc{summary: "Archive a chat", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/unarchive", auth: authTenant, handle: s.chatFlag(flagUnarchive),
			doc: routeDoc{summary: "Unarchive a chat", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/unread", auth: authTenant, handle: s.chatFlag(flagUnread),
			doc: routeDoc{summary: "Mark a chat unread", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/pin", auth: authTenant, handle: s.chatFlag(flagPin),
			doc: routeDoc{summary: "Pin a chat", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/unpin", auth: authTenant, handle: s.chatFlag(flagUnpin),
			doc: routeDoc{summary: "Unpin a chat", tag: "chats", response: contactsResult{}}},
		{method: "DELETE", path: "/api/{session}/chats/{chatId}", auth: authTenant, handle: s.chatFlag(flagDelete),
			doc: routeDoc{summary: "Delete a chat from the session's devices", tag: "chats", response: contactsResult{}}},
		{method: "PUT", path: "/api/star", auth: authTenant, handle: s.star,
			doc: routeDoc{summary: "Star or unstar a message", tag: "chats", request: starBody{}, response: contactsResult{}}},
	}
}

// parseMessageID reads a message id: WAHA's serialized "<fromMe>_<chat>_<id>[_<participant>]"
// or a bare id. It returns the bare id and, for the serialized form, whether the session
// sent it.
func parseMessageID(s, field string) (id string, fromMe bool, err error) {
	if s == "" || len(s) > maxSeenIDLen || strings.ContainsAny(s, "/ \t\r\n") {
		return "", false, badRequest("invalid_message_id", field+" must be a message id of 1 to 256 characters", d("field", field))
	}
	if rest, ok := strings.CutPrefix(s, "true_"); ok {
		fromMe, s = true, rest
	} else if rest, ok := strings.CutPrefix(s, "false_"); ok {
		s = rest
	} else {
		return s, false, nil
	}
	parts := strings.Split(s, "_")
	if len(parts) < 2 || parts[1] == "" {
		return "", false, badRequest("invalid_message_id", field+" is not a serialized message id (fromMe_chat_id)", d("field", field))
	}
	return parts[1], fromMe, nil
}

func (s *Server) sendSeen(c *fasthttp.RequestCtx, r *request) error {
	var b sendSeenBody
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
	if len(b.MessageIDs) > maxSeenMessages {
		return badRequest("too_many_messages", "messageIds holds at most 1000 ids", d("field", "messageIds", "limit", maxSeenMessages))
	}
	var ids []string
	raws := b.MessageIDs
	if b.MessageID != "" {
		raws = append(raws, b.MessageID)
	}
	for _, raw := range raws {
		id, _, err := parseMessageID(raw, "messageIds")
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	var sender chatid.ID
	if b.Participant != "" {
		if sender, err = parseContactID(b.Participant, "participant"); err != nil {
			return err
		}
	}
	return s.markRead(c, r, name, chat, ids, sender)
}

func (s *Server) markRead(c *fasthttp.RequestCtx, r *request, name string, chat chatid.ID, ids []string, sender chatid.ID) error {
	err := session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapChats, func(ctx context.Context, p provider.Chats) error {
		return p.MarkRead(ctx, chat, ids, sender)
	})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "chat_not_found"))
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

func (s *Server) readChat(c *fasthttp.RequestCtx, r *request) error {
	chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	var b readBody
	if err := decodeOptionalJSON(c, &b); err != nil {
		return err
	}
	if len(b.MessageIDs) > maxSeenMessages {
		return badRequest("too_many_messages", "messageIds holds at most 1000 ids", d("field", "messageIds", "limit", maxSeenMessages))
	}
	ids := make([]string, 0, len(b.MessageIDs))
	for _, raw := range b.MessageIDs {
		id, _, err := parseMessageID(raw, "messageIds")
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	return s.markRead(c, r, sessionName(c), chat, ids, chatid.ID{})
}

// Chat flag operations of chatFlag.
const (
	flagArchive = iota
	flagUnarchive
	flagUnread
	flagPin
	flagUnpin
	flagDelete
)

func (s *Server) chatFlag(op int) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
		if err != nil {
			return err
		}
		err = session.Do(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapChats, func(ctx context.Context, p provider.Chats) error {
			switch op {
			case flagArchive, flagUnarchive:
				return p.Archive(ctx, chat, op == flagArchive)
			case flagUnread:
				return p.MarkUnread(ctx, chat)
			case flagPin, flagUnpin:
				return p.Pin(ctx, chat, op == flagPin)
			}
			return p.DeleteChat(ctx, chat)
		})
		if err != nil {
			return s.providerFailure(notFoundAs(err, "chat_not_found"))
		}
		return writeJSON(c, http.StatusOK, contactsResult{Success: true})
	}
}

func (s *Server) star(c *fasthttp.RequestCtx, r *request) error {
	var b starBody
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
	id, fromMe, err := parseMessageID(b.MessageID, "messageId")
	if err != nil {
		return err
	}
	err = session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapChats, func(ctx context.Context, p provider.Chats) error {
		return p.Star(ctx, chat, id, fromMe, b.Star)
	})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "message_not_found"))
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}
