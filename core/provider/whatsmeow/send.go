package whatsmeow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Send implements provider.Provider. Each kind becomes the message WhatsApp Web sends:
//
//	text       Conversation (ExtendedTextMessage when it has a ContextInfo to carry)
//	image      ImageMessage, with the caption
//	video      VideoMessage, with the caption
//	voice      AudioMessage with PTT set (a voice note: send audio/ogg; codecs=opus)
//	file       DocumentMessage with file name (wrapped in DocumentWithCaptionMessage
//	           when there is a caption)
//	sticker    StickerMessage, image/webp (uploaded as an image); IsAnimated when the
//	           WebP says so (the animation flag of its VP8X chunk); not a WebP: refused
//	location   LocationMessage
//	contact    ContactMessage, or ContactsArrayMessage for several cards
//	reaction   ReactionMessage on the message Reaction.MessageID
//	poll       PollCreationMessage with a fresh message secret; the poll is remembered
//	           so that votes on it are reported (polls.go)
//
// The ContextInfo of the content (text, media, sticker, location, contacts, poll)
// carries the quote of ReplyTo, the Mentions, and for a forward (Forwarded)
// IsForwarded with ForwardingScore 1: the recipient sees "Forwarded".
//
// A status update is a send to chatid.StatusBroadcast (types.StatusBroadcastJID):
//
//	text       ExtendedTextMessage: white text (TextArgb) on Status.BackgroundColor
//	           (BackgroundArgb 0xFFRRGGBB; WAHA's #38b42f when unset), Font Status.Font
//	image, video, voice  as above (a voice status takes Status.BackgroundColor as
//	           the AudioMessage's BackgroundArgb)
//	revoke     BuildRevoke(status@broadcast, own JID, Target): deletes the status
//
// other kinds to status@broadcast are refused as unsupported. Status.Audience is
// ignored: whatsmeow sends every status to the audience of the account's status
// privacy (StatusPrivacy: all contacts, all but some, or only some), as the phone
// does; WhatsApp has no per-status list. A status is not recorded in the chat book.
//
// A send to a channel (…@newsletter) goes to its newsletter JID; whatsmeow sends it
// unencrypted itself, and its media are uploaded unencrypted (UploadNewsletter, the
// media handle in the request). Only the channel's owner and admins may post.
// Reactions to channel posts are refused as unsupported (WhatsApp takes them by the
// post's server id, through another call).
//
// Media are uploaded first (fetched from Media.URL when given, at most max_media_bytes).
// The WhatsApp message id is derived from Outbound.ID, so that a retry of the same
// message after a lost answer sends the same id, which recipients deduplicate; Send
// returns it as ProviderID, and acks refer to it.
//
// Errors: provider.ErrNotConnected (wrapped) unless running and logged in;
// *provider.SendError otherwise, with the Code constants of this package and whether a
// retry may succeed: "banned" and "logged_out" (not on this number), "invalid_recipient",
// "invalid_message", "unsupported", "media_too_large", "media_unavailable" (not
// retryable); "timeout", "canceled", "not_connected", "rate_limited", "media_fetch_failed",
// "upload_failed", "send_failed" (retryable); "server_error" (not retryable).
func (p *Provider) Send(ctx context.Context, msg provider.Outbound) (provider.SendResult, error) {
	r, err := p.sendable()
	if err != nil {
		return provider.SendResult{}, err
	}
	to, err := ToJID(msg.ChatID)
	if err != nil {
		return provider.SendResult{}, &provider.SendError{Code: CodeInvalidRecipient,
			Err: fmt.Errorf("chat %q: %w (%w)", msg.ChatID, provider.ErrInvalidRecipient, err)}
	}
	id := messageID(p.spec, msg.ID)
	extra := wm.SendRequestExtra{ID: id}
	m, err := p.build(ctx, r, to, msg, &extra)
	if err != nil {
		return provider.SendResult{}, err
	}
	resp, err := bounded(ctx, func() (wm.SendResponse, error) {
		return r.client.SendMessage(ctx, to, m, extra)
	})
	if err != nil {
		err = fmt.Errorf("whatsmeow %s/%s: sending to %s: %w", p.spec.Tenant, p.spec.Session, to, err)
		if serverErrorCode(err) == serverErrorReachout {
			r.reachout()
			return provider.SendResult{}, &provider.SendError{Code: CodeReachout, Retryable: true, Err: err}
		}
		return provider.SendResult{}, sendError(ctx, err)
	}
	res := provider.SendResult{ProviderID: resp.ID, Timestamp: resp.Timestamp}
	if res.ProviderID == "" {
		res.ProviderID = id
	}
	if msg.Kind == provider.KindPoll {
		r.rememberSent(res.ProviderID, msg.ChatID, msg.Poll)
	}
	if res.Timestamp.IsZero() {
		res.Timestamp = time.Now()
	}
	if msg.ChatID != chatid.StatusBroadcast {
		r.noteSent(msg.ChatID, to, msg.Kind, res.ProviderID, res.Timestamp)
	}
	return res, nil
}

