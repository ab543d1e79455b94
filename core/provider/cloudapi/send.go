package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/linkpreview"
	"github.com/wagate/wagate/core/provider"
)

// Send implements provider.Provider: one POST /<version>/<phone number id>/messages
// with messaging_product "whatsapp" and recipient_type "individual", after the
// number's throughput limit allows it (waiting within ctx). Kinds and their Graph API
// message types:
//
//	text      text {body, preview_url: true when the text holds an http(s) link and
//	          previews are not refused (NoPreview); Meta builds the card from the
//	          page, so a sender's own card (Preview) only turns it on}
//	image     image {link | id, caption}
//	video     video {link | id, caption}
//	voice     audio {link | id}             (audio takes no caption)
//	file      document {link | id, caption, filename}
//	location  location {latitude, longitude, name, address}
//	contact   contacts [{name {formatted_name, first_name}, org, phones [{phone, type, wa_id}]}]
//	reaction  reaction {message_id, emoji}  ("" removes the reaction)
//	template  template {name, language {code}, components}
//
// Media given as Data is uploaded first (POST .../media, multipart) and sent by the id
// Meta returns; media given as URL is sent as a link, which Meta fetches. ReplyTo
// becomes context.message_id. Only users (@c.us) can be sent to.
//
// Errors: provider.ErrNotConnected (wrapped) unless WORKING, provider.ErrLoggedOut after
// Logout; otherwise a *provider.SendError whose Code is one of the Code constants and
// whose Err is a *GraphError when Meta answered. A fatal one (auth_failed, banned) also
// makes the session report FAILED with that reason.
func (s *Provider) Send(ctx context.Context, msg provider.Outbound) (provider.SendResult, error) {
	if err := s.sendable(); err != nil {
		return provider.SendResult{}, err
	}
	to, err := recipient(msg.ChatID)
	if err != nil {
		return provider.SendResult{}, err
	}
	body, err := s.message(ctx, to, msg)
	if err != nil {
		return provider.SendResult{}, s.failed(err)
	}
	var out struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := s.post(ctx, body, &out); err != nil {
		return provider.SendResult{}, s.failed(err)
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return provider.SendResult{}, &provider.SendError{Code: CodeServerError, Retryable: true,
			Err: fmt.Errorf("%w: no messages[0].id in the answer to a send", ErrBadResponse)}
	}
	return provider.SendResult{ProviderID: out.Messages[0].ID, Timestamp: s.f.now()}, nil
}

// MarkMessageRead marks an inbound message as read, as the phone does when the chat is
// opened: the sender sees blue ticks, and WhatsApp marks the earlier messages of the
// chat read too. providerID is the message's Inbound.ProviderID (its wamid). The call
// goes through the throughput limit like a send. (provider.Chats' MarkRead, chats.go,
// marks messages of a chat by their ids.)
//
// Errors as for Send.
func (s *Provider) MarkMessageRead(ctx context.Context, providerID string) error {
	return s.readReceipt(ctx, providerID, false)
}

// readReceipt POSTs the read receipt of providerID, with the typing indicator when
// typing is set (Meta shows "typing..." to the sender for up to 25 seconds, or until
// the session replies).
func (s *Provider) readReceipt(ctx context.Context, providerID string, typing bool) error {
	if err := s.sendable(); err != nil {
		return err
	}
	if providerID == "" {
		return &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: mark as read without a message id", ErrInvalidMessage)}
	}
	rr := readReceipt{MessagingProduct: "whatsapp", Status: "read", MessageID: providerID}
	if typing {
		rr.TypingIndicator = &typingIndicator{Type: "text"}
	}
	body, err := json.Marshal(rr)
	if err != nil {
		return err
	}
	var out struct {
		Success bool `json:"success"`
	}
	if err := s.post(ctx, body, &out); err != nil {
		return s.failed(err)
	}
	if !out.Success {
		return &provider.SendError{Code: CodeServerError, Retryable: true,
			Err: fmt.Errorf("%w: success is not true in the answer to mark as read", ErrBadResponse)}
	}
	return nil
}

