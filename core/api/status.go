package api

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Status routes (docs/api.md, "Status updates"): WAHA's status/text, image, voice,
// video and delete. A status is a send to status@broadcast, queued and paced like any
// message (the 202 answers the queued message); the session's provider must implement
// provider.Stories (501 otherwise, checked before anything is queued).

const (
	// maxStatusAudience bounds a status's contacts.
	maxStatusAudience = 10_000
	// maxStatusText bounds a text status, in characters (WhatsApp's limit is about 700;
	// longer texts are cut by the phone, so the gateway refuses them).
	maxStatusText = 700
)

// statusColor is a status background, "#RRGGBB".
var statusColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// statusAudience is WAHA's StatusRequest: who should see the status.
type statusAudience struct {
	// Contacts are the users meant to see it (digits, @c.us, @lid). The sandbox sends
	// to them only, or to all the account's contacts when empty; whatsmeow always
	// sends to the audience of the account's status privacy and ignores them.
	Contacts []string `json:"contacts,omitempty"`
}

// textStatusBody is WAHA's TextStatus.
type textStatusBody struct {
	statusAudience
	Text string `json:"text"`
	// BackgroundColor is "#RRGGBB" (WAHA's default "#38b42f").
	BackgroundColor string `json:"backgroundColor,omitempty"`
	// Font is WhatsApp's typeface number, 0 to 10 (WAHA's default 1).
	Font *int `json:"font,omitempty"`
	// LinkPreview and LinkPreviewHighQuality are accepted as WAHA documents them and
	// ignored: only chat texts carry link cards (docs/api.md, "Link previews").
	LinkPreview            *bool `json:"linkPreview,omitempty"`
	LinkPreviewHighQuality *bool `json:"linkPreviewHighQuality,omitempty"`
}

// mediaStatusBody is WAHA's ImageStatus and VideoStatus.
type mediaStatusBody struct {
	statusAudience
	File    *mediaFile `json:"file"`
	Caption string     `json:"caption,omitempty"`
}

// voiceStatusBody is WAHA's VoiceStatus.
type voiceStatusBody struct {
	statusAudience
	File            *mediaFile `json:"file"`
	BackgroundColor string     `json:"backgroundColor,omitempty"`
}

// deleteStatusBody is WAHA's DeleteStatusRequest.
type deleteStatusBody struct {
	statusAudience
	// ID is the status to delete: the gateway's id of the status message, or its
	// provider id.
	ID string `json:"id"`
}

func (s *Server) statusRoutes() []route {
	doc := func(summary string, body any) routeDoc {
		return routeDoc{summary: summary, tag: "status", request: body, response: sendAnswer{}, status: http.StatusAccepted,
			description: "Queued like sendText: durable before the 202, Idempotency-Key honoured. See docs/api.md, \"Status updates\"."}
	}
	const st = "/api/{session}/status"
	return []route{
		{method: "POST", path: st + "/text", auth: authTenant, handle: s.postTextStatus,
			doc: doc("Queue a text status (background colour, font)", textStatusBody{})},
		{method: "POST", path: st + "/image", auth: authTenant, handle: s.postMediaStatus(provider.KindImage, "image/"),
			doc: doc("Queue an image status with an optional caption", mediaStatusBody{})},
		{method: "POST", path: st + "/video", auth: authTenant, handle: s.postMediaStatus(provider.KindVideo, "video/"),
			doc: doc("Queue a video status with an optional caption", mediaStatusBody{})},
		{method: "POST", path: st + "/voice", auth: authTenant, handle: s.postVoiceStatus,
			doc: doc("Queue a voice status (audio/*; WhatsApp plays audio/ogg; codecs=opus)", voiceStatusBody{})},
		{method: "POST", path: st + "/delete", auth: authTenant, handle: s.deleteStatus,
			doc: doc("Queue the deletion of one of the session's statuses", deleteStatusBody{})},
		{method: "GET", path: st + "/privacy", auth: authTenant, handle: s.statusPrivacy,
			doc: routeDoc{summary: "Who sees the session's statuses, by the account's setting (ours)", tag: "status",
				response: provider.StatusPrivacy{}}},
	}
}

// checkStatusAudience parses the contacts of a status.
func checkStatusAudience(b statusAudience) ([]chatid.ID, error) {
	if len(b.Contacts) > maxStatusAudience {
		return nil, badRequest("invalid_contacts", "contacts must list at most "+strconv.Itoa(maxStatusAudience)+" users",
			d("field", "contacts", "limit", maxStatusAudience))
	}
	out := make([]chatid.ID, 0, len(b.Contacts))
	for i, raw := range b.Contacts {
		id, err := chatid.Parse(raw)
		if err != nil || (id.Server != chatid.User && id.Server != chatid.LID) {
			return nil, badRequest("invalid_contacts", "contacts["+strconv.Itoa(i)+"] is not a user: digits, @c.us or @lid",
				d("field", "contacts", "index", i))
		}
		out = append(out, id)
	}
	return out, nil
}

// checkStatusColor checks an optional background colour.
func checkStatusColor(v string) error {
	if v != "" && !statusColor.MatchString(v) {
		return badRequest("invalid_color", "backgroundColor must be #RRGGBB", d("field", "backgroundColor"))
	}
	return nil
}