// sendable returns the run if the session can send, else Send's error.
func (p *Provider) sendable() (*run, error) {
	p.mu.Lock()
	r, closed := p.run, p.closed
	var banned, loggedOut bool
	if r != nil {
		banned, loggedOut = r.banned, r.loggedOut
	}
	p.mu.Unlock()
	switch {
	case closed:
		return nil, p.errorf("sending", fmt.Errorf("%w (%w)", provider.ErrNotConnected, ErrClosed))
	case r == nil:
		return nil, p.errorf("sending", provider.ErrNotConnected)
	case loggedOut:
		return nil, &provider.SendError{Code: CodeLoggedOut, Err: p.errorf("sending", provider.ErrLoggedOut)}
	case banned:
		return nil, &provider.SendError{Code: CodeBanned, Err: p.errorf("sending", provider.ErrBanned)}
	case !r.client.IsLoggedIn():
		return nil, &provider.SendError{Code: CodeNotConnected, Retryable: true, Err: p.errorf("sending", provider.ErrNotConnected)}
	}
	return r, nil
}

// build returns the waE2E message of msg, uploading its media; a channel's media
// handle goes into extra.
func (p *Provider) build(ctx context.Context, r *run, to types.JID, msg provider.Outbound, extra *wm.SendRequestExtra) (*waE2E.Message, error) {
	invalid := func(what string) error {
		return &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: %s message without %s", ErrInvalidMessage, msg.Kind, what)}
	}
	quote := contextInfo(msg)
	status := msg.ChatID == chatid.StatusBroadcast
	if status {
		switch msg.Kind {
		case provider.KindText:
			return statusText(msg, quote)
		case provider.KindRevoke:
			if msg.Target == "" {
				return nil, invalid("target")
			}
			mc, err := messages(r)
			if err != nil {
				return nil, err
			}
			p.mu.Lock()
			me := r.me
			p.mu.Unlock()
			return mc.BuildRevoke(types.StatusBroadcastJID, me, msg.Target), nil
		case provider.KindImage, provider.KindVideo, provider.KindVoice:
			// The media sends below; a voice status takes its background after.
		default:
			return nil, &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("whatsmeow: a status update of kind %q: %w", msg.Kind, provider.ErrUnsupported)}
		}
	}
	switch msg.Kind {
	case provider.KindText:
		return p.textMessage(ctx, r, msg, quote), nil

	case provider.KindEdit:
		if msg.Target == "" || msg.Text == "" {
			return nil, invalid("target and text")
		}
		mc, err := messages(r)
		if err != nil {
			return nil, err
		}
		return mc.BuildEdit(to, msg.Target, &waE2E.Message{Conversation: proto.String(msg.Text)}), nil

	case provider.KindRevoke:
		if msg.Target == "" {
			return nil, invalid("target")
		}
		mc, err := messages(r)
		if err != nil {
			return nil, err
		}
		return mc.BuildRevoke(to, types.EmptyJID, msg.Target), nil

	case provider.KindPoll:
		pl := msg.Poll
		if pl == nil || len(pl.Options) < 2 {
			return nil, invalid("poll with two options or more")
		}
		selectable := 1
		if pl.MultipleAnswers {
			selectable = 0 // WhatsApp's "any number"
		}
		mc, err := messages(r)
		if err != nil {
			return nil, err
		}
		m := mc.BuildPollCreation(pl.Name, pl.Options, selectable)
		if quote != nil {
			for _, pc := range []*waE2E.PollCreationMessage{m.PollCreationMessage, m.PollCreationMessageV2, m.PollCreationMessageV3} {
				if pc != nil {
					pc.ContextInfo = quote
				}
			}
		}
		return m, nil

	case provider.KindPollVote:
		return p.buildVote(ctx, r, to, msg)

	case provider.KindEvent:
		return buildEvent(msg, quote)

	case provider.KindImage, provider.KindVideo, provider.KindVoice, provider.KindFile, provider.KindSticker:
		if msg.Media == nil || (msg.Media.URL == "") == (len(msg.Media.Data) == 0) {
			return nil, invalid("media with a url or data")
		}
		data, mimetype, err := p.mediaBytes(ctx, msg.Media)
		if err != nil {
			return nil, err
		}
		if msg.Kind == provider.KindSticker {
			if t := http.DetectContentType(data); t != "image/webp" {
				return nil, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: a sticker is a WebP image, not %s", ErrInvalidMessage, t)}
			}
			mimetype = "image/webp"
		}
		m, err := p.buildMedia(ctx, r, to, msg, data, mimetype, quote, extra)
		if err == nil && status && msg.Kind == provider.KindVoice && msg.Status != nil && msg.Status.BackgroundColor != "" {
			argb, err := statusColor(msg.Status.BackgroundColor)
			if err != nil {
				return nil, err
			}
			m.AudioMessage.BackgroundArgb = proto.Uint32(argb)
		}
		return m, err

	case provider.KindLocation:
		l := msg.Location
		if l == nil {
			return nil, invalid("location")
		}
		lm := &waE2E.LocationMessage{DegreesLatitude: proto.Float64(l.Latitude), DegreesLongitude: proto.Float64(l.Longitude), ContextInfo: quote}
		if l.Title != "" {
			lm.Name = proto.String(l.Title)
		}
		if l.Address != "" {
			lm.Address = proto.String(l.Address)
		}
		return &waE2E.Message{LocationMessage: lm}, nil

	case provider.KindContact:
		if len(msg.Contacts) == 0 {
			return nil, invalid("contacts")
		}
		cards := make([]*waE2E.ContactMessage, len(msg.Contacts))
		for i, c := range msg.Contacts {
			cards[i] = &waE2E.ContactMessage{DisplayName: proto.String(contactName(c)), Vcard: proto.String(VCard(c))}
		}
		if len(cards) == 1 {
			cards[0].ContextInfo = quote
			return &waE2E.Message{ContactMessage: cards[0]}, nil
		}
		return &waE2E.Message{ContactsArrayMessage: &waE2E.ContactsArrayMessage{
			DisplayName: proto.String(fmt.Sprintf("%d contacts", len(cards))), Contacts: cards, ContextInfo: quote}}, nil

	case provider.KindReaction:
		re := msg.Reaction
		if re == nil || re.MessageID == "" {
			return nil, invalid("reaction with a message id")
		}
		if to.Server == types.NewsletterServer {
			// WhatsApp takes those by the post's server id (NewsletterSendReaction).
			return nil, &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("whatsmeow: a reaction to a channel post: %w", provider.ErrUnsupported)}
		}
		key := &waCommon.MessageKey{RemoteJID: proto.String(to.String()), FromMe: proto.Bool(re.FromMe), ID: proto.String(re.MessageID)}
		if to.Server == types.GroupServer && !re.FromMe && !re.Sender.IsZero() {
			if sender, err := ToJID(re.Sender); err == nil {
				key.Participant = proto.String(sender.String())
			}
		}
		return &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{
			Key: key, Text: proto.String(re.Emoji), SenderTimestampMS: proto.Int64(time.Now().UnixMilli())}}, nil
	}
	return nil, &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("whatsmeow: message kind %q: %w", msg.Kind, provider.ErrUnsupported)}
}