// post waits for the throughput limit, then POSTs body to /messages.
func (s *Provider) post(ctx context.Context, body []byte, out any) error {
	if err := s.limiter.Wait(ctx); err != nil {
		code := CodeThrottled
		if errors.Is(err, context.Canceled) {
			code = CodeCanceled
		}
		return &provider.SendError{Code: code, Retryable: true,
			Err: fmt.Errorf("cloudapi %s/%s: throughput limit of %d/s: %w", s.tenant, s.name, s.cfg.Throughput, err)}
	}
	return s.f.graph.call(ctx, request{method: "POST", url: s.base + "/messages", token: s.cfg.AccessToken,
		contentType: "application/json", body: body}, out)
}

// failed reports a fatal send error on the session (FAILED) and returns it.
func (s *Provider) failed(err error) error {
	if provider.Fatal(err) {
		s.fail(nil, err)
	}
	return err
}

// recipient is the "to" of a message: the digits of a user chat. Groups, channels,
// broadcast lists and status are chats the Cloud API has no send for (ErrUnsupported);
// a LID or an empty id is a recipient it cannot address (ErrInvalidRecipient).
func recipient(c chatid.ID) (string, error) {
	switch c.Server {
	case chatid.Group, chatid.Newsletter, chatid.Broadcast:
		return "", &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf(
			"cloudapi: %q: the Cloud API does not send to groups, channels or broadcasts: %w", c.String(), provider.ErrUnsupported)}
	}
	if c.Server != chatid.User || c.Local == "" {
		return "", &provider.SendError{Code: CodeInvalidRecipient, Err: fmt.Errorf(
			"cloudapi: %q: the Cloud API sends to users (phone@c.us) only: %w", c.String(), provider.ErrInvalidRecipient)}
	}
	return c.Local, nil
}

// The request bodies, field for field as Meta documents them.
type (
	outMessage struct {
		MessagingProduct string       `json:"messaging_product"`
		RecipientType    string       `json:"recipient_type"`
		To               string       `json:"to"`
		Type             string       `json:"type"`
		Context          *outContext  `json:"context,omitempty"`
		Text             *outText     `json:"text,omitempty"`
		Image            *outMedia    `json:"image,omitempty"`
		Video            *outMedia    `json:"video,omitempty"`
		Audio            *outMedia    `json:"audio,omitempty"`
		Document         *outMedia    `json:"document,omitempty"`
		Sticker          *outMedia    `json:"sticker,omitempty"`
		Location         *outLocation `json:"location,omitempty"`
		Contacts         []outContact `json:"contacts,omitempty"`
		Reaction         *outReaction `json:"reaction,omitempty"`
		Template         *outTemplate `json:"template,omitempty"`
	}
	outContext struct {
		MessageID string `json:"message_id"`
	}
	outText struct {
		PreviewURL bool   `json:"preview_url"`
		Body       string `json:"body"`
	}
	outMedia struct {
		ID       string `json:"id,omitempty"`
		Link     string `json:"link,omitempty"`
		Caption  string `json:"caption,omitempty"`
		Filename string `json:"filename,omitempty"`
	}
	outLocation struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name,omitempty"`
		Address   string  `json:"address,omitempty"`
	}
	outContact struct {
		Name   outName    `json:"name"`
		Org    *outOrg    `json:"org,omitempty"`
		Phones []outPhone `json:"phones,omitempty"`
	}
	outName struct {
		FormattedName string `json:"formatted_name"`
		FirstName     string `json:"first_name"`
	}
	outOrg struct {
		Company string `json:"company"`
	}
	outPhone struct {
		Phone string `json:"phone"`
		Type  string `json:"type,omitempty"`
		WaID  string `json:"wa_id,omitempty"`
	}
	outReaction struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	}
	outTemplate struct {
		Name       string          `json:"name"`
		Language   outLanguage     `json:"language"`
		Components json.RawMessage `json:"components,omitempty"`
	}
	outLanguage struct {
		Code string `json:"code"`
	}
	readReceipt struct {
		MessagingProduct string           `json:"messaging_product"`
		Status           string           `json:"status"`
		MessageID        string           `json:"message_id"`
		TypingIndicator  *typingIndicator `json:"typing_indicator,omitempty"`
	}
	typingIndicator struct {
		Type string `json:"type"`
	}
)

