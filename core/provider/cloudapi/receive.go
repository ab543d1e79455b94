package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// The webhook payload, as Meta documents it for the "messages" field of a
// whatsapp_business_account subscription.
type (
	webhookPayload struct {
		Object string         `json:"object"`
		Entry  []webhookEntry `json:"entry"`
	}
	webhookEntry struct {
		ID      string          `json:"id"`
		Changes []webhookChange `json:"changes"`
	}
	webhookChange struct {
		Field string      `json:"field"`
		Value changeValue `json:"value"`
	}
	changeValue struct {
		MessagingProduct string `json:"messaging_product"`
		Metadata         struct {
			DisplayPhoneNumber string `json:"display_phone_number"`
			PhoneNumberID      string `json:"phone_number_id"`
		} `json:"metadata"`
		Messages []inMessage    `json:"messages"`
		Statuses []inStatus     `json:"statuses"`
		Errors   []webhookError `json:"errors"`
	}
	inMessage struct {
		From      string `json:"from"`
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
		Type      string `json:"type"`
		Text      *struct {
			Body string `json:"body"`
		} `json:"text"`
		Image    *inMedia `json:"image"`
		Video    *inMedia `json:"video"`
		Audio    *inMedia `json:"audio"`
		Document *inMedia `json:"document"`
		Sticker  *inMedia `json:"sticker"`
		Location *struct {
			Latitude  float64 `json:"latitude"`
			Longitude float64 `json:"longitude"`
			Name      string  `json:"name"`
			Address   string  `json:"address"`
		} `json:"location"`
		Contacts    []inContact `json:"contacts"`
		Interactive *struct {
			Type        string `json:"type"`
			ButtonReply *struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			} `json:"button_reply"`
			ListReply *struct {
				ID          string `json:"id"`
				Title       string `json:"title"`
				Description string `json:"description"`
			} `json:"list_reply"`
			NfmReply *struct {
				Name         string `json:"name"`
				Body         string `json:"body"`
				ResponseJSON string `json:"response_json"`
			} `json:"nfm_reply"`
		} `json:"interactive"`
		Button *struct {
			Text    string `json:"text"`
			Payload string `json:"payload"`
		} `json:"button"`
		Reaction *struct {
			MessageID string `json:"message_id"`
			Emoji     string `json:"emoji"`
		} `json:"reaction"`
		System *struct {
			Body string `json:"body"`
		} `json:"system"`
		Errors []webhookError `json:"errors"`
	}
	inMedia struct {
		ID       string `json:"id"`
		MimeType string `json:"mime_type"`
		SHA256   string `json:"sha256"`
		Caption  string `json:"caption"`
		Filename string `json:"filename"`
	}
	inContact struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
		} `json:"name"`
		Org struct {
			Company string `json:"company"`
		} `json:"org"`
		Phones []struct {
			Phone string `json:"phone"`
			WaID  string `json:"wa_id"`
		} `json:"phones"`
	}
	inStatus struct {
		ID          string         `json:"id"`
		Status      string         `json:"status"`
		Timestamp   string         `json:"timestamp"`
		RecipientID string         `json:"recipient_id"`
		Errors      []webhookError `json:"errors"`
	}
	webhookError struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	}
)

