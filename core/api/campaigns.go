package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/campaign"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
)

// Campaign routes (docs/campaigns.md): create, list, get, start, pause, resume,
// cancel, delete, test, recipients. The service checks a campaign against its list;
// this file turns WAHA-shaped message bodies into a campaign.Message.

// campaignMessageBody is a campaign's message in the send routes' shapes.
type campaignMessageBody struct {
	// Type is text, image, video, file, voice, location or template.
	Type string `json:"type"`
	// Text is a text message's body (variables allowed).
	Text string `json:"text,omitempty"`
	// File and Caption are a media message's file and caption (variables allowed in
	// the caption).
	File    *mediaFile `json:"file,omitempty"`
	Caption string     `json:"caption,omitempty"`
	// Latitude, Longitude, Title and Address are a location's.
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	Title     string   `json:"title,omitempty"`
	Address   string   `json:"address,omitempty"`
	// Name, Language and Components are a Cloud API template's (variables allowed in
	// the components).
	Name       string          `json:"name,omitempty"`
	Language   string          `json:"language,omitempty"`
	Components json.RawMessage `json:"components,omitempty"`
}

// createCampaignBody is POST /api/campaigns.
type createCampaignBody struct {
	Name     string              `json:"name"`
	ListID   string              `json:"listId"`
	Message  campaignMessageBody `json:"message"`
	Sessions []string            `json:"sessions,omitempty"`
	// SessionLabels selects the sessions by their metadata instead (campaign.Spec).
	SessionLabels map[string]string `json:"sessionLabels,omitempty"`
	Rate          *campaign.Rate    `json:"rate,omitempty"`
	Window        *campaign.Window  `json:"window,omitempty"`
	StartAt       *time.Time        `json:"startAt,omitempty"`
	MaxFailures   int               `json:"maxFailures,omitempty"`
	// Start starts the campaign at once (scheduled until startAt). Default false: a
	// draft, started with POST .../start.
	Start bool `json:"start,omitempty"`
}

// testCampaignBody is POST /api/campaigns/{id}/test.
type testCampaignBody struct {
	ChatID  string `json:"chatId"`
	Session string `json:"session,omitempty"`
}

// recipientsPage is GET /api/campaigns/{id}/recipients.
type recipientsPage struct {
	Recipients []campaign.Recipient `json:"recipients"`
	// Next is the cursor of the next page; "" at the end.
	Next string `json:"next"`
}

func (s *Server) campaignRoutes() []route {
	if s.d.Campaigns == nil {
		return nil
	}
	const base = "/api/campaigns"
	one := base + "/{id}"
	doc := func(summary string, req, resp any) routeDoc {
		return routeDoc{summary: summary, tag: "campaigns", request: req, response: resp}
	}
	return []route{
		{method: "POST", path: base, auth: authTenant, handle: s.createCampaign,
			doc: routeDoc{summary: "Create a campaign over a list (a draft, or started with start: true)", tag: "campaigns",
				request: createCampaignBody{}, response: campaign.Campaign{}, status: http.StatusCreated}},
		{method: "GET", path: base, auth: authTenant, handle: s.listCampaigns,
			doc: routeDoc{summary: "The tenant's campaigns, newest first", tag: "campaigns", response: []campaign.Campaign{},
				query: []string{"status: draft, scheduled, running, paused, completed, cancelled or failed"}}},
		{method: "GET", path: one, auth: authTenant, handle: s.getCampaign, doc: doc("A campaign with its counts", nil, campaign.Campaign{})},
		{method: "DELETE", path: one, auth: authTenant, handle: s.deleteCampaign, doc: doc("Delete a campaign that is not running, and its recipients", nil, contactsResult{})},
		{method: "POST", path: one + "/start", auth: authTenant, handle: s.campaignAction(s.d.Campaigns.Start),
			doc: doc("Start a draft campaign (scheduled until startAt)", nil, campaign.Campaign{})},
		{method: "POST", path: one + "/pause", auth: authTenant, handle: s.campaignAction(s.d.Campaigns.Pause),
			doc: doc("Pause a campaign: nothing more is queued", nil, campaign.Campaign{})},
		{method: "POST", path: one + "/resume", auth: authTenant, handle: s.campaignAction(s.d.Campaigns.Resume),
			doc: doc("Resume a paused campaign from where it stopped", nil, campaign.Campaign{})},
		{method: "POST", path: one + "/cancel", auth: authTenant, handle: s.campaignAction(s.d.Campaigns.Cancel),
			doc: doc("Cancel a campaign; its messages still queued fail", nil, campaign.Campaign{})},
		{method: "POST", path: one + "/test", auth: authTenant, handle: s.testCampaign,
			doc: routeDoc{summary: "Queue the campaign's message to one chat, as a test", tag: "campaigns",
				request: testCampaignBody{}, response: sendAnswer{}, status: http.StatusAccepted}},
		{method: "GET", path: one + "/recipients", auth: authTenant, handle: s.campaignRecipients,
			doc: routeDoc{summary: "The campaign's recipients and their outcome, in chat id order", tag: "campaigns", response: recipientsPage{},
				query: []string{"status: queued, sent, delivered, read, failed or opted_out", "limit: 1..1000 (default 100)", "cursor: next of the previous page"}}},
		{method: "GET", path: one + "/recipients.csv", auth: authTenant, handle: s.campaignRecipientsCSV,
			doc: routeDoc{summary: "The campaign's recipients as CSV", tag: "campaigns", contentType: "text/csv",
				query: []string{"status: as for recipients"}}},
	}
}

