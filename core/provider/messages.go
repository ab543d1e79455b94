package provider

import "github.com/wagate/wagate/core/chatid"

// Message operations beyond plain sends: edits, revokes, polls and votes. They are
// Kinds of Outbound, sent through Send and the durable queue like any message; a
// transport that lacks one refuses it with ErrUnsupported (a *SendError with code
// "unsupported"), which fails the message.

// Poll is the question and options of a poll (WAHA's MessagePoll).
type Poll struct {
	// Name is the question.
	Name string `json:"name"`
	// Options are the answers to choose from, 2 to 12, each unique.
	Options []string `json:"options"`
	// MultipleAnswers lets a voter choose more than one option.
	MultipleAnswers bool `json:"multipleAnswers"`
}

// EventInvite is the invite of an event message (WAHA's EventMessage): what, when and where.
// Times are Unix seconds, as WhatsApp carries them.
type EventInvite struct {
	// Name is the event's title, required.
	Name string `json:"name"`
	// Description is optional text under it.
	Description string `json:"description,omitempty"`
	// StartTime is when it begins; EndTime, when it ends (0: not said).
	StartTime int64 `json:"startTime"`
	EndTime   int64 `json:"endTime,omitempty"`
	// Location is where it happens, by name. Optional.
	Location *EventLocation `json:"location,omitempty"`
	// ExtraGuestsAllowed lets invitees bring guests.
	ExtraGuestsAllowed bool `json:"extraGuestsAllowed,omitempty"`
}

// EventLocation is the place of an event, WAHA's EventLocation.
type EventLocation struct {
	Name string `json:"name"`
}

// PollVote is the session's vote on a poll of the chat.
type PollVote struct {
	// PollID is the provider id of the poll.
	PollID string `json:"pollMessageId"`
	// PollFromMe is true when the session sent the poll; PollSender is the poll's
	// author in a group, when known (whatsmeow needs both to address the vote).
	PollFromMe bool      `json:"pollFromMe,omitempty"`
	PollSender chatid.ID `json:"pollSender,omitzero"`
	// Options are the chosen options, by their text; none withdraws the vote.
	Options []string `json:"votes"`
}

// MessageRef names a message as WAHA's MessageDestination does: its id, the chat it is
// in (to), its author (from) and whether the session sent it.
type MessageRef struct {
	ID     string    `json:"id"`
	To     chatid.ID `json:"to"`
	From   chatid.ID `json:"from"`
	FromMe bool      `json:"fromMe"`
	// Participant is the author in a group (ours beside WAHA's fields).
	Participant chatid.ID `json:"participant,omitzero"`
}

// PollVoteEvent is the Notification "poll.vote": someone voted on a poll the session
// sent (WAHA's PollVotePayload), or on another member's poll in a group where the
// transport receives the votes (whatsmeow does: WhatsApp sends group votes to every
// member; Poll.FromMe is then false). Vote is the vote itself (its own message id, who
// voted, the options chosen: all of them, a new vote replaces the last, none withdraws
// it) and Poll the poll voted on.
type PollVoteEvent struct {
	Vote PollVoteInfo `json:"vote"`
	Poll MessageRef   `json:"poll"`
}

// PollVoteInfo is WAHA's PollVote: a MessageRef with the options and a timestamp in
// Unix seconds.
type PollVoteInfo struct {
	MessageRef
	SelectedOptions []string `json:"selectedOptions"`
	Timestamp       int64    `json:"timestamp"`
}

// EventName implements Notification.
func (PollVoteEvent) EventName() string { return "poll.vote" }

func (PollVoteEvent) providerEvent() {}
