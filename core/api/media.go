package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
)

// Limits of the media, location, contact and reaction routes (docs/api.md, "Sending
// media"). Every one is checked before anything is queued.
const (
	// maxCaptionLen bounds a media caption, in characters (WhatsApp's limit).
	maxCaptionLen = 1024
	// maxMediaBytes bounds inline media (file.data), decoded. server.max_body_bytes
	// (1 MiB by default) applies first, to the base64 text: larger files go by URL.
	maxMediaBytes = 16 << 20
	// maxMediaURLLen bounds file.url, in bytes.
	maxMediaURLLen = 2048
	// maxFilenameLen bounds file.filename, in characters.
	maxFilenameLen = 255
	// maxMimetypeLen bounds file.mimetype, in bytes.
	maxMimetypeLen = 255
	// maxPlaceLen bounds a location's title and address, in characters.
	maxPlaceLen = 1024
	// maxContacts bounds the cards of one contact message.
	maxContacts = 50
	// maxVCardLen bounds one vCard, in bytes.
	maxVCardLen = 16 << 10
	// maxContactField bounds fullName and organization, in characters.
	maxContactField = 256
	// maxReactionLen bounds a reaction, in characters (an emoji may be several).
	maxReactionLen = 10
	// maxMessageIDLen bounds the messageId of a reaction, in bytes.
	maxMessageIDLen = 256
)

// mediaFile is the "file" object of the media routes (WAHA's shape): exactly one of
// url and data.
type mediaFile struct {
	// Mimetype is the media type, e.g. image/jpeg. Required with data; with url,
	// optional. It must fit the route: image/* for sendImage, audio/* for sendVoice,
	// video/* for sendVideo, anything for sendFile.
	Mimetype string `json:"mimetype,omitempty"`
	// Filename is the name shown to the recipient (documents), at most 255
	// characters, no slashes or control characters.
	Filename string `json:"filename,omitempty"`
	// URL is an absolute http or https URL of at most 2048 bytes, fetched at send time.
	URL string `json:"url,omitempty"`
	// Data is the file in standard base64 (padded), at most 16 MiB decoded, and within
	// server.max_body_bytes as text.
	Data string `json:"data,omitempty"`
}

// sendMediaBody is POST /api/sendImage, /api/sendFile and /api/sendVideo.
type sendMediaBody struct {
	// Session sends through this session; omitted, the gateway picks one.
	Session string `json:"session,omitempty"`
	// ChatID is the recipient, in any accepted form.
	ChatID string `json:"chatId"`
	// File is the media to send.
	File *mediaFile `json:"file"`
	// Caption is shown under the media, at most 1024 characters.
	Caption string `json:"caption,omitempty"`
	// ReplyTo is the provider id of a message to quote.
	ReplyTo string `json:"reply_to,omitempty"`
}

// sendVoiceBody is POST /api/sendVoice: a voice note has no caption.
type sendVoiceBody struct {
	Session string     `json:"session,omitempty"`
	ChatID  string     `json:"chatId"`
	File    *mediaFile `json:"file"`
	ReplyTo string     `json:"reply_to,omitempty"`
}

// sendTemplateBody is POST /api/sendTemplate.
type sendTemplateBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	// Name is the approved template's name, e.g. "order_shipped". Required.
	Name string `json:"name"`
	// Language is the approved translation's code, e.g. "en_US". Required.
	Language string `json:"language"`
	// Components fill the template's variables, in Meta's "components" shape (a JSON
	// array); optional.
	Components json.RawMessage `json:"components,omitempty"`
}

// sendLocationBody is POST /api/sendLocation.
type sendLocationBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	// Latitude is in degrees, -90 to 90. Required.
	Latitude *float64 `json:"latitude"`
	// Longitude is in degrees, -180 to 180. Required.
	Longitude *float64 `json:"longitude"`
	// Title names the place, at most 1024 characters.
	Title string `json:"title,omitempty"`
	// Address is the place's address, at most 1024 characters.
	Address string `json:"address,omitempty"`
	ReplyTo string `json:"reply_to,omitempty"`
}