// messageClient is the part of *whatsmeow.Client that builds edits, revokes, polls
// and votes. A Client without it (a test fake) refuses those kinds as unsupported.
type messageClient interface {
	BuildEdit(chat types.JID, id types.MessageID, newContent *waE2E.Message) *waE2E.Message
	BuildRevoke(chat, sender types.JID, id types.MessageID) *waE2E.Message
	BuildPollCreation(name string, optionNames []string, selectableOptionCount int) *waE2E.Message
	BuildPollVote(ctx context.Context, pollInfo *types.MessageInfo, optionNames []string) (*waE2E.Message, error)
}

var _ messageClient = (*wm.Client)(nil)

func messages(r *run) (messageClient, error) {
	mc, ok := r.client.(messageClient)
	if !ok {
		return nil, &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("whatsmeow: this client builds no edits, revokes or polls: %w", provider.ErrUnsupported)}
	}
	return mc, nil
}

// buildVote encrypts the session's vote on a poll of chat to. whatsmeow needs the
// poll's author: the session itself (PollFromMe), the other number of a user chat, or
// the poll's sender in a group (PollSender, from WAHA's serialized id).
func (p *Provider) buildVote(ctx context.Context, r *run, to types.JID, msg provider.Outbound) (*waE2E.Message, error) {
	v := msg.Vote
	if v == nil || v.PollID == "" {
		return nil, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: vote without a poll id", ErrInvalidMessage)}
	}
	info := &types.MessageInfo{ID: v.PollID, MessageSource: types.MessageSource{Chat: to, IsFromMe: v.PollFromMe, IsGroup: to.Server == types.GroupServer}}
	switch {
	case v.PollFromMe:
		info.Sender = r.me
	case to.Server != types.GroupServer:
		info.Sender = to
	case !v.PollSender.IsZero():
		sender, err := ToJID(v.PollSender)
		if err != nil {
			return nil, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: poll sender: %w", ErrInvalidMessage, err)}
		}
		info.Sender = sender
	default:
		return nil, &provider.SendError{Code: CodeInvalidMessage,
			Err: fmt.Errorf("%w: a vote in a group needs the poll's author: give pollMessageId in WAHA's serialized form (false_<group>_<id>_<author>)", ErrInvalidMessage)}
	}
	mc, err := messages(r)
	if err != nil {
		return nil, err
	}
	m, err := mc.BuildPollVote(ctx, info, v.Options)
	if err != nil {
		return nil, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: voting on poll %s: %w", ErrInvalidMessage, v.PollID, err)}
	}
	return m, nil
}

