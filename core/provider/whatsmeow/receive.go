package whatsmeow

import (
	"context"
	"fmt"
	"slices"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// onMessage reports an inbound message (or one sent from the phone itself), or a vote on
// a poll (polls.go). Messages of chats the gateway does not serve (status updates,
// broadcast lists, newsletters) and kinds it does not know (buttons, protocol messages
// other than edit and revoke) are skipped.
func (r *run) onMessage(evt *events.Message) {
	if evt.Message.GetPollUpdateMessage() != nil {
		r.onPollVote(evt)
		return
	}
	in, ok := r.inbound(evt)
	if !ok {
		return
	}
	r.noteInbound(evt.Info, in)
	r.emit(provider.MessageEvent{Message: in})
}

// inbound maps a whatsmeow message onto provider.Inbound:
//
//	Conversation, ExtendedTextMessage      text
//	ImageMessage                           image
//	StickerMessage                         sticker (an image/webp without caption)
//	VideoMessage                           video
//	AudioMessage                           voice (voice notes and audio files alike)
//	DocumentMessage                        file, with its file name
//	LocationMessage, LiveLocationMessage   location
//	ContactMessage, ContactsArrayMessage   contact (the vCards as sent)
//	ReactionMessage                        reaction
//	ProtocolMessage REVOKE                 revoke, Target = the deleted message
//	ProtocolMessage MESSAGE_EDIT           edit, Target = the edited message, Text = new text
//	PollCreationMessage (V1 to V6)         poll, remembered for its votes (polls.go)
//	EventMessage                           event (the invite; answers are not reported)
//
// A PollUpdateMessage (a vote) is no Inbound: onMessage reports it as a
// provider.PollVoteEvent ("poll.vote") when its poll is remembered (polls.go).
//
// In a group, ChatID and From are the group and Participant the author, as the
// contract says. Mentions come from the ContextInfo of an extended text or a caption
// (image, video, document). Media come without URL: their file is fetched with
// DownloadMedia while remembered.
func (r *run) inbound(evt *events.Message) (provider.Inbound, bool) {
	m, info := evt.Message, evt.Info
	if m == nil {
		return provider.Inbound{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	in, ok := r.header(ctx, info)
	if !ok {
		return provider.Inbound{}, false
	}

	media, ok := r.content(ctx, info, m, &in)
	if !ok {
		return provider.Inbound{}, false
	}
	in.Mentions = r.mentionsOf(ctx, contextInfoOf(m))
	if media != nil {
		r.p.media.remember(info.ID, mediaRef{msg: media, mimetype: in.Media.Mimetype, filename: in.Media.Filename, size: fileLength(media)})
	}
	if in.Poll != nil {
		r.p.polls.remember(in.ProviderID, r.pollRefOf(in), in.Poll.Options)
	}
	return in, true
}

// content fills in the kind and content of message m (of info) and returns its
// downloadable media, if any; false when the gateway cannot represent m. See inbound
// for the mapping; channel posts (ChannelMessages) use it too.
func (r *run) content(ctx context.Context, info types.MessageInfo, m *waE2E.Message, in *provider.Inbound) (wm.DownloadableMessage, bool) {
	var media wm.DownloadableMessage
	switch {
	case m.Conversation != nil:
		in.Kind, in.Text = provider.KindText, m.GetConversation()
	case m.ExtendedTextMessage != nil:
		ext := m.GetExtendedTextMessage()
		in.Kind, in.Text = provider.KindText, ext.GetText()
		if link := ext.GetMatchedText(); link != "" && (ext.GetTitle() != "" || ext.GetDescription() != "") {
			in.Preview = &provider.LinkPreview{URL: link, Title: ext.GetTitle(), Description: ext.GetDescription(),
				HighQuality: ext.GetThumbnailDirectPath() != ""}
		}
	case m.ImageMessage != nil:
		im := m.GetImageMessage()
		in.Kind, in.Text, media = provider.KindImage, im.GetCaption(), im
		in.Media = &provider.Media{Mimetype: im.GetMimetype()}
	case m.StickerMessage != nil:
		st := m.GetStickerMessage()
		in.Kind, media = provider.KindSticker, st
		in.Media = &provider.Media{Mimetype: orDefault(st.GetMimetype(), "image/webp")}
	case m.VideoMessage != nil:
		v := m.GetVideoMessage()
		in.Kind, in.Text, media = provider.KindVideo, v.GetCaption(), v
		in.Media = &provider.Media{Mimetype: v.GetMimetype()}
	case m.AudioMessage != nil:
		a := m.GetAudioMessage()
		in.Kind, media = provider.KindVoice, a
		in.Media = &provider.Media{Mimetype: a.GetMimetype()}
	case m.DocumentMessage != nil:
		d := m.GetDocumentMessage()
		in.Kind, in.Text, media = provider.KindFile, d.GetCaption(), d
		in.Media = &provider.Media{Mimetype: d.GetMimetype(), Filename: orDefault(d.GetFileName(), d.GetTitle())}
	case m.LocationMessage != nil:
		l := m.GetLocationMessage()
		in.Kind = provider.KindLocation
		in.Location = &provider.Location{Latitude: l.GetDegreesLatitude(), Longitude: l.GetDegreesLongitude(),
			Title: l.GetName(), Address: l.GetAddress()}
	case m.LiveLocationMessage != nil:
		l := m.GetLiveLocationMessage()
		in.Kind, in.Text = provider.KindLocation, l.GetCaption()
		in.Location = &provider.Location{Latitude: l.GetDegreesLatitude(), Longitude: l.GetDegreesLongitude()}
	case m.ContactMessage != nil:
		in.Kind = provider.KindContact
		in.Contacts = []provider.Contact{contactOf(m.GetContactMessage())}
	case m.ContactsArrayMessage != nil:
		in.Kind = provider.KindContact
		for _, c := range m.GetContactsArrayMessage().GetContacts() {
			in.Contacts = append(in.Contacts, contactOf(c))
		}
		if len(in.Contacts) == 0 {
			return nil, false
		}
	case m.ReactionMessage != nil:
		rm := m.GetReactionMessage()
		in.Kind = provider.KindReaction
		in.Reaction = r.reactionOf(ctx, info, rm.GetKey(), rm.GetText())
	case m.ProtocolMessage != nil:
		pm := m.GetProtocolMessage()
		switch pm.GetType() {
		case waE2E.ProtocolMessage_REVOKE:
			in.Kind, in.Target = provider.KindRevoke, pm.GetKey().GetID()
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			in.Kind, in.Target, in.Text = provider.KindEdit, pm.GetKey().GetID(), textOf(pm.GetEditedMessage())
		default:
			return nil, false
		}
		if in.Target == "" {
			return nil, false
		}
	case pollCreationOf(m) != nil:
		poll, ok := pollOf(pollCreationOf(m))
		if !ok {
			return nil, false
		}
		in.Kind, in.Poll = provider.KindPoll, poll
	case m.EventMessage != nil:
		in.Kind, in.Event = provider.KindEvent, eventOf(m.GetEventMessage())
		in.Text = in.Event.Name
	default:
		return nil, false
	}
	return media, true
}

// contextInfoOf returns the ContextInfo of the messages that can mention users: an
// extended text and the media with a caption. Nil for the others.
func contextInfoOf(m *waE2E.Message) *waE2E.ContextInfo {
	switch {
	case m.GetExtendedTextMessage() != nil:
		return m.GetExtendedTextMessage().GetContextInfo()
	case m.GetImageMessage() != nil:
		return m.GetImageMessage().GetContextInfo()
	case m.GetVideoMessage() != nil:
		return m.GetVideoMessage().GetContextInfo()
	case m.GetDocumentMessage() != nil:
		return m.GetDocumentMessage().GetContextInfo()
	}
	return nil
}

// mentionsOf maps the users a message mentions onto chat ids (by phone number when
// known, as chatOf does), in order and once each. A JID that does not parse, or that
// is not a user, is skipped.
func (r *run) mentionsOf(ctx context.Context, ci *waE2E.ContextInfo) []chatid.ID {
	var out []chatid.ID
	for _, s := range ci.GetMentionedJID() {
		j, err := types.ParseJID(s)
		if err != nil {
			continue
		}
		id, err := r.chatOf(ctx, j, types.JID{})
		if err != nil || (id.Server != chatid.User && id.Server != chatid.LID) || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// header returns the Inbound of a message with its source filled in (ids, chat,
// author, time), or false when its chat is not one the gateway serves or its author
// cannot be named.
func (r *run) header(ctx context.Context, info types.MessageInfo) (provider.Inbound, bool) {
	chatAlt := info.SenderAlt
	if info.IsFromMe {
		chatAlt = info.RecipientAlt
	}
	if info.IsGroup {
		chatAlt = types.JID{}
	}
	chat, err := r.chatOf(ctx, info.Chat, chatAlt)
	if err == nil && (chat.IsBroadcast() || chat.IsNewsletter()) {
		// Sends go to them, but their inbound traffic (everyone's status updates, a
		// channel's posts) is not a conversation of the session.
		err = fmt.Errorf("%w: %s", ErrUnsupportedJID, info.Chat)
	}
	if err != nil {
		r.p.log.Debug("whatsmeow message of an unsupported chat skipped", "chat", info.Chat.String(), "err", err)
		return provider.Inbound{}, false
	}
	author := r.meID()
	if !info.IsFromMe || author.IsZero() {
		if author, err = r.chatOf(ctx, info.Sender, info.SenderAlt); err != nil {
			return provider.Inbound{}, false
		}
	}
	in := provider.Inbound{
		ProviderID: info.ID,
		ChatID:     chat,
		From:       author,
		FromMe:     info.IsFromMe,
		Timestamp:  info.Timestamp,
	}
	if chat.IsGroup() {
		in.From, in.Participant = chat, author
	}
	if in.Timestamp.IsZero() {
		in.Timestamp = time.Now()
	}
	return in, true
}

// lookupTimeout bounds the store lookups of one event (the LID map). They do not end
// with the run: events queued before Stop are still reported in full.
const lookupTimeout = 5 * time.Second

// chatOf returns the chat id of a user or group JID, by phone number whenever it is
// known: a LID is replaced by alt when that is a phone number JID (whatsmeow's
// SenderAlt, RecipientAlt), else by the phone number the session's LID map holds for it.
// A LID without known phone number stays a @lid chat id.
func (r *run) chatOf(ctx context.Context, j, alt types.JID) (chatid.ID, error) {
	if j.Server == types.HiddenUserServer {
		if alt.Server == types.DefaultUserServer {
			return FromJID(alt)
		}
		if pn, err := r.p.container.LIDMap.GetPNForLID(ctx, j.ToNonAD()); err == nil && !pn.IsEmpty() {
			return FromJID(pn)
		}
	}
	return FromJID(j)
}

// reactionOf maps the key of the message reacted to. A key inside a message is written
// from the point of view of its sender: FromMe there means "sent by the reactor".
func (r *run) reactionOf(ctx context.Context, info types.MessageInfo, key *waCommon.MessageKey, emoji string) *provider.Reaction {
	re := &provider.Reaction{MessageID: key.GetID(), Emoji: emoji}
	var author types.JID
	if p := key.GetParticipant(); p != "" {
		author, _ = types.ParseJID(p)
	}
	switch {
	case info.IsFromMe:
		re.FromMe = key.GetFromMe()
	case !info.IsGroup:
		re.FromMe = !key.GetFromMe()
	case !author.IsEmpty():
		if id, err := r.chatOf(ctx, author, types.JID{}); err == nil {
			re.FromMe = id == r.meID()
		}
	}
	if info.IsGroup && !author.IsEmpty() && !re.FromMe {
		if id, err := r.chatOf(ctx, author, types.JID{}); err == nil {
			re.Sender = id
		}
	}
	return re
}

// contactOf maps one contact card: the vCard as sent, and its display name.
func contactOf(c *waE2E.ContactMessage) provider.Contact {
	return provider.Contact{VCard: c.GetVcard(), FullName: c.GetDisplayName()}
}

// textOf returns the text or caption of a message (the new content of an edit).
func textOf(m *waE2E.Message) string {
	switch {
	case m == nil:
		return ""
	case m.Conversation != nil:
		return m.GetConversation()
	case m.ExtendedTextMessage != nil:
		return m.GetExtendedTextMessage().GetText()
	case m.ImageMessage != nil:
		return m.GetImageMessage().GetCaption()
	case m.VideoMessage != nil:
		return m.GetVideoMessage().GetCaption()
	case m.DocumentMessage != nil:
		return m.GetDocumentMessage().GetCaption()
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// onReceipt reports the delivered, read and played receipts of messages this session
// sent, once per message and level (a group's members each send theirs; the first is
// reported). Receipts of the session's own other devices, and retry or server receipts,
// are whatsmeow's business.
func (r *run) onReceipt(evt *events.Receipt) {
	var ack provider.Ack
	switch evt.Type {
	case types.ReceiptTypeDelivered:
		ack = provider.AckDelivered
	case types.ReceiptTypeRead:
		ack = provider.AckRead
	case types.ReceiptTypePlayed:
		ack = provider.AckPlayed
	default:
		return
	}
	if evt.IsFromMe {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	alt := evt.SenderAlt
	if evt.IsGroup {
		alt = types.JID{}
	}
	chat, err := r.chatOf(ctx, evt.Chat, alt)
	if err != nil {
		return
	}
	for _, id := range evt.MessageIDs {
		if r.acks.seen(id, ack) {
			continue
		}
		r.emit(provider.AckEvent{ProviderID: id, ChatID: chat, Ack: ack})
	}
}

// ackSeen remembers the last maxAckSeen (message, ack) pairs reported, so that the
// receipts of every member of a group make one ack per level. It belongs to the event
// goroutine.
type ackSeen struct {
	set  map[ackKey]struct{}
	ring []ackKey
	next int
}

type ackKey struct {
	id  string
	ack provider.Ack
}

const maxAckSeen = 4096

// seen reports whether (id, ack) was reported already, and records it otherwise.
func (a *ackSeen) seen(id string, ack provider.Ack) bool {
	k := ackKey{id, ack}
	if a.set == nil {
		a.set = make(map[ackKey]struct{}, maxAckSeen)
		a.ring = make([]ackKey, maxAckSeen)
	}
	if _, ok := a.set[k]; ok {
		return true
	}
	if old := a.ring[a.next]; old.id != "" {
		delete(a.set, old)
	}
	a.ring[a.next] = k
	a.next = (a.next + 1) % maxAckSeen
	a.set[k] = struct{}{}
	return false
}