// message builds the JSON body of msg, uploading its media first when it carries Data.
func (s *Provider) message(ctx context.Context, to string, msg provider.Outbound) ([]byte, error) {
	m := outMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to}
	if msg.ReplyTo != "" && msg.Kind != provider.KindReaction {
		m.Context = &outContext{MessageID: msg.ReplyTo}
	}
	invalid := func(what string) error {
		return &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: %s message without %s", ErrInvalidMessage, msg.Kind, what)}
	}
	switch msg.Kind {
	case provider.KindText:
		if msg.Text == "" {
			return nil, invalid("text")
		}
		m.Type, m.Text = "text", &outText{Body: msg.Text, PreviewURL: !msg.NoPreview && (msg.Preview != nil || hasLink(msg.Text))}
	case provider.KindImage, provider.KindVideo, provider.KindVoice, provider.KindFile, provider.KindSticker:
		if msg.Media == nil || (msg.Media.URL == "") == (len(msg.Media.Data) == 0) {
			return nil, invalid("media with a url or data")
		}
		media, err := s.mediaObject(ctx, msg)
		if err != nil {
			return nil, err
		}
		switch msg.Kind {
		case provider.KindImage:
			m.Type, m.Image = "image", media
		case provider.KindVideo:
			m.Type, m.Video = "video", media
		case provider.KindVoice:
			media.Caption = ""
			m.Type, m.Audio = "audio", media
		case provider.KindFile:
			media.Filename = msg.Media.Filename
			m.Type, m.Document = "document", media
		case provider.KindSticker:
			media.Caption = ""
			m.Type, m.Sticker = "sticker", media
		}
	case provider.KindLocation:
		l := msg.Location
		if l == nil {
			return nil, invalid("location")
		}
		m.Type, m.Location = "location", &outLocation{Latitude: l.Latitude, Longitude: l.Longitude, Name: l.Title, Address: l.Address}
	case provider.KindContact:
		if len(msg.Contacts) == 0 {
			return nil, invalid("contacts")
		}
		m.Type = "contacts"
		for _, c := range msg.Contacts {
			oc := contactCard(c)
			if oc.Name.FormattedName == "" {
				return nil, invalid("a contact name (fullName, or FN in the vCard)")
			}
			m.Contacts = append(m.Contacts, oc)
		}
	case provider.KindReaction:
		r := msg.Reaction
		if r == nil || r.MessageID == "" {
			return nil, invalid("a message id to react to")
		}
		m.Type, m.Reaction = "reaction", &outReaction{MessageID: r.MessageID, Emoji: r.Emoji}
	case provider.KindTemplate:
		t := msg.Template
		if t == nil || t.Name == "" || t.Language == "" {
			return nil, invalid("a template name and language")
		}
		comps := bytes.TrimSpace(t.Components)
		if len(comps) > 0 && (comps[0] != '[' || !json.Valid(comps)) {
			return nil, invalid("components as a JSON array")
		}
		m.Type, m.Template = "template", &outTemplate{Name: t.Name, Language: outLanguage{Code: t.Language}, Components: comps}
	default:
		return nil, &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("cloudapi: message kind %q: %w", msg.Kind, provider.ErrUnsupported)}
	}
	return json.Marshal(m)
}