// contactCard is one entry of sendContactVcard's contacts: a vcard, or fullName and
// phoneNumber (WAHA's shape).
type contactCard struct {
	// VCard is a complete vCard (BEGIN:VCARD ... END:VCARD with an FN line), sent as is.
	VCard string `json:"vcard,omitempty"`
	// FullName is the contact's name; required without vcard.
	FullName string `json:"fullName,omitempty"`
	// Organization is the contact's company. Optional.
	Organization string `json:"organization,omitempty"`
	// PhoneNumber is the number as shown on the card ("+1 555 123 4567"): 5 to 15
	// digits with optional +, spaces, dots, dashes and parentheses. Required without vcard.
	PhoneNumber string `json:"phoneNumber,omitempty"`
	// WhatsappID is the contact's WhatsApp number, digits only; lets the recipient
	// message the contact from the card. Optional.
	WhatsappID string `json:"whatsappId,omitempty"`
}

// sendContactBody is POST /api/sendContactVcard.
type sendContactBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	// Contacts are the cards to send, 1 to 50, in one message.
	Contacts []contactCard `json:"contacts"`
	ReplyTo  string        `json:"reply_to,omitempty"`
}

// reactionBody is PUT /api/reaction (WAHA's method).
type reactionBody struct {
	Session string `json:"session,omitempty"`
	// ChatID is the chat of the message reacted to. Required unless messageId is
	// WAHA's serialized form, which contains it.
	ChatID string `json:"chatId,omitempty"`
	// MessageID is the message reacted to: its provider id ("3EB0..."), or WAHA's
	// serialized id "<true|false>_<chatId>_<id>[_<participant>]".
	MessageID string `json:"messageId"`
	// Reaction is the emoji, at most 10 characters; "" removes an earlier reaction.
	// Required (use "" to remove).
	Reaction *string `json:"reaction"`
}

// mediaRoute is what differs between the four media routes.
type mediaRoute struct {
	kind provider.Kind
	// typePrefix is the media type prefix the mimetype needs ("image/"); "" takes any.
	typePrefix string
}

var (
	imageRoute = mediaRoute{provider.KindImage, "image/"}
	fileRoute  = mediaRoute{provider.KindFile, ""}
	voiceRoute = mediaRoute{provider.KindVoice, "audio/"}
	videoRoute = mediaRoute{provider.KindVideo, "video/"}
	// stickerRoute: WhatsApp's stickers are WebP images.
	stickerRoute = mediaRoute{provider.KindSticker, "image/webp"}
)

func (s *Server) mediaRoutes() []route {
	doc := func(summary string, body any) routeDoc {
		return routeDoc{summary: summary, tag: "sending", request: body, response: sendAnswer{}, status: http.StatusAccepted,
			description: "Queued like sendText: durable before the 202, Idempotency-Key honoured. See docs/api.md, \"Sending media\"."}
	}
	return []route{
		{method: "POST", path: "/api/sendImage", auth: authTenant, handle: s.sendMedia(imageRoute),
			doc: doc("Queue an image (file by url or base64 data, image/*) with an optional caption", sendMediaBody{})},
		{method: "POST", path: "/api/sendFile", auth: authTenant, handle: s.sendMedia(fileRoute),
			doc: doc("Queue a document of any type with an optional caption", sendMediaBody{})},
		{method: "POST", path: "/api/sendVoice", auth: authTenant, handle: s.sendVoice,
			doc: doc("Queue a voice note (audio/*; WhatsApp plays audio/ogg; codecs=opus)", sendVoiceBody{})},
		{method: "POST", path: "/api/sendVideo", auth: authTenant, handle: s.sendMedia(videoRoute),
			doc: doc("Queue a video (video/*) with an optional caption", sendMediaBody{})},
		{method: "POST", path: "/api/sendSticker", auth: authTenant, handle: s.sendSticker,
			doc: doc("Queue a sticker (image/webp, no caption; ours: WAHA has no sticker route)", sendVoiceBody{})},
		{method: "POST", path: "/api/sendLocation", auth: authTenant, handle: s.sendLocation,
			doc: doc("Queue a location pin", sendLocationBody{})},
		{method: "POST", path: "/api/sendContactVcard", auth: authTenant, handle: s.sendContact,
			doc: doc("Queue one or more contact cards", sendContactBody{})},
		{method: "POST", path: "/api/sendTemplate", auth: authTenant, handle: s.sendTemplate,
			doc: doc("Queue an approved message template (Cloud API sessions: the only kind allowed outside the 24-hour window)", sendTemplateBody{})},
		{method: "PUT", path: "/api/reaction", auth: authTenant, handle: s.sendReaction,
			doc: doc("Queue a reaction to a message (\"\" removes it)", reactionBody{})},
	}
}

