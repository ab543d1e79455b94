package queue

import (
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Payload is what a message of a kind other than text carries beyond its text (which
// stays in Message.Text: the text, or the caption of media). At most one field is set
// besides Mentions, the one of the message's type; a text message has no Payload at all.
//
// Media data is stored as sent (base64 in the record), so a message record is about
// as large as the request that queued it; server.max_body_bytes bounds both.
type Payload struct {
	// Media is the file of an image, file, voice or video message.
	Media *provider.Media `json:"media,omitempty"`
	// Location is the place of a location message.
	Location *provider.Location `json:"location,omitempty"`
	// Contacts are the cards of a contact message.
	Contacts []provider.Contact `json:"contacts,omitempty"`
	// Reaction is the emoji of a reaction and the message it reacts to.
	Reaction *provider.Reaction `json:"reaction,omitempty"`
	// Template is the approved template of a template message (Cloud API).
	Template *provider.Template `json:"template,omitempty"`
	// Target is the provider id of the message an edit or a revoke changes.
	Target string `json:"target,omitempty"`
	// Poll is the poll of a poll message; Vote the vote of a poll vote.
	Poll *provider.Poll     `json:"poll,omitempty"`
	Vote *provider.PollVote `json:"vote,omitempty"`
	// Event is the invite of an event message.
	Event *provider.EventInvite `json:"event,omitempty"`
	// Mentions are the users a text or caption mentions (beside the kind's field).
	Mentions []chatid.ID `json:"mentions,omitempty"`
	// Forwarded marks a forward (beside the kind's field).
	Forwarded bool `json:"forwarded,omitempty"`
	// Status is the look and audience of a status update (beside the kind's field).
	Status *provider.StatusOptions `json:"status,omitempty"`
	// Preview is the link preview card of a text (its sender's, or one the sender
	// of an inbound message attached); NoPreview and PreviewHighQuality what the
	// sender asked of the card the adapter builds.
	Preview            *provider.LinkPreview `json:"preview,omitempty"`
	NoPreview          bool                  `json:"noPreview,omitempty"`
	PreviewHighQuality bool                  `json:"previewHighQuality,omitempty"`
}

// PayloadOf returns the Payload to store for msg: nil when msg carries nothing but
// text. It is the inverse of Message.outbound:
//
//	queue.Message{ID: msg.ID, ..., Text: msg.Text, Payload: queue.PayloadOf(msg)}
func PayloadOf(msg provider.Outbound) *Payload {
	if msg.Media == nil && msg.Location == nil && len(msg.Contacts) == 0 && msg.Reaction == nil && msg.Template == nil &&
		msg.Target == "" && msg.Poll == nil && msg.Vote == nil && msg.Event == nil && len(msg.Mentions) == 0 && !msg.Forwarded && msg.Status == nil &&
		msg.Preview == nil && !msg.NoPreview && !msg.PreviewHighQuality {
		return nil
	}
	return &Payload{Media: msg.Media, Location: msg.Location, Contacts: msg.Contacts, Reaction: msg.Reaction, Template: msg.Template,
		Target: msg.Target, Poll: msg.Poll, Vote: msg.Vote, Event: msg.Event, Mentions: msg.Mentions, Forwarded: msg.Forwarded, Status: msg.Status,
		Preview: msg.Preview, NoPreview: msg.NoPreview, PreviewHighQuality: msg.PreviewHighQuality}
}

// outbound is the provider message to send for m, to chat (m.ChatID, parsed).
func (m Message) outbound(chat chatid.ID) provider.Outbound {
	out := provider.Outbound{ID: m.ID, ChatID: chat, Kind: m.Type, Text: m.Text, ReplyTo: m.ReplyTo}
	if p := m.Payload; p != nil {
		out.Media, out.Location, out.Contacts, out.Reaction, out.Template = p.Media, p.Location, p.Contacts, p.Reaction, p.Template
		out.Target, out.Poll, out.Vote, out.Mentions = p.Target, p.Poll, p.Vote, p.Mentions
		out.Forwarded, out.Status, out.Event = p.Forwarded, p.Status, p.Event
		out.Preview, out.NoPreview, out.PreviewHighQuality = p.Preview, p.NoPreview, p.PreviewHighQuality
	}
	return out
}
