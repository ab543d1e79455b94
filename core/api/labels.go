package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Label routes (docs/api.md, "Labels"), in WAHA's paths and bodies: WhatsApp Business
// labels and the chats they are on. Each is an immediate call to the session's
// provider through session.Call, not queued.

// maxLabelID bounds a label id (WhatsApp's are small integers).
const maxLabelID = 64

// labelBody is WAHA's LabelBody: a name and a colour, as WhatsApp's colour number
// (0–19) or as its hex shade in the palette. Neither means colour 0.
type labelBody struct {
	Name     string  `json:"name"`
	Color    *int    `json:"color,omitempty"`
	ColorHex *string `json:"colorHex,omitempty"`
}

// labelRef is WAHA's LabelID: {id}.
type labelRef struct {
	ID string `json:"id"`
}

// chatLabelsBody is WAHA's SetLabelsRequest: the chat's full set of labels.
type chatLabelsBody struct {
	Labels []labelRef `json:"labels"`
}

// labelChat is one chat of GET labels/{labelId}/chats: WAHA answers the engine's chat
// objects; ours name the chat.
type labelChat struct {
	ID chatid.ID `json:"id"`
}

// labelRoutes are the routes of labels.
func (s *Server) labelRoutes() []route {
	const l = "/api/{session}/labels"
	doc := func(summary string, req, resp any) routeDoc {
		return routeDoc{summary: summary, tag: "labels", request: req, response: resp}
	}
	return []route{
		{method: "GET", path: l, auth: authTenant, handle: s.listLabels,
			doc: doc("List the account's labels (WhatsApp Business)", nil, []provider.Label{})},
		{method: "POST", path: l, auth: authTenant, handle: s.createLabel,
			doc: routeDoc{summary: "Create a label", tag: "labels", request: labelBody{}, response: provider.Label{}, status: http.StatusCreated}},
		{method: "PUT", path: l + "/{labelId}", auth: authTenant, handle: s.updateLabel,
			doc: doc("Rename or recolour a label", labelBody{}, provider.Label{})},
		{method: "DELETE", path: l + "/{labelId}", auth: authTenant, handle: s.deleteLabel,
			doc: doc("Delete a label; the chats it was on lose it", nil, contactsResult{})},
		{method: "GET", path: l + "/chats/{chatId}", auth: authTenant, handle: s.chatLabels,
			doc: doc("The labels on a chat", nil, []provider.Label{})},
		{method: "PUT", path: l + "/chats/{chatId}", auth: authTenant, handle: s.setChatLabels,
			doc: doc("Set a chat's labels: the full set, the others are taken off", chatLabelsBody{}, contactsResult{})},
		{method: "GET", path: l + "/{labelId}/chats", auth: authTenant, handle: s.labelChats,
			doc: doc("The chats a label is on", nil, []labelChat{})},
	}
}

// callLabels runs fn on the session's Labeler; an unknown label is 404 label_not_found.
func callLabels[T any](s *Server, c *fasthttp.RequestCtx, r *request, fn func(context.Context, provider.Labeler) (T, error)) (T, error) {
	v, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapLabels, fn)
	if err != nil {
		return v, s.providerFailure(notFoundAs(err, "label_not_found"))
	}
	return v, nil
}

// checkLabelID checks a label id: 1 to 64 letters, digits, '-', '_', '.' or ':'.
func checkLabelID(id, field string) error {
	return checkOpaqueID(id, field, maxLabelID, "invalid_label_id")
}

// checkOpaqueID checks a transport's opaque id (a label's, a call's): 1 to max
// letters, digits, '-', '_', '.' or ':'; code names the error.
func checkOpaqueID(id, field string, max int, code string) error {
	if id == "" || len(id) > max || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':')
	}) {
		return badRequest(code, field+" must be 1 to "+strconv.Itoa(max)+" letters, digits, -, _, . or :", d("field", field))
	}
	return nil
}

// labelPathID reads the {labelId} of a label route.
func labelPathID(c *fasthttp.RequestCtx) (string, error) {
	id := pathParam(c, "labelId")
	return id, checkLabelID(id, "labelId")
}

