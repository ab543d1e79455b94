package provider

import (
	"context"

	"github.com/wagate/wagate/core/chatid"
)

// Presencer is the capability CapPresence: the session's own presence (online or
// offline), its chat state in a chat (typing, recording, paused: WAHA's startTyping and
// stopTyping), and subscriptions to a contact's presence, whose changes the session
// reports as PresenceUpdate notifications.
//
// Typer (provider.go) stays the one pacing uses; a transport implements SetChatState on
// the same code, SetTyping(on) being SetChatState(ChatTyping or ChatPaused).
type Presencer interface {
	// SetPresence sets the session's own presence: PresenceOnline or PresenceOffline.
	SetPresence(ctx context.Context, presence Presence) error
	// SetChatState shows the session typing, recording or paused in a chat.
	SetChatState(ctx context.Context, chat chatid.ID, state Presence) error
	// SubscribePresence asks WhatsApp for the contact's presence: its changes then
	// arrive as PresenceUpdate until the connection ends.
	SubscribePresence(ctx context.Context, contact chatid.ID) error
}

// Presence is WAHA's WAHAPresenceStatus.
type Presence string

// Presences: own ones (online, offline) and chat states (typing, recording, paused).
const (
	PresenceOnline    Presence = "online"
	PresenceOffline   Presence = "offline"
	PresenceTyping    Presence = "typing"
	PresenceRecording Presence = "recording"
	PresencePaused    Presence = "paused"
)

// IsChatState reports whether p is a chat state (typing, recording, paused).
func (p Presence) IsChatState() bool {
	return p == PresenceTyping || p == PresenceRecording || p == PresencePaused
}

// PresenceUpdate is the Notification "presence.update", in WAHA's WAHAChatPresences
// shape: the chat (a user, or a group whose participants type) and who is in which
// presence.
type PresenceUpdate struct {
	ID        chatid.ID             `json:"id"`
	Presences []ParticipantPresence `json:"presences"`
}

// ParticipantPresence is one participant's presence (WAHA's WAHAPresenceData).
type ParticipantPresence struct {
	Participant       chatid.ID `json:"participant"`
	LastKnownPresence Presence  `json:"lastKnownPresence"`
	// LastSeen is when the participant was last online, in Unix seconds; null when
	// unknown or hidden.
	LastSeen *int64 `json:"lastSeen"`
}

// EventName implements Notification.
func (PresenceUpdate) EventName() string { return "presence.update" }

func (PresenceUpdate) providerEvent() {}