// mapCampaignError maps the campaign service's errors.
func mapCampaignError(err error) *Error {
	switch {
	case errors.Is(err, campaign.ErrNotFound):
		return notFound("campaign_not_found", err.Error())
	case errors.Is(err, campaign.ErrListNotFound):
		return notFound("list_not_found", err.Error(), d("field", "listId"))
	case errors.Is(err, campaign.ErrUnknownVariable):
		return badRequest("unknown_variable", err.Error(), d("field", "message"))
	case errors.Is(err, campaign.ErrSessionNotFound):
		return badRequest("invalid_sessions", err.Error(), d("field", "sessions"))
	case errors.Is(err, campaign.ErrInvalid):
		return badRequest("invalid_campaign", err.Error())
	case errors.Is(err, campaign.ErrState):
		return conflict("invalid_state", err.Error())
	case errors.Is(err, campaign.ErrTooMany):
		return conflict("too_many_campaigns", err.Error())
	case errors.Is(err, campaign.ErrListTooLarge):
		return conflict("list_too_large", err.Error(), d("field", "listId"))
	case errors.Is(err, campaign.ErrEmptyList):
		return unprocessable("empty_list", err.Error(), d("field", "listId"))
	}
	return nil
}

// message turns the body's message into a campaign message, checking its fields as
// the send routes do (variables are checked by the service, against the list).
func (b campaignMessageBody) message() (campaign.Message, error) {
	bad := func(msg string) error { return badRequest("invalid_campaign", msg, d("field", "message")) }
	m := campaign.Message{Type: provider.Kind(b.Type)}
	switch m.Type {
	case provider.KindText:
		if err := checkText(b.Text, maxTextLen, "invalid_campaign", "message.text"); err != nil {
			return m, err
		}
		m.Text = b.Text
	case provider.KindImage, provider.KindVideo, provider.KindFile, provider.KindVoice:
		prefix := map[provider.Kind]string{provider.KindImage: "image/", provider.KindVideo: "video/", provider.KindVoice: "audio/"}[m.Type]
		media, err := checkMedia(b.File, prefix)
		if err != nil {
			return m, err
		}
		if err := checkText(b.Caption, maxCaptionLen, "invalid_caption", "message.caption"); err != nil {
			return m, err
		}
		m.Media, m.Text = media, b.Caption
	case provider.KindLocation:
		if b.Latitude == nil || b.Longitude == nil || *b.Latitude < -90 || *b.Latitude > 90 || *b.Longitude < -180 || *b.Longitude > 180 {
			return m, bad("a location needs latitude (-90..90) and longitude (-180..180)")
		}
		if err := checkText(b.Title, maxPlaceLen, "invalid_campaign", "message.title"); err != nil {
			return m, err
		}
		if err := checkText(b.Address, maxPlaceLen, "invalid_campaign", "message.address"); err != nil {
			return m, err
		}
		m.Location = &provider.Location{Latitude: *b.Latitude, Longitude: *b.Longitude, Title: b.Title, Address: b.Address}
	case provider.KindTemplate:
		if b.Name == "" || len(b.Name) > 512 || b.Language == "" || len(b.Language) > 16 {
			return m, bad("a template needs name and language")
		}
		if len(b.Components) > 0 && !json.Valid(b.Components) {
			return m, bad("components must be JSON")
		}
		m.Template = &provider.Template{Name: b.Name, Language: b.Language, Components: b.Components}
	default:
		return m, bad("message.type must be text, image, video, file, voice, location or template")
	}
	return m, nil
}

func (s *Server) createCampaign(c *fasthttp.RequestCtx, r *request) error {
	var b createCampaignBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	msg, err := b.Message.message()
	if err != nil {
		return err
	}
	spec := campaign.Spec{Name: b.Name, ListID: b.ListID, Msg: msg, Sessions: b.Sessions, SessionLabels: b.SessionLabels, Window: b.Window,
		StartAt: b.StartAt, MaxFailures: b.MaxFailures}
	if b.Rate != nil {
		spec.Rate = *b.Rate
	}
	if b.ListID == "" || len(b.ListID) > 64 {
		return badRequest("invalid_campaign", "listId is required", d("field", "listId"))
	}
	created, err := s.d.Campaigns.Create(r.ctx, r.tenant(), spec)
	if err != nil {
		return err
	}
	if b.Start {
		if created, err = s.d.Campaigns.Start(r.ctx, r.tenant(), created.ID); err != nil {
			return err
		}
	}
	return writeJSON(c, http.StatusCreated, created)
}