// parse checks a label body and returns its name and colour number.
func (b labelBody) parse() (string, int, error) {
	if err := checkGroupText(b.Name, provider.MaxLabelName, true, "invalid_name", "name"); err != nil {
		return "", 0, err
	}
	color := 0
	if b.Color != nil {
		if *b.Color < 0 || *b.Color >= len(provider.LabelColors) {
			return "", 0, badRequest("invalid_color", "color must be a colour number from 0 to "+strconv.Itoa(len(provider.LabelColors)-1), d("field", "color"))
		}
		color = *b.Color
	}
	if b.ColorHex != nil {
		c, ok := provider.LabelColorOf(*b.ColorHex)
		if !ok {
			return "", 0, badRequest("invalid_color", "colorHex must be one of WhatsApp's label colours (docs/api.md, Labels)", d("field", "colorHex"))
		}
		if b.Color != nil && c != color {
			return "", 0, badRequest("invalid_color", "color and colorHex name different colours", d("field", "colorHex"))
		}
		color = c
	}
	return b.Name, color, nil
}

// sortLabels orders labels by id, numerically where the ids are numbers.
func sortLabels(ls []provider.Label) []provider.Label {
	slices.SortFunc(ls, func(a, b provider.Label) int {
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), strings.Compare(a.ID, b.ID))
	})
	if ls == nil {
		ls = []provider.Label{}
	}
	return ls
}

func (s *Server) listLabels(c *fasthttp.RequestCtx, r *request) error {
	ls, err := callLabels(s, c, r, func(ctx context.Context, p provider.Labeler) ([]provider.Label, error) {
		return p.Labels(ctx)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, sortLabels(ls))
}

func (s *Server) createLabel(c *fasthttp.RequestCtx, r *request) error {
	var b labelBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	name, color, err := b.parse()
	if err != nil {
		return err
	}
	l, err := callLabels(s, c, r, func(ctx context.Context, p provider.Labeler) (provider.Label, error) {
		return p.CreateLabel(ctx, name, color)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, l)
}

func (s *Server) updateLabel(c *fasthttp.RequestCtx, r *request) error {
	id, err := labelPathID(c)
	if err != nil {
		return err
	}
	var b labelBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	name, color, err := b.parse()
	if err != nil {
		return err
	}
	l, err := callLabels(s, c, r, func(ctx context.Context, p provider.Labeler) (provider.Label, error) {
		return p.UpdateLabel(ctx, id, name, color)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, l)
}

func (s *Server) deleteLabel(c *fasthttp.RequestCtx, r *request) error {
	id, err := labelPathID(c)
	if err != nil {
		return err
	}
	if _, err := callLabels(s, c, r, func(ctx context.Context, p provider.Labeler) (struct{}, error) {
		return struct{}{}, p.DeleteLabel(ctx, id)
	}); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

func (s *Server) chatLabels(c *fasthttp.RequestCtx, r *request) error {
	chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	ls, err := callLabels(s, c, r, func(ctx context.Context, p provider.Labeler) ([]provider.Label, error) {
		return p.ChatLabels(ctx, chat)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, sortLabels(ls))
}

func (s *Server) setChatLabels(c *fasthttp.RequestCtx, r *request) error {
	chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	var b chatLabelsBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.Labels == nil || len(b.Labels) > provider.MaxLabels {
		return badRequest("invalid_labels", "labels must list 0 to "+strconv.Itoa(provider.MaxLabels)+" labels as {\"id\": ...} ([] takes every label off)",
			d("field", "labels", "limit", provider.MaxLabels))
	}
	ids := make([]string, len(b.Labels))
	for i, l := range b.Labels {
		if err := checkLabelID(l.ID, "labels["+strconv.Itoa(i)+"].id"); err != nil {
			return err
		}
		ids[i] = l.ID
	}
	if _, err := callLabels(s, c, r, func(ctx context.Context, p provider.Labeler) (struct{}, error) {
		return struct{}{}, p.SetChatLabels(ctx, chat, ids)
	}); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

func (s *Server) labelChats(c *fasthttp.RequestCtx, r *request) error {
	id, err := labelPathID(c)
	if err != nil {
		return err
	}
	chats, err := callLabels(s, c, r, func(ctx context.Context, p provider.Labeler) ([]chatid.ID, error) {
		return p.LabelChats(ctx, id)
	})
	if err != nil {
		return err
	}
	slices.SortFunc(chats, func(a, b chatid.ID) int { return strings.Compare(a.String(), b.String()) })
	out := make([]labelChat, len(chats))
	for i, ch := range chats {
		out[i] = labelChat{ID: ch}
	}
	return writeJSON(c, http.StatusOK, out)
}
