package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
)

// Limits of a custom link preview, in characters.
const (
	maxPreviewTitle       = 256
	maxPreviewDescription = 1024
)

// linkCustomPreviewBody is WAHA's MessageLinkCustomPreviewRequest: POST
// /api/send/link-custom-preview, a text with the preview card its sender made.
type linkCustomPreviewBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	// Text is the message; it must contain preview.url.
	Text string `json:"text"`
	// LinkPreviewHighQuality asks for a large picture (WhatsApp Web uploads it).
	LinkPreviewHighQuality bool `json:"linkPreviewHighQuality,omitempty"`
	// Preview is the card.
	Preview *previewCard `json:"preview"`
	ReplyTo string       `json:"reply_to,omitempty"`
}

// previewCard is WAHA's LinkPreviewData.
type previewCard struct {
	// URL is the link the card is for: an absolute http(s) URL found in the text.
	URL string `json:"url"`
	// Title is the card's title (required, as in WAHA), at most 256 characters.
	Title string `json:"title"`
	// Description is its second line, at most 1024 characters.
	Description string `json:"description,omitempty"`
	// Image is its picture: {url} or {mimetype, data}, an image/* file.
	Image *mediaFile `json:"image,omitempty"`
}

// sendLinkPreviewBody is WAHA's deprecated MessageLinkPreviewRequest: POST
// /api/sendLinkPreview sends url as the text, with title on its card.
type sendLinkPreviewBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	URL     string `json:"url"`
	Title   string `json:"title"`
}

func (s *Server) linkPreviewRoutes() []route {
	doc := func(summary string, body any) routeDoc {
		return routeDoc{summary: summary, tag: "sending", request: body, response: sendAnswer{}, status: http.StatusAccepted,
			description: "Queued like sendText: durable before the 202, Idempotency-Key honoured. See docs/api.md, \"Link previews\"."}
	}
	return []route{
		{method: "POST", path: "/api/send/link-custom-preview", auth: authTenant, handle: s.sendLinkCustomPreview,
			doc: doc("Queue a text with a link preview card the sender supplies (title, description, picture)", linkCustomPreviewBody{})},
		{method: "POST", path: "/api/sendLinkPreview", auth: authTenant, handle: s.sendLinkPreview,
			doc: doc("Queue a link with a titled preview card (WAHA's deprecated form of link-custom-preview)", sendLinkPreviewBody{})},
	}
}

func (s *Server) sendLinkCustomPreview(c *fasthttp.RequestCtx, r *request) error {
	var b linkCustomPreviewBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	msg, err := b.outbound()
	if err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: b.Session, msg: msg})
}

func (s *Server) sendLinkPreview(c *fasthttp.RequestCtx, r *request) error {
	var b sendLinkPreviewBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	card := previewCard{URL: b.URL, Title: b.Title}
	msg, err := linkCustomPreviewBody{ChatID: b.ChatID, Text: b.URL, Preview: &card}.outbound()
	if err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: b.Session, msg: msg})
}

// outbound checks a text and its card and returns the message to queue.
func (b linkCustomPreviewBody) outbound() (provider.Outbound, error) {
	chat, err := parseChat(b.ChatID)
	if err != nil {
		return provider.Outbound{}, err
	}
	if b.Text == "" {
		return provider.Outbound{}, badRequest("invalid_text", "text must not be empty", d("field", "text"))
	}
	if err := checkText(b.Text, maxTextLen, "invalid_text", "text"); err != nil {
		return provider.Outbound{}, err
	}
	bad := func(field, msg string) (provider.Outbound, error) {
		return provider.Outbound{}, badRequest("invalid_preview", msg, d("field", field))
	}
	card := b.Preview
	if card == nil {
		return bad("preview", "preview is required: {url, title, description?, image?}")
	}
	switch err := checkMediaURL(card.URL); {
	case card.URL == "":
		return bad("preview.url", "preview.url is required")
	case err != nil:
		return bad("preview.url", "preview."+err.Error())
	case !strings.Contains(b.Text, card.URL):
		return bad("preview.url", "preview.url must appear in the text: WhatsApp shows the card for a link of the message")
	case strings.TrimSpace(card.Title) == "":
		return bad("preview.title", "preview.title is required")
	}
	if err := checkText(card.Title, maxPreviewTitle, "invalid_preview", "preview.title"); err != nil {
		return provider.Outbound{}, err
	}
	if err := checkText(card.Description, maxPreviewDescription, "invalid_preview", "preview.description"); err != nil {
		return provider.Outbound{}, err
	}
	preview := &provider.LinkPreview{URL: card.URL, Title: card.Title, Description: card.Description, HighQuality: b.LinkPreviewHighQuality}
	if card.Image != nil {
		img, err := checkMedia(card.Image, "image/")
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Code, e.Details = "invalid_preview", d("field", "preview.image", "reason", e.Message)
			}
			return provider.Outbound{}, err
		}
		preview.Image = img
	}
	return provider.Outbound{ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindText, Text: b.Text, ReplyTo: b.ReplyTo,
		Preview: preview}, nil
}