// sendMedia serves sendImage, sendFile and sendVideo.
func (s *Server) sendMedia(rt mediaRoute) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		var b sendMediaBody
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
		return s.submitMedia(c, r, rt, b)
	}
}

func (s *Server) sendVoice(c *fasthttp.RequestCtx, r *request) error {
	var b sendVoiceBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return s.submitMedia(c, r, voiceRoute, sendMediaBody{Session: b.Session, ChatID: b.ChatID, File: b.File, ReplyTo: b.ReplyTo})
}

// sendSticker takes the body of sendVoice (session, chatId, file, reply_to): a
// sticker has no caption. Its file is image/webp.
func (s *Server) sendSticker(c *fasthttp.RequestCtx, r *request) error {
	var b sendVoiceBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	return s.submitMedia(c, r, stickerRoute, sendMediaBody{Session: b.Session, ChatID: b.ChatID, File: b.File, ReplyTo: b.ReplyTo})
}

func (s *Server) submitMedia(c *fasthttp.RequestCtx, r *request, rt mediaRoute, b sendMediaBody) error {
	chat, err := parseChat(b.ChatID)
	if err != nil {
		return err
	}
	media, err := checkMedia(b.File, rt.typePrefix)
	if err != nil {
		return err
	}
	if err := checkText(b.Caption, maxCaptionLen, "invalid_caption", "caption"); err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: rt.kind, Text: b.Caption, ReplyTo: b.ReplyTo, Media: media,
	}})
}

func (s *Server) sendLocation(c *fasthttp.RequestCtx, r *request) error {
	var b sendLocationBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	chat, err := parseChat(b.ChatID)
	if err != nil {
		return err
	}
	switch {
	case b.Latitude == nil:
		return badRequest("invalid_location", "latitude is required", d("field", "latitude"))
	case b.Longitude == nil:
		return badRequest("invalid_location", "longitude is required", d("field", "longitude"))
	case *b.Latitude < -90 || *b.Latitude > 90:
		return badRequest("invalid_location", "latitude must be between -90 and 90", d("field", "latitude"))
	case *b.Longitude < -180 || *b.Longitude > 180:
		return badRequest("invalid_location", "longitude must be between -180 and 180", d("field", "longitude"))
	}
	if err := checkText(b.Title, maxPlaceLen, "invalid_location", "title"); err != nil {
		return err
	}
	if err := checkText(b.Address, maxPlaceLen, "invalid_location", "address"); err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindLocation, ReplyTo: b.ReplyTo,
		Location: &provider.Location{Latitude: *b.Latitude, Longitude: *b.Longitude, Title: b.Title, Address: b.Address},
	}})
}

var templateName = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
var templateLanguage = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)

func (s *Server) sendTemplate(c *fasthttp.RequestCtx, r *request) error {
	var b sendTemplateBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	chat, err := parseChat(b.ChatID)
	if err != nil {
		return err
	}
	switch {
	case !templateName.MatchString(b.Name):
		return badRequest("invalid_template", "name must be the approved template's name: lowercase letters, digits and '_'", d("field", "name"))
	case !templateLanguage.MatchString(b.Language):
		return badRequest("invalid_template", "language must be a code like en or en_US", d("field", "language"))
	}
	if len(b.Components) > 0 {
		var arr []json.RawMessage
		if json.Unmarshal(b.Components, &arr) != nil {
			return badRequest("invalid_template", "components must be a JSON array (Meta's components)", d("field", "components"))
		}
	}
	return s.submit(c, r, outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindTemplate,
		Template: &provider.Template{Name: b.Name, Language: b.Language, Components: b.Components},
	}})
}

