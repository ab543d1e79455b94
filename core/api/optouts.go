package api

import (
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/audience"
	"github.com/wagate/wagate/core/chatid"
)

// Opt-out routes (docs/campaigns.md, "Opt-outs"): the tenant-wide list of chats no
// campaign sends to. Served when Deps.Audience is set.

// maxOptOutBatch bounds the chatIds of one POST /api/optouts.
const maxOptOutBatch = 1000

// addOptOutsRequest is the body of POST /api/optouts: one chat or many.
type addOptOutsRequest struct {
	ChatID  string   `json:"chatId,omitempty"`
	ChatIDs []string `json:"chatIds,omitempty"`
}

// addOptOutsResult is the answer of POST /api/optouts.
type addOptOutsResult struct {
	// Added counts the chats that were not on the list before.
	Added int `json:"added"`
}

// optOutsPage is the answer of GET /api/optouts.
type optOutsPage struct {
	OptOuts []audience.OptOut `json:"optouts"`
	// Next is the cursor of the next page, "" on the last.
	Next string `json:"next"`
}

func (s *Server) optOutRoutes() []route {
	if s.d.Audience == nil {
		return nil
	}
	const o = "/api/optouts"
	doc := func(summary string, req, resp any) routeDoc {
		return routeDoc{summary: summary, tag: "optouts", request: req, response: resp}
	}
	return []route{
		{method: http.MethodGet, path: o, auth: authTenant, handle: s.listOptOuts,
			doc: routeDoc{summary: "The tenant's opt-outs, in chat id order", tag: "optouts", response: optOutsPage{},
				query: []string{"limit: 1..1000 (default 100)", "cursor: the next of the previous page"}}},
		{method: http.MethodPost, path: o, auth: authTenant, handle: s.addOptOuts,
			doc: doc("Put chats on the opt-out list (chatId, or chatIds: at most 1000)", addOptOutsRequest{}, addOptOutsResult{})},
		{method: http.MethodGet, path: o + "/{chatId}", auth: authTenant, handle: s.getOptOut,
			doc: doc("One opt-out (404 optout_not_found)", nil, audience.OptOut{})},
		{method: http.MethodDelete, path: o + "/{chatId}", auth: authTenant, handle: s.removeOptOut,
			doc: doc("Take a chat off the opt-out list: campaigns may send to it again", nil, contactsResult{})},
	}
}

func (s *Server) listOptOuts(c *fasthttp.RequestCtx, r *request) error {
	limit, cursor, err := pageQuery(c)
	if err != nil {
		return err
	}
	os, next, err := s.d.Audience.OptOuts(r.ctx, r.tenant(), cursor, limit)
	if err != nil {
		return err
	}
	if os == nil {
		os = []audience.OptOut{}
	}
	return writeJSON(c, http.StatusOK, optOutsPage{OptOuts: os, Next: next})
}

func (s *Server) addOptOuts(c *fasthttp.RequestCtx, r *request) error {
	var b addOptOutsRequest
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	chats, err := b.chats()
	if err != nil {
		return err
	}
	n, err := s.d.Audience.OptOut(r.ctx, r.tenant(), chats, audience.ReasonAPI, "")
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, addOptOutsResult{Added: n})
}

// chats checks the body and returns the chats it names.
func (b addOptOutsRequest) chats() ([]chatid.ID, error) {
	var chats []chatid.ID
	switch {
	case b.ChatID != "" && b.ChatIDs != nil:
		return nil, badRequest("invalid_chat_id", "give chatId or chatIds, not both", d("field", "chatIds"))
	case b.ChatID != "":
		chat, err := audienceChat(b.ChatID, "chatId")
		if err != nil {
			return nil, err
		}
		chats = []chatid.ID{chat}
	case len(b.ChatIDs) == 0:
		return nil, badRequest("missing_field", "chatId or chatIds (1 to 1000 chat ids) is required", d("field", "chatId"))
	case len(b.ChatIDs) > maxOptOutBatch:
		return nil, badRequest("invalid_chat_id", "chatIds may name at most 1000 chats", d("field", "chatIds", "limit", maxOptOutBatch))
	default:
		for i, raw := range b.ChatIDs {
			chat, err := audienceChat(raw, "chatIds["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			chats = append(chats, chat)
		}
	}
	return chats, nil
}

func (s *Server) getOptOut(c *fasthttp.RequestCtx, r *request) error {
	chat, err := audienceChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	o, err := s.d.Audience.GetOptOut(r.ctx, r.tenant(), chat)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, o)
}

func (s *Server) removeOptOut(c *fasthttp.RequestCtx, r *request) error {
	chat, err := audienceChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	if err := s.d.Audience.RemoveOptOut(r.ctx, r.tenant(), chat); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}