// HandleWebhook implements provider.WebhookReceiver: it reports what a verified
// delivery of Meta's "messages" webhook field holds for this session's number (changes
// for other phone number ids, and other fields, are ignored):
//
//   - each message as a provider.MessageEvent. Types map to kinds: text, image, video,
//     audio (KindVoice), document (KindFile), sticker (KindSticker, image/webp), location,
//     contacts, reaction (an absent emoji is a removed reaction); the replies of
//     interactive buttons and lists, template quick-reply buttons and flows
//     (KindText, the title or text the contact tapped); anything else (unsupported,
//     order, system, ...) as KindUnsupported with Text saying what it was. Media comes
//     with its mime type, caption and file name and no URL: DownloadMedia fetches it.
//   - each status as a provider.AckEvent keyed by the wamid Send returned: delivered,
//     read, played, and failed with Meta's errors as text ("<code name>: (#<code>)
//     <title>: <details>"). "sent" is not reported: Send's return already was the sent
//     ack.
//
// It also records each sender's message time as its last inbound time (InboundStore),
// before the events are reported; a failure to record is logged, not returned, so that
// no message is lost over it.
//
// Errors: provider.ErrNotConnected (wrapped) when the session is stopped, logged out or
// closed; ErrBadPayload when the body is not JSON of Meta's shape.
func (s *Provider) HandleWebhook(ctx context.Context, body []byte) error {
	if err := s.receiving(); err != nil {
		return err
	}
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return s.errorf("webhook", fmt.Errorf("%w: %v", ErrBadPayload, err))
	}
	var evs []provider.Event
	last := make(map[string]time.Time)
	for _, e := range p.Entry {
		for _, ch := range e.Changes {
			v := &ch.Value
			if ch.Field != "messages" || v.Metadata.PhoneNumberID != s.cfg.PhoneNumberID {
				continue
			}
			for i := range v.Messages {
				in, ok := s.inbound(&v.Messages[i])
				if !ok {
					continue
				}
				evs = append(evs, provider.MessageEvent{Message: in})
				if in.Kind != provider.KindReaction {
					s.lastIn.saw(in.ChatID, in.ProviderID, in.Timestamp)
				}
				if k := in.ChatID.String(); in.Timestamp.After(last[k]) {
					last[k] = in.Timestamp
				}
			}
			for _, st := range v.Statuses {
				if ack, ok := s.ack(st); ok {
					evs = append(evs, ack)
				}
			}
			for _, we := range v.Errors {
				s.log.Warn("cloudapi webhook reports an error", "code", we.Code, "title", we.Title, "details", we.ErrorData.Details)
			}
		}
	}
	if len(last) > 0 {
		if err := s.f.inbound.RecordInbound(ctx, s.tenant, s.name, last); err != nil {
			s.log.Error("recording last inbound times", "err", err)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.errorf("webhook", fmt.Errorf("%w (%w)", provider.ErrNotConnected, ErrClosed))
	}
	s.events.push(evs...)
	s.mu.Unlock()
	s.events.drain()
	return nil
}

// receiving returns nil when the session takes webhook deliveries: started (connecting,
// working, or failed by its account: inbound messages still arrive), not closed.
func (s *Provider) receiving() error {
	s.mu.Lock()
	st, closed := s.state, s.closed
	s.mu.Unlock()
	if closed || st == stateStopped || st == stateLoggedOut {
		return s.errorf("webhook", provider.ErrNotConnected)
	}
	return nil
}

// inbound maps one webhook message; ok is false for one without a usable sender.
func (s *Provider) inbound(m *inMessage) (provider.Inbound, bool) {
	from, err := chatid.Parse(m.From)
	if err != nil || from.Server != chatid.User || m.ID == "" {
		s.log.Warn("cloudapi webhook message skipped: no usable sender or id", "from", m.From, "id", m.ID)
		return provider.Inbound{}, false
	}
	in := provider.Inbound{ProviderID: m.ID, ChatID: from, From: from, Timestamp: s.timestamp(m.Timestamp)}
	media := func(kind provider.Kind, md *inMedia, mimetype string) {
		in.Kind = kind
		if md == nil {
			in.Kind, in.Text = provider.KindUnsupported, m.Type+" message without its "+m.Type+" object"
			return
		}
		if mimetype == "" {
			mimetype = md.MimeType
		}
		in.Text = md.Caption
		in.Media = &provider.Media{Mimetype: mimetype, Filename: md.Filename}
		if md.ID != "" {
			s.media.remember(m.ID, md.ID)
		}
	}
	switch m.Type {
	case "text":
		in.Kind = provider.KindText
		if m.Text != nil {
			in.Text = m.Text.Body
		}
	case "image":
		media(provider.KindImage, m.Image, "")
	case "video":
		media(provider.KindVideo, m.Video, "")
	case "audio":
		media(provider.KindVoice, m.Audio, "")
	case "document":
		media(provider.KindFile, m.Document, "")
	case "sticker":
		media(provider.KindSticker, m.Sticker, "image/webp")
	case "location":
		if l := m.Location; l != nil {
			in.Kind = provider.KindLocation
			in.Location = &provider.Location{Latitude: l.Latitude, Longitude: l.Longitude, Title: l.Name, Address: l.Address}
		}
	case "contacts":
		in.Kind = provider.KindContact
		for _, c := range m.Contacts {
			pc := provider.Contact{FullName: c.Name.FormattedName, Organization: c.Org.Company}
			if len(c.Phones) > 0 {
				pc.Phone, pc.WhatsAppID = c.Phones[0].Phone, c.Phones[0].WaID
			}
			in.Contacts = append(in.Contacts, pc)
		}
	case "reaction":
		if r := m.Reaction; r != nil {
			in.Kind = provider.KindReaction
			in.Reaction = &provider.Reaction{MessageID: r.MessageID, Emoji: r.Emoji}
		}
	case "interactive":
		if x := m.Interactive; x != nil {
			switch {
			case x.ButtonReply != nil:
				in.Kind, in.Text = provider.KindText, x.ButtonReply.Title
			case x.ListReply != nil:
				in.Kind, in.Text = provider.KindText, x.ListReply.Title
			case x.NfmReply != nil:
				in.Kind, in.Text = provider.KindText, x.NfmReply.Body
				if in.Text == "" {
					in.Text = x.NfmReply.ResponseJSON
				}
			}
		}
	case "button":
		if b := m.Button; b != nil {
			in.Kind, in.Text = provider.KindText, b.Text
		}
	}
	if in.Kind == "" {
		in.Kind, in.Text = provider.KindUnsupported, unsupportedText(m)
	}
	return in, true
}