func (s *Server) sendContact(c *fasthttp.RequestCtx, r *request) error {
	var b sendContactBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	chat, err := parseChat(b.ChatID)
	if err != nil {
		return err
	}
	if len(b.Contacts) == 0 || len(b.Contacts) > maxContacts {
		return badRequest("invalid_contact", "contacts must hold 1 to "+strconv.Itoa(maxContacts)+" cards",
			d("field", "contacts", "limit", maxContacts))
	}
	contacts := make([]provider.Contact, len(b.Contacts))
	for i, cc := range b.Contacts {
		if contacts[i], err = checkContact(cc, "contacts["+strconv.Itoa(i)+"]."); err != nil {
			return err
		}
	}
	return s.submit(c, r, outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindContact, ReplyTo: b.ReplyTo, Contacts: contacts,
	}})
}

func (s *Server) sendReaction(c *fasthttp.RequestCtx, r *request) error {
	var b reactionBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	re, chat, err := checkReaction(b)
	if err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: b.Session, msg: provider.Outbound{
		ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindReaction, Reaction: re,
	}})
}

// parseChat parses the chatId of a send body.
func parseChat(s string) (chatid.ID, error) {
	chat, err := chatid.Parse(s)
	if err != nil {
		return chatid.ID{}, badRequest("invalid_chat_id", err.Error(), d("field", "chatId"))
	}
	return chat, nil
}

// checkText checks an optional text field: valid UTF-8 of at most max characters.
func checkText(s string, max int, code, field string) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return badRequest(code, field+" must be valid UTF-8 of at most "+strconv.Itoa(max)+" characters",
			d("field", field, "limit", max))
	}
	return nil
}