func (s *Server) listCampaigns(c *fasthttp.RequestCtx, r *request) error {
	status := campaign.Status(c.QueryArgs().Peek("status"))
	switch status {
	case "", campaign.StatusDraft, campaign.StatusScheduled, campaign.StatusRunning, campaign.StatusPaused,
		campaign.StatusCompleted, campaign.StatusCancelled, campaign.StatusFailed:
	default:
		return badRequest("invalid_status", "status must be draft, scheduled, running, paused, completed, cancelled or failed", d("field", "status"))
	}
	list, err := s.d.Campaigns.List(r.ctx, r.tenant(), status)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, list)
}

func (s *Server) getCampaign(c *fasthttp.RequestCtx, r *request) error {
	got, err := s.d.Campaigns.Get(r.ctx, r.tenant(), pathParam(c, "id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, got)
}

func (s *Server) deleteCampaign(c *fasthttp.RequestCtx, r *request) error {
	if err := s.d.Campaigns.Delete(r.ctx, r.tenant(), pathParam(c, "id")); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

// campaignAction serves start, pause, resume and cancel.
func (s *Server) campaignAction(fn func(ctx context.Context, tenant, id string) (campaign.Campaign, error)) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		got, err := fn(r.ctx, r.tenant(), pathParam(c, "id"))
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, got)
	}
}

// testCampaign queues the campaign's message to one chat as an ordinary send (it
// counts against the plan, and is not one of the campaign's recipients).
func (s *Server) testCampaign(c *fasthttp.RequestCtx, r *request) error {
	var b testCampaignBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	chat, err := requiredChat(b.ChatID, "chatId")
	if err != nil {
		return err
	}
	msg, err := s.d.Campaigns.Render(r.ctx, r.tenant(), pathParam(c, "id"), chat)
	if err != nil {
		return err
	}
	msg.ID = ids.New(ids.Message)
	return s.submit(c, r, outbound{session: b.Session, msg: msg})
}

// recipientStatus reads the status filter of the recipient routes.
func recipientStatus(c *fasthttp.RequestCtx) (string, error) {
	st := string(c.QueryArgs().Peek("status"))
	switch st {
	case "", campaign.RecipientQueued, campaign.RecipientSent, campaign.RecipientDelivered, campaign.RecipientRead,
		campaign.RecipientFailed, campaign.RecipientOptedOut:
		return st, nil
	}
	return "", badRequest("invalid_status", "status must be queued, sent, delivered, read, failed or opted_out", d("field", "status"))
}

func (s *Server) campaignRecipients(c *fasthttp.RequestCtx, r *request) error {
	st, err := recipientStatus(c)
	if err != nil {
		return err
	}
	limit, err := contactsPageParam(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	cursor := string(c.QueryArgs().Peek("cursor"))
	if cursor != "" {
		if _, err := chatid.Parse(cursor); err != nil {
			return badRequest("invalid_cursor", "cursor must be the next of a previous page", d("field", "cursor"))
		}
	}
	list, next, err := s.d.Campaigns.Recipients(r.ctx, r.tenant(), pathParam(c, "id"), st, cursor, limit)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, recipientsPage{Recipients: list, Next: next})
}

// campaignRecipientsCSV streams every recipient, a page at a time.
func (s *Server) campaignRecipientsCSV(c *fasthttp.RequestCtx, r *request) error {
	st, err := recipientStatus(c)
	if err != nil {
		return err
	}
	id := pathParam(c, "id")
	list, next, err := s.d.Campaigns.Recipients(r.ctx, r.tenant(), id, st, "", 1000)
	if err != nil {
		return err
	}
	c.SetContentType("text/csv; charset=utf-8")
	c.Response.Header.Set("Content-Disposition", `attachment; filename="`+id+`-recipients.csv"`)
	c.SetStatusCode(http.StatusOK)
	w := csv.NewWriter(c)
	_ = w.Write([]string{"chatId", "status", "session", "messageId", "reason", "replied", "updatedAt"})
	for {
		for _, rc := range list {
			_ = w.Write([]string{rc.ChatID, rc.Status, rc.Session, rc.MessageID, rc.Reason, strconv.FormatBool(rc.Replied), rc.UpdatedAt.Format(time.RFC3339)})
		}
		if next == "" {
			break
		}
		if list, next, err = s.d.Campaigns.Recipients(r.ctx, r.tenant(), id, st, next, 1000); err != nil {
			break // the header is out: the export ends short, and the log has why
		}
	}
	w.Flush()
	if err != nil {
		r.log.Warn("campaign recipients export cut short", "campaign", id, "err", err)
	}
	return nil
}