// submitStatus queues a status message of the path's session, once its provider is
// known to post statuses.
func (s *Server) submitStatus(c *fasthttp.RequestCtx, r *request, msg provider.Outbound) error {
	name := sessionName(c)
	if err := session.Supports[provider.Stories](s.d.Sessions, r.tenant(), name, provider.CapStatus); err != nil {
		return err
	}
	msg.ID, msg.ChatID = ids.New(ids.Message), chatid.StatusBroadcast
	return s.submit(c, r, outbound{session: name, msg: msg})
}

// outbound validates a text status and returns its message (no id, no chat yet).
func (b textStatusBody) outbound() (provider.Outbound, error) {
	audience, err := checkStatusAudience(b.statusAudience)
	if err != nil {
		return provider.Outbound{}, err
	}
	if b.Text == "" || !utf8.ValidString(b.Text) || utf8.RuneCountInString(b.Text) > maxStatusText {
		return provider.Outbound{}, badRequest("invalid_text", "text must be 1 to "+strconv.Itoa(maxStatusText)+" characters of valid UTF-8",
			d("field", "text", "limit", maxStatusText))
	}
	if err := checkStatusColor(b.BackgroundColor); err != nil {
		return provider.Outbound{}, err
	}
	font := 1
	if b.Font != nil {
		font = *b.Font
	}
	if font < 0 || font > provider.MaxStatusFont {
		return provider.Outbound{}, badRequest("invalid_font", "font must be 0 to "+strconv.Itoa(provider.MaxStatusFont), d("field", "font", "max", provider.MaxStatusFont))
	}
	color := b.BackgroundColor
	if color == "" {
		color = "#38b42f"
	}
	return provider.Outbound{Kind: provider.KindText, Text: b.Text,
		Status: &provider.StatusOptions{Audience: audience, BackgroundColor: color, Font: font}}, nil
}

// outbound validates an image or video status (typePrefix "image/" or "video/").
func (b mediaStatusBody) outbound(kind provider.Kind, typePrefix string) (provider.Outbound, error) {
	audience, err := checkStatusAudience(b.statusAudience)
	if err != nil {
		return provider.Outbound{}, err
	}
	media, err := checkMedia(b.File, typePrefix)
	if err != nil {
		return provider.Outbound{}, err
	}
	if err := checkText(b.Caption, maxCaptionLen, "invalid_caption", "caption"); err != nil {
		return provider.Outbound{}, err
	}
	return provider.Outbound{Kind: kind, Text: b.Caption, Media: media, Status: &provider.StatusOptions{Audience: audience}}, nil
}

// outbound validates a voice status.
func (b voiceStatusBody) outbound() (provider.Outbound, error) {
	audience, err := checkStatusAudience(b.statusAudience)
	if err != nil {
		return provider.Outbound{}, err
	}
	media, err := checkMedia(b.File, "audio/")
	if err != nil {
		return provider.Outbound{}, err
	}
	if err := checkStatusColor(b.BackgroundColor); err != nil {
		return provider.Outbound{}, err
	}
	return provider.Outbound{Kind: provider.KindVoice, Media: media,
		Status: &provider.StatusOptions{Audience: audience, BackgroundColor: b.BackgroundColor}}, nil
}

func (s *Server) postTextStatus(c *fasthttp.RequestCtx, r *request) error {
	var b textStatusBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	msg, err := b.outbound()
	if err != nil {
		return err
	}
	return s.submitStatus(c, r, msg)
}

func (s *Server) postMediaStatus(kind provider.Kind, typePrefix string) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		var b mediaStatusBody
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
		msg, err := b.outbound(kind, typePrefix)
		if err != nil {
			return err
		}
		return s.submitStatus(c, r, msg)
	}
}

func (s *Server) postVoiceStatus(c *fasthttp.RequestCtx, r *request) error {
	var b voiceStatusBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	msg, err := b.outbound()
	if err != nil {
		return err
	}
	return s.submitStatus(c, r, msg)
}

// deleteStatus queues a revoke of one of the session's statuses: id is the gateway's
// id of the status message (sent already: else 409 message_not_sent) or its provider
// id.
func (s *Server) deleteStatus(c *fasthttp.RequestCtx, r *request) error {
	var b deleteStatusBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	audience, err := checkStatusAudience(b.statusAudience)
	if err != nil {
		return err
	}
	if b.ID == "" {
		return badRequest("invalid_message_id", "id is required: the status's message id", d("field", "id"))
	}
	target, _, err := s.ownMessage(r, sessionName(c), chatid.StatusBroadcast, b.ID, "id", true)
	if err != nil {
		return err
	}
	return s.submitStatus(c, r, provider.Outbound{Kind: provider.KindRevoke, Target: target,
		Status: &provider.StatusOptions{Audience: audience}})
}

func (s *Server) statusPrivacy(c *fasthttp.RequestCtx, r *request) error {
	p, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapStatus,
		func(ctx context.Context, p provider.Stories) (provider.StatusPrivacy, error) {
			return p.StatusPrivacy(ctx)
		})
	if err != nil {
		return s.providerFailure(err)
	}
	if p.List == nil {
		p.List = []chatid.ID{}
	}
	return writeJSON(c, http.StatusOK, p)
}