// checkMedia validates the file object of a media route and returns the media to send.
// typePrefix is the media type prefix the route needs ("" for any).
func checkMedia(f *mediaFile, typePrefix string) (*provider.Media, error) {
	bad := func(field, msg string, kv ...any) error {
		return badRequest("invalid_media", msg, d(append([]any{"field", field}, kv...)...))
	}
	if f == nil {
		return nil, bad("file", "file is required: {url} or {mimetype, data}")
	}
	m := &provider.Media{Mimetype: f.Mimetype, Filename: f.Filename}
	switch {
	case f.URL != "" && f.Data != "":
		return nil, bad("file", "file takes url or data, not both")
	case f.URL == "" && f.Data == "":
		return nil, bad("file", "file needs url or data")
	case f.URL != "":
		if err := checkMediaURL(f.URL); err != nil {
			return nil, bad("file.url", err.Error(), "limit", maxMediaURLLen)
		}
		m.URL = f.URL
	default:
		if f.Mimetype == "" {
			return nil, bad("file.mimetype", "mimetype is required with data")
		}
		// Refuse before decoding what cannot fit.
		if base64.StdEncoding.DecodedLen(len(f.Data)) > maxMediaBytes+2 {
			return nil, bad("file.data", "data must be at most 16 MiB decoded; send larger files by url", "limit", maxMediaBytes)
		}
		data, err := base64.StdEncoding.Strict().DecodeString(f.Data)
		if err != nil {
			return nil, bad("file.data", "data is not valid standard base64: "+err.Error())
		}
		if len(data) == 0 {
			return nil, bad("file.data", "data must not be empty")
		}
		if len(data) > maxMediaBytes {
			return nil, bad("file.data", "data must be at most 16 MiB decoded; send larger files by url", "limit", maxMediaBytes)
		}
		m.Data = data
	}
	if f.Mimetype != "" {
		if len(f.Mimetype) > maxMimetypeLen {
			return nil, bad("file.mimetype", "mimetype must be at most "+strconv.Itoa(maxMimetypeLen)+" bytes", "limit", maxMimetypeLen)
		}
		mt, _, err := mime.ParseMediaType(f.Mimetype)
		if err != nil || !strings.Contains(mt, "/") {
			return nil, bad("file.mimetype", "mimetype is not a media type such as image/jpeg")
		}
		if !strings.HasPrefix(mt, typePrefix) {
			return nil, bad("file.mimetype", "this route sends "+typePrefix+"* only, not "+mt, "expected", typePrefix+"*")
		}
	}
	if f.Filename != "" {
		if !utf8.ValidString(f.Filename) || utf8.RuneCountInString(f.Filename) > maxFilenameLen ||
			strings.ContainsAny(f.Filename, `/\`) || strings.ContainsFunc(f.Filename, unicode.IsControl) {
			return nil, bad("file.filename", "filename must be at most 255 characters without slashes or control characters", "limit", maxFilenameLen)
		}
	}
	return m, nil
}

// checkMediaURL accepts an absolute http or https URL with a host, of at most
// maxMediaURLLen bytes.
func checkMediaURL(s string) error {
	if len(s) > maxMediaURLLen {
		return errors.New("url must be at most 2048 bytes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("url does not parse: " + err.Error())
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Hostname() == "" {
		return errors.New("url must be an absolute http or https URL")
	}
	return nil
}

// checkContact validates one card; prefix is its field path ("contacts[0].").
func checkContact(c contactCard, prefix string) (provider.Contact, error) {
	bad := func(field, msg string) error {
		return badRequest("invalid_contact", msg, d("field", prefix+field))
	}
	out := provider.Contact{VCard: c.VCard, FullName: c.FullName, Organization: c.Organization,
		Phone: c.PhoneNumber, WhatsAppID: c.WhatsappID}
	for _, f := range []struct{ name, v string }{{"fullName", c.FullName}, {"organization", c.Organization}} {
		if !utf8.ValidString(f.v) || utf8.RuneCountInString(f.v) > maxContactField || strings.ContainsFunc(f.v, unicode.IsControl) {
			return out, bad(f.name, f.name+" must be at most 256 characters without control characters")
		}
	}
	if c.PhoneNumber != "" && !validCardPhone(c.PhoneNumber) {
		return out, bad("phoneNumber", "phoneNumber must be 5 to 15 digits, with optional +, spaces, dots, dashes and parentheses")
	}
	if c.WhatsappID != "" && !validDigits(c.WhatsappID, 5, 15) {
		return out, bad("whatsappId", "whatsappId must be 5 to 15 digits")
	}
	if c.VCard != "" {
		name, err := vcardName(c.VCard)
		if err != nil {
			return out, bad("vcard", err.Error())
		}
		if out.FullName == "" {
			out.FullName = name
		}
		return out, nil
	}
	switch {
	case c.FullName == "":
		return out, bad("fullName", "a contact needs vcard, or fullName and phoneNumber")
	case c.PhoneNumber == "":
		return out, bad("phoneNumber", "a contact needs vcard, or fullName and phoneNumber")
	}
	return out, nil
}

// validCardPhone accepts a phone number as people write it: 5 to 15 digits, an
// optional leading +, and spaces, dots, dashes and parentheses between.
func validCardPhone(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')':
		default:
			return false
		}
	}
	return digits >= 5 && digits <= 15
}

func validDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// vcardName checks the shape of a vCard (BEGIN:VCARD first, END:VCARD last, an FN
// property) and returns its FN value. It does not check the rest of the card.
func vcardName(card string) (string, error) {
	if len(card) > maxVCardLen {
		return "", errors.New("vcard must be at most 16384 bytes")
	}
	if !utf8.ValidString(card) {
		return "", errors.New("vcard must be valid UTF-8")
	}
	// Unfold (RFC 2426 section 2.6): a line starting with a space or tab continues
	// the previous one.
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(strings.TrimSpace(card), "\r\n", "\n"), "\n") {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(lines) > 0 {
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) < 3 || !strings.EqualFold(strings.TrimSpace(lines[0]), "BEGIN:VCARD") ||
		!strings.EqualFold(strings.TrimSpace(lines[len(lines)-1]), "END:VCARD") {
		return "", errors.New("vcard must start with BEGIN:VCARD and end with END:VCARD")
	}
	for _, l := range lines[1 : len(lines)-1] {
		prop, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(prop, ";")
		if _, n, grouped := strings.Cut(name, "."); grouped {
			name = n // "item1.FN"
		}
		if strings.EqualFold(name, "FN") && strings.TrimSpace(value) != "" {
			return vcardUnescape.Replace(strings.TrimSpace(value)), nil
		}
	}
	return "", errors.New("vcard needs a non-empty FN (formatted name) property")
}

var vcardUnescape = strings.NewReplacer(`\\`, `\`, `\,`, ",", `\;`, ";", `\n`, "\n", `\N`, "\n")

// checkReaction validates a reaction body and returns the reaction and its chat.
func checkReaction(b reactionBody) (*provider.Reaction, chatid.ID, error) {
	bad := func(field, msg string) error {
		return badRequest("invalid_reaction", msg, d("field", field))
	}
	if b.MessageID == "" {
		return nil, chatid.ID{}, bad("messageId", "messageId is required")
	}
	if len(b.MessageID) > maxMessageIDLen || strings.ContainsFunc(b.MessageID, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return nil, chatid.ID{}, bad("messageId", "messageId must be at most 256 printable ASCII characters without spaces")
	}
	if b.Reaction == nil {
		return nil, chatid.ID{}, bad("reaction", `reaction is required ("" removes an earlier reaction)`)
	}
	if !utf8.ValidString(*b.Reaction) || utf8.RuneCountInString(*b.Reaction) > maxReactionLen ||
		strings.ContainsFunc(*b.Reaction, unicode.IsControl) {
		return nil, chatid.ID{}, bad("reaction", "reaction must be at most 10 characters (one emoji) without control characters")
	}
	re := &provider.Reaction{MessageID: b.MessageID, Emoji: *b.Reaction}
	var chat chatid.ID
	if key, ok, err := parseSerializedID(b.MessageID); err != nil {
		return nil, chatid.ID{}, bad("messageId", err.Error())
	} else if ok {
		re.MessageID, re.FromMe, re.Sender, chat = key.id, key.fromMe, key.participant, key.chat
	}
	if b.ChatID == "" && !chat.IsZero() {
		return re, chat, nil
	}
	given, err := parseChat(b.ChatID)
	if err != nil {
		return nil, chatid.ID{}, err
	}
	if !chat.IsZero() && given != chat {
		return nil, chatid.ID{}, badRequest("invalid_chat_id", "chatId "+given.String()+" is not the chat of messageId ("+chat.String()+")",
			d("field", "chatId"))
	}
	return re, given, nil
}

// messageKey is WAHA's serialized message id, parsed.
type messageKey struct {
	fromMe      bool
	chat        chatid.ID
	id          string
	participant chatid.ID
}

// parseSerializedID parses WAHA's "<true|false>_<chat>_<id>[_<participant>]". ok is
// false for anything that does not start with "true_" or "false_" (a bare provider
// id); err is set when it does but the rest is not a serialized id.
func parseSerializedID(s string) (messageKey, bool, error) {
	var k messageKey
	switch {
	case strings.HasPrefix(s, "true_"):
		k.fromMe = true
	case strings.HasPrefix(s, "false_"):
	default:
		return k, false, nil
	}
	parts := strings.Split(s, "_")
	if len(parts) != 3 && len(parts) != 4 {
		return k, true, errors.New("messageId looks serialized but is not <true|false>_<chatId>_<id>[_<participant>]")
	}
	var err error
	if k.chat, err = chatid.Parse(parts[1]); err != nil {
		return k, true, errors.New("the chat of the serialized messageId: " + err.Error())
	}
	if k.id = parts[2]; k.id == "" {
		return k, true, errors.New("the serialized messageId has an empty id")
	}
	if len(parts) == 4 {
		if k.participant, err = chatid.Parse(parts[3]); err != nil {
			return k, true, errors.New("the participant of the serialized messageId: " + err.Error())
		}
	}
	return k, true, nil
}