// newsletterUploader is the part of *whatsmeow.Client that uploads a channel's media,
// which is not encrypted. A Client without it (a test fake) sends no media to channels.
type newsletterUploader interface {
	UploadNewsletter(ctx context.Context, data []byte, appInfo wm.MediaType) (wm.UploadResponse, error)
}

var _ newsletterUploader = (*wm.Client)(nil)

// buildMedia uploads data and returns the media message of msg's kind. To a channel
// (to a newsletter JID) the file is uploaded in the clear and its handle set in extra,
// as whatsmeow's UploadNewsletter says; the message then has no media key.
func (p *Provider) buildMedia(ctx context.Context, r *run, to types.JID, msg provider.Outbound, data []byte, mimetype string, quote *waE2E.ContextInfo, extra *wm.SendRequestExtra) (*waE2E.Message, error) {
	kind := map[provider.Kind]wm.MediaType{
		provider.KindImage: wm.MediaImage, provider.KindVideo: wm.MediaVideo,
		provider.KindVoice: wm.MediaAudio, provider.KindFile: wm.MediaDocument,
		provider.KindSticker: wm.MediaImage,
	}[msg.Kind]
	put := r.client.Upload
	if to.Server == types.NewsletterServer {
		nu, ok := r.client.(newsletterUploader)
		if !ok {
			return nil, &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("whatsmeow: this client uploads no channel media: %w", provider.ErrUnsupported)}
		}
		put = nu.UploadNewsletter
	}
	up, err := bounded(ctx, func() (wm.UploadResponse, error) { return put(ctx, data, kind) })
	if err == nil {
		extra.MediaHandle = up.Handle
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxSendError(ctx, fmt.Errorf("uploading media: %w", err))
		}
		return nil, &provider.SendError{Code: CodeUpload, Retryable: true, Err: fmt.Errorf("uploading media: %w", err)}
	}
	caption := func() *string {
		if msg.Text == "" {
			return nil
		}
		return proto.String(msg.Text)
	}
	switch msg.Kind {
	case provider.KindImage:
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			Caption: caption(), Mimetype: proto.String(mimetype), ContextInfo: quote,
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}, nil
	case provider.KindVideo:
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			Caption: caption(), Mimetype: proto.String(mimetype), ContextInfo: quote,
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}, nil
	case provider.KindSticker:
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			Mimetype: proto.String("image/webp"), IsAnimated: proto.Bool(animatedWebP(data)), ContextInfo: quote,
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}, nil
	case provider.KindVoice:
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			PTT: proto.Bool(true), Mimetype: proto.String(mimetype), ContextInfo: quote,
			URL: proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
		}}, nil
	}
	name := msg.Media.Filename
	if name == "" {
		name = "file"
	}
	doc := &waE2E.DocumentMessage{
		Caption: caption(), Mimetype: proto.String(mimetype), FileName: proto.String(name), Title: proto.String(name),
		ContextInfo: quote,
		URL:         proto.String(up.URL), DirectPath: proto.String(up.DirectPath), MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength),
	}
	if msg.Text != "" {
		return &waE2E.Message{DocumentWithCaptionMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{DocumentMessage: doc}}}, nil
	}
	return &waE2E.Message{DocumentMessage: doc}, nil
}