// mediaObject is the media object of msg: a link, or the id of its uploaded Data.
func (s *Provider) mediaObject(ctx context.Context, msg provider.Outbound) (*outMedia, error) {
	om := &outMedia{Caption: msg.Text}
	if msg.Media.URL != "" {
		om.Link = msg.Media.URL
		return om, nil
	}
	id, err := s.upload(ctx, *msg.Media, msg.Kind)
	if err != nil {
		return nil, err
	}
	om.ID = id
	return om, nil
}

// upload sends a file to POST /<version>/<phone number id>/media as Meta documents it:
// multipart fields messaging_product=whatsapp, type=<mime type>, and file. It returns
// the media id, valid for 30 days, to send by. Uploads do not count against the
// throughput limit.
func (s *Provider) upload(ctx context.Context, m provider.Media, kind provider.Kind) (string, error) {
	mimetype := m.Mimetype
	if mimetype == "" {
		mimetype = "application/octet-stream"
	}
	filename := m.Filename
	if filename == "" {
		filename = string(kind)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.WriteField("messaging_product", "whatsapp"); err != nil {
		return "", err
	}
	if err := w.WriteField("type", mimetype); err != nil {
		return "", err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, strings.Map(safeFilename, filename)))
	h.Set("Content-Type", mimetype)
	part, err := w.CreatePart(h)
	if err != nil {
		return "", err
	}
	if _, err := part.Write(m.Data); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	err = s.f.graph.call(ctx, request{method: "POST", url: s.base + "/media", token: s.cfg.AccessToken,
		contentType: w.FormDataContentType(), body: buf.Bytes()}, &out)
	if err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", &provider.SendError{Code: CodeServerError, Retryable: true,
			Err: fmt.Errorf("%w: no id in the answer to a media upload", ErrBadResponse)}
	}
	return out.ID, nil
}

// safeFilename drops what would break the Content-Disposition header.
func safeFilename(r rune) rune {
	if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
		return '_'
	}
	return r
}

// hasLink reports whether text holds an http(s) URL, to ask WhatsApp for a preview.
func hasLink(text string) bool {
	return linkpreview.FirstURL(text) != ""
}

// contactCard builds Meta's contact object from a provider.Contact: its fields, or
// those of its vCard (FN, ORG, TEL with waid) when VCard is set.
func contactCard(c provider.Contact) outContact {
	name, org, phone, waid := c.FullName, c.Organization, c.Phone, c.WhatsAppID
	if c.VCard != "" {
		v := parseVCard(c.VCard)
		if name == "" {
			name = v.fn
		}
		if org == "" {
			org = v.org
		}
		if phone == "" {
			phone, waid = v.tel, v.waid
		}
	}
	oc := outContact{Name: outName{FormattedName: name, FirstName: name}}
	if org != "" {
		oc.Org = &outOrg{Company: org}
	}
	if phone != "" || waid != "" {
		if phone == "" {
			phone = "+" + waid
		}
		oc.Phones = []outPhone{{Phone: phone, Type: "CELL", WaID: waid}}
	}
	return oc
}

// vcard is what the Cloud API's contact object takes from a vCard.
type vcard struct{ fn, org, tel, waid string }

// parseVCard reads FN, ORG and the first TEL (with its waid parameter) of a vCard,
// unfolding continuation lines. Unknown properties are ignored.
func parseVCard(s string) vcard {
	var v vcard
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n ", "")
	s = strings.ReplaceAll(s, "\n\t", "")
	for _, line := range strings.Split(s, "\n") {
		head, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		params := strings.Split(head, ";")
		name := strings.ToUpper(params[0])
		if i := strings.LastIndexByte(name, '.'); i >= 0 { // item1.TEL
			name = name[i+1:]
		}
		value = strings.TrimSpace(value)
		switch name {
		case "FN":
			v.fn = value
		case "ORG":
			v.org = strings.TrimRight(strings.ReplaceAll(value, ";", " "), " ")
		case "TEL":
			if v.tel != "" {
				continue
			}
			v.tel = value
			for _, p := range params[1:] {
				if k, val, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, "waid") {
					v.waid = val
				}
			}
		}
	}
	return v
}