// unsupportedText says what a message the gateway cannot represent was.
func unsupportedText(m *inMessage) string {
	text := fmt.Sprintf("unsupported message type %q", m.Type)
	if m.System != nil && m.System.Body != "" {
		text += ": " + m.System.Body
	}
	if len(m.Errors) > 0 {
		text += ": " + errorsText(m.Errors)
	}
	return text
}

// ack maps one status; ok is false for statuses that are not reported.
func (s *Provider) ack(st inStatus) (provider.AckEvent, bool) {
	ev := provider.AckEvent{ProviderID: st.ID}
	if c, err := chatid.Parse(st.RecipientID); err == nil {
		ev.ChatID = c
	}
	switch st.Status {
	case "delivered":
		ev.Ack = provider.AckDelivered
	case "read":
		ev.Ack = provider.AckRead
	case "played":
		ev.Ack = provider.AckPlayed
	case "failed":
		ev.Ack, ev.Error = provider.AckFailed, errorsText(st.Errors)
		if ev.Error == "" {
			ev.Error = "failed: Meta gave no reason"
		}
	default: // "sent" (Send's return was the sent ack), "deleted", future ones
		return ev, false
	}
	return ev, st.ID != ""
}

// errorsText formats webhook errors: "<code name>: (#<code>) <title>: <details>", "; "
// between them.
func errorsText(errs []webhookError) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		t := fmt.Sprintf("%s: (#%d) %s", codeName(e.Code), e.Code, e.Title)
		if e.Title == "" {
			t += e.Message
		}
		if d := e.ErrorData.Details; d != "" && d != e.Title {
			t += ": " + d
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, "; ")
}

// timestamp parses a webhook timestamp (Unix seconds as a string); now when absent.
func (s *Provider) timestamp(v string) time.Time {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0)
	}
	return s.f.now()
}

// PhoneNumberIDs lists the distinct phone number ids a webhook body has "messages"
// changes for, in order of appearance. Meta delivers the events of every number of an
// app to the app's one callback URL: the API uses this to hand a delivery to the
// session of each number. A body that is not JSON of Meta's shape has none.
func PhoneNumberIDs(body []byte) []string {
	var p struct {
		Entry []struct {
			Changes []struct {
				Field string `json:"field"`
				Value struct {
					Metadata struct {
						PhoneNumberID string `json:"phone_number_id"`
					} `json:"metadata"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if json.Unmarshal(body, &p) != nil {
		return nil
	}
	var ids []string
	for _, e := range p.Entry {
		for _, ch := range e.Changes {
			id := ch.Value.Metadata.PhoneNumberID
			if ch.Field == "messages" && id != "" && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// rememberedMedia is how many recent inbound media messages per session DownloadMedia
// can fetch (their Meta media ids are kept in memory only).
const rememberedMedia = 1000

// mediaIndex maps the wamid of recent inbound media messages to their media id, the
// oldest forgotten first.
type mediaIndex struct {
	max   int
	mu    sync.Mutex
	ids   map[string]string
	order []string
}

func (x *mediaIndex) remember(wamid, mediaID string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ids == nil {
		x.ids = make(map[string]string)
	}
	if _, ok := x.ids[wamid]; ok {
		x.ids[wamid] = mediaID
		return
	}
	if len(x.order) >= x.max {
		delete(x.ids, x.order[0])
		x.order = x.order[1:]
	}
	x.ids[wamid] = mediaID
	x.order = append(x.order, wamid)
}

func (x *mediaIndex) lookup(wamid string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := x.ids[wamid]
	return id, ok
}

var _ provider.WebhookReceiver = (*Provider)(nil)