// contextInfo returns the ContextInfo that msg's content carries: the quote of
// ReplyTo, the users it mentions, the forward mark (IsForwarded, and ForwardingScore 1:
// forwarded once, as WhatsApp counts; "forwarded many times" starts at 5). Nil when
// msg has none of them.
func contextInfo(msg provider.Outbound) *waE2E.ContextInfo {
	var ci *waE2E.ContextInfo
	get := func() *waE2E.ContextInfo {
		if ci == nil {
			ci = &waE2E.ContextInfo{}
		}
		return ci
	}
	if msg.ReplyTo != "" {
		get().StanzaID = proto.String(msg.ReplyTo)
	}
	for _, m := range msg.Mentions {
		if jid, err := ToJID(m); err == nil {
			get().MentionedJID = append(get().MentionedJID, jid.String())
		}
	}
	if msg.Forwarded {
		get().IsForwarded = proto.Bool(true)
		get().ForwardingScore = proto.Uint32(1)
	}
	return ci
}

// Text statuses: white text on the background asked for, else on WAHA's default green.
const (
	statusTextArgb       = 0xFFFFFFFF
	statusBackgroundArgb = 0xFF38B42F
)

// statusText returns the ExtendedTextMessage of a text status: its text, its look
// (msg.Status: background and font) and the ContextInfo of its mentions or forward.
func statusText(msg provider.Outbound, ci *waE2E.ContextInfo) (*waE2E.Message, error) {
	bg, font := uint32(statusBackgroundArgb), 0
	if o := msg.Status; o != nil {
		if o.BackgroundColor != "" {
			argb, err := statusColor(o.BackgroundColor)
			if err != nil {
				return nil, err
			}
			bg = argb
		}
		font = o.Font
	}
	if font < 0 || font > provider.MaxStatusFont {
		return nil, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: status font %d, want 0 to %d", ErrInvalidMessage, font, provider.MaxStatusFont)}
	}
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String(msg.Text), TextArgb: proto.Uint32(statusTextArgb), BackgroundArgb: proto.Uint32(bg),
		Font: waE2E.ExtendedTextMessage_FontType(font).Enum(), ContextInfo: ci,
	}}, nil
}

// statusColor returns the opaque ARGB of a "#RRGGBB" colour (0xFFRRGGBB). Other
// forms are an invalid message.
func statusColor(s string) (uint32, error) {
	hexa, ok := strings.CutPrefix(s, "#")
	var rgb uint64
	var err error
	if ok && len(hexa) == 6 {
		rgb, err = strconv.ParseUint(hexa, 16, 32)
	}
	if !ok || len(hexa) != 6 || err != nil {
		return 0, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: status colour %q, want #RRGGBB", ErrInvalidMessage, s)}
	}
	return 0xFF000000 | uint32(rgb), nil
}

// animatedWebP reports whether a WebP file is animated: an extended file (VP8X chunk)
// with the animation flag.
func animatedWebP(b []byte) bool {
	return len(b) >= 21 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP" &&
		string(b[12:16]) == "VP8X" && b[20]&0x02 != 0
}

