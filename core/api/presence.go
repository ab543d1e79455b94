package api

import (
	"context"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Presence routes (docs/api.md, "Presence"). Like sendSeen, they are immediate calls to
// the session's provider through session.Call, not queued: a typing indicator or a
// presence is worth nothing late, and is not retried.

// chatBody is WAHA's ChatRequest: POST /api/startTyping and /api/stopTyping.
type chatBody struct {
	// Session is the session; default "default".
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
}

// presenceBody is WAHA's WAHASessionPresence: POST /api/{session}/presence. chatId is
// required with a chat state (typing, recording, paused) and ignored with online and
// offline.
type presenceBody struct {
	Presence provider.Presence `json:"presence"`
	ChatID   string            `json:"chatId,omitempty"`
}

// presenceRoutes are the routes of presence and typing.
func (s *Server) presenceRoutes() []route {
	return []route{
		{method: "POST", path: "/api/startTyping", auth: authTenant, handle: s.typing(provider.PresenceTyping),
			doc: routeDoc{summary: "Show the session typing in a chat (immediate, not queued)", tag: "presence", request: chatBody{}, response: contactsResult{}}},
		{method: "POST", path: "/api/stopTyping", auth: authTenant, handle: s.typing(provider.PresencePaused),
			doc: routeDoc{summary: "Stop showing the session typing in a chat (paused)", tag: "presence", request: chatBody{}, response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/presence", auth: authTenant, handle: s.setPresence,
			doc: routeDoc{summary: "Set the session's presence (online, offline) or its chat state in a chat (typing, recording, paused)", tag: "presence",
				request: presenceBody{}, response: contactsResult{}}},
		{method: "GET", path: "/api/{session}/presence", auth: authTenant, handle: s.listPresences,
			doc: routeDoc{summary: "The last presence known of every chat (from presence.update)", tag: "presence", response: []provider.PresenceUpdate{}}},
		{method: "GET", path: "/api/{session}/presence/{chatId}", auth: authTenant, handle: s.getPresence,
			doc: routeDoc{summary: "The last presence known in a chat; a contact not known yet is subscribed to", tag: "presence", response: provider.PresenceUpdate{}}},
		{method: "POST", path: "/api/{session}/presence/{chatId}/subscribe", auth: authTenant, handle: s.subscribePresence,
			doc: routeDoc{summary: "Subscribe to a contact's presence: its changes arrive as presence.update", tag: "presence", response: contactsResult{}}},
	}
}

// bodySession returns the session a body names, WAHA's "default" when none.
func bodySession(name string) (string, error) {
	if name == "" {
		return contactsDefaultSession, nil
	}
	if !session.ValidName(name) {
		return "", badRequest("invalid_session_name", "session must be 1-64 of A-Z, a-z, 0-9, '_' and '-'", d("field", "session"))
	}
	return name, nil
}

// requiredChat parses a required chat id of a body or path.
func requiredChat(s, field string) (chatid.ID, error) {
	if s == "" {
		return chatid.ID{}, badRequest("invalid_chat_id", field+" is required", d("field", field))
	}
	id, err := chatid.Parse(s)
	if err != nil {
		return chatid.ID{}, badRequest("invalid_chat_id", err.Error(), d("field", field))
	}
	return id, nil
}

func (s *Server) typing(state provider.Presence) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		var b chatBody
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
		return s.chatState(c, r, name, chat, state)
	}
}

func (s *Server) chatState(c *fasthttp.RequestCtx, r *request, name string, chat chatid.ID, state provider.Presence) error {
	err := session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapPresence, func(ctx context.Context, p provider.Presencer) error {
		return p.SetChatState(ctx, chat, state)
	})
	if err != nil {
		return s.providerFailure(err)
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

func (s *Server) setPresence(c *fasthttp.RequestCtx, r *request) error {
	var b presenceBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	name := sessionName(c)
	switch {
	case b.Presence.IsChatState():
		chat, err := requiredChat(b.ChatID, "chatId")
		if err != nil {
			return err
		}
		return s.chatState(c, r, name, chat, b.Presence)
	case b.Presence == provider.PresenceOnline || b.Presence == provider.PresenceOffline:
	default:
		return badRequest("invalid_presence", "presence must be online, offline, typing, recording or paused", d("field", "presence"))
	}
	err := session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapPresence, func(ctx context.Context, p provider.Presencer) error {
		return p.SetPresence(ctx, b.Presence)
	})
	if err != nil {
		return s.providerFailure(err)
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

func (s *Server) subscribePresence(c *fasthttp.RequestCtx, r *request) error {
	id, err := parseContactID(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	err = session.Do(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapPresence, func(ctx context.Context, p provider.Presencer) error {
		return p.SubscribePresence(ctx, id)
	})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "contact_not_found"))
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

func (s *Server) listPresences(c *fasthttp.RequestCtx, r *request) error {
	all, err := s.d.Sessions.Presences(r.tenant(), sessionName(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, all)
}

// getPresence answers the chat's known presences. As WAHA's, it subscribes to a
// contact whose presence is not known yet (the session must be WORKING for that) and
// answers what is known now: no presences until WhatsApp reports one.
func (s *Server) getPresence(c *fasthttp.RequestCtx, r *request) error {
	name := sessionName(c)
	chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	u, ok, err := s.d.Sessions.ChatPresence(r.tenant(), name, chat)
	if err != nil {
		return err
	}
	if !ok {
		if chat.Server == chatid.User || chat.Server == chatid.LID {
			err := session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapPresence, func(ctx context.Context, p provider.Presencer) error {
				return p.SubscribePresence(ctx, chat)
			})
			if err != nil {
				return s.providerFailure(notFoundAs(err, "contact_not_found"))
			}
		}
		if u, ok, err = s.d.Sessions.ChatPresence(r.tenant(), name, chat); err != nil {
			return err
		}
		if !ok {
			u = provider.PresenceUpdate{ID: chat, Presences: []provider.ParticipantPresence{}}
		}
	}
	return writeJSON(c, http.StatusOK, u)
}