// contactName is the name shown on a card: FullName, else the vCard's FN.
func contactName(c provider.Contact) string {
	if c.FullName != "" {
		return c.FullName
	}
	for _, line := range strings.Split(c.VCard, "\n") {
		line = strings.TrimRight(line, "\r")
		if name, ok := strings.CutPrefix(line, "FN:"); ok {
			return name
		}
	}
	return ""
}

// VCard returns the vCard of a contact: VCard as given, else one built from FullName,
// Organization, Phone and WhatsAppID the way WAHA builds it (vCard 3.0, text values
// escaped as RFC 2426 says):
//
//	BEGIN:VCARD
//	VERSION:3.0
//	FN:Jane Doe
//	ORG:Acme;
//	TEL;type=CELL;type=VOICE;waid=15551234567:+1 555 123 4567
//	END:VCARD
func VCard(c provider.Contact) string {
	if c.VCard != "" {
		return c.VCard
	}
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\nVERSION:3.0\nFN:" + vcardEscape(c.FullName) + "\n")
	if c.Organization != "" {
		b.WriteString("ORG:" + vcardEscape(c.Organization) + ";\n")
	}
	if c.Phone != "" || c.WhatsAppID != "" {
		b.WriteString("TEL;type=CELL;type=VOICE")
		if c.WhatsAppID != "" {
			b.WriteString(";waid=" + c.WhatsAppID)
		}
		phone := c.Phone
		if phone == "" {
			phone = "+" + c.WhatsAppID
		}
		b.WriteString(":" + vcardEscape(phone) + "\n")
	}
	b.WriteString("END:VCARD")
	return b.String()
}

var vcardEscaper = strings.NewReplacer(`\`, `\\`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`, ",", `\,`, ";", `\;`)

func vcardEscape(s string) string { return vcardEscaper.Replace(s) }

// messageID returns the WhatsApp id of the gateway message gatewayID, in WhatsApp Web's
// shape ("3EB0" and 18 hex digits): a hash of tenant, session and gatewayID, so that
// every attempt of one message sends the same id. Without gateway id it is random.
func messageID(spec provider.Spec, gatewayID string) types.MessageID {
	var sum [9]byte
	if gatewayID == "" {
		_, _ = rand.Read(sum[:])
	} else {
		h := sha256.Sum256([]byte(spec.Tenant + "\x00" + spec.Session + "\x00" + gatewayID))
		copy(sum[:], h[:])
	}
	return wm.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:]))
}

// sendError maps an error of SendMessage onto a *provider.SendError.
func sendError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return ctxSendError(ctx, err)
	case errors.Is(err, wm.ErrMessageTimedOut), errors.Is(err, wm.ErrIQTimedOut), errors.Is(err, context.DeadlineExceeded):
		return &provider.SendError{Code: CodeTimeout, Retryable: true, Err: err}
	case errors.Is(err, wm.ErrNotConnected), errors.Is(err, wm.ErrNotLoggedIn):
		return &provider.SendError{Code: CodeNotConnected, Retryable: true, Err: fmt.Errorf("%w: %w", provider.ErrNotConnected, err)}
	case errors.Is(err, wm.ErrUnknownServer), errors.Is(err, wm.ErrRecipientADJID), errors.Is(err, wm.ErrBroadcastListUnsupported),
		errors.Is(err, wm.ErrGroupNotFound), errors.Is(err, wm.ErrNotInGroup), errors.Is(err, wm.ErrIQNotFound),
		errors.Is(err, wm.ErrIQForbidden):
		return &provider.SendError{Code: CodeInvalidRecipient, Err: fmt.Errorf("%w: %w", provider.ErrInvalidRecipient, err)}
	case errors.Is(err, wm.ErrIQRateOverLimit):
		return &provider.SendError{Code: CodeRateLimited, Retryable: true, Err: err}
	case errors.Is(err, wm.ErrServerReturnedError):
		return &provider.SendError{Code: CodeServerError, Err: err}
	}
	return &provider.SendError{Code: CodeSendFailed, Retryable: true, Err: err}
}

// ctxSendError is the SendError of a send cut short by its context.
func ctxSendError(ctx context.Context, err error) error {
	code := CodeTimeout
	if errors.Is(ctx.Err(), context.Canceled) {
		code = CodeCanceled
	}
	return &provider.SendError{Code: code, Retryable: true, Err: err}
}
