package provider

import (
	"context"
	"time"

	"github.com/wagate/wagate/core/chatid"
)

// Groups is the capability CapGroups: the session's WhatsApp groups, as member and as
// admin. Ids are group chat ids (…@g.us); participants are user chat ids.
//
// Who may do what follows WhatsApp: changing participants, admins, the invite code and
// the settings needs the session to be an admin; the subject and description need it
// too once the group is "info admin only". Refused operations return ErrNotAllowed,
// wrapped; an unknown group, or one the session is not a member of, ErrNotFound.
//
// Changes reach every member as Notifications (Timestamp in Unix milliseconds, as WAHA's): GroupJoin (the session joined or was
// added), GroupLeave (it left or was removed), GroupParticipants (others joined, left,
// were promoted or demoted) and GroupUpdate (subject, description, settings).
type Groups interface {
	// CreateGroup creates a group named subject with the session as its owner (super
	// admin) and the participants as members; it returns the new group.
	CreateGroup(ctx context.Context, subject string, participants []chatid.ID) (GroupInfo, error)
	// ListGroups returns the groups the session is a member of, in no particular order
	// (the API sorts and pages them).
	ListGroups(ctx context.Context) ([]GroupInfo, error)
	// GroupInfo returns one group, with its participants.
	GroupInfo(ctx context.Context, group chatid.ID) (GroupInfo, error)
	// LeaveGroup makes the session leave the group.
	LeaveGroup(ctx context.Context, group chatid.ID) error
	// SetGroupSubject sets the group's name.
	SetGroupSubject(ctx context.Context, group chatid.ID, subject string) error
	// SetGroupDescription sets the group's description; "" removes it.
	SetGroupDescription(ctx context.Context, group chatid.ID, description string) error
	// SetGroupSetting turns one of the group's admin-only settings on or off.
	SetGroupSetting(ctx context.Context, group chatid.ID, setting GroupSetting, on bool) error
	// UpdateParticipants adds, removes, promotes or demotes participants and returns
	// one result per participant, in order. A participant WhatsApp refused (not on
	// WhatsApp, privacy settings, not a member) has its own error code; the call fails
	// as a whole only when the session may not make the change at all.
	UpdateParticipants(ctx context.Context, group chatid.ID, participants []chatid.ID, action ParticipantAction) ([]ParticipantResult, error)
	// InviteCode returns the group's invite code; with reset, a new code replaces it
	// (the old link stops working).
	InviteCode(ctx context.Context, group chatid.ID, reset bool) (string, error)
	// GroupInviteInfo returns the group an invite code leads to, without joining.
	// An unknown or revoked code is ErrNotFound.
	GroupInviteInfo(ctx context.Context, code string) (GroupInfo, error)
	// JoinGroup joins the group of an invite code and returns its id.
	JoinGroup(ctx context.Context, code string) (chatid.ID, error)
	// GroupPictureURL returns the URL of the group's picture, "" when it has none;
	// refresh asks the transport again instead of answering from a cache.
	GroupPictureURL(ctx context.Context, group chatid.ID, refresh bool) (string, error)
	// SetGroupPicture sets the group's picture (picture.Data, or picture.URL fetched
	// as a send's media is); a picture the transport refuses is ErrInvalidPicture.
	// Members see a GroupUpdate. Needs admin once the group is info-admin-only.
	SetGroupPicture(ctx context.Context, group chatid.ID, picture Media) error
	// DeleteGroupPicture removes the group's picture; removing none does nothing.
	DeleteGroupPicture(ctx context.Context, group chatid.ID) error
}

// GroupSetting is one of a group's admin-only switches.
type GroupSetting string

const (
	// SettingInfoAdminOnly: only admins change the subject, description and picture
	// (WhatsApp's "locked" group; WAHA's info-admin-only).
	SettingInfoAdminOnly GroupSetting = "info-admin-only"
	// SettingMessagesAdminOnly: only admins send messages (WhatsApp's "announce"
	// group; WAHA's messages-admin-only).
	SettingMessagesAdminOnly GroupSetting = "messages-admin-only"
)

// ParticipantAction is a change of UpdateParticipants.
type ParticipantAction string

const (
	ParticipantAdd     ParticipantAction = "add"
	ParticipantRemove  ParticipantAction = "remove"
	ParticipantPromote ParticipantAction = "promote"
	ParticipantDemote  ParticipantAction = "demote"
)

// GroupRole is a participant's role, WAHA's GroupParticipantRole.
type GroupRole string

const (
	RoleLeft        GroupRole = "left"
	RoleParticipant GroupRole = "participant"
	RoleAdmin       GroupRole = "admin"
	RoleSuperAdmin  GroupRole = "superadmin"
)

// GroupParticipant is one member of a group (WAHA's GroupParticipant).
type GroupParticipant struct {
	// ID is the participant's chat id (…@c.us, or …@lid when the group hides numbers).
	ID chatid.ID `json:"id"`
	// PN is the phone number's chat id when ID is a LID and the number is known.
	PN   chatid.ID `json:"pn,omitzero"`
	Role GroupRole `json:"role"`
}

// GroupInfo is a group in WAHA's GroupInfo shape, with our additions (owner, created,
// the two settings by their route names).
type GroupInfo struct {
	ID           chatid.ID          `json:"id"`
	Subject      string             `json:"subject"`
	Description  string             `json:"description"`
	Participants []GroupParticipant `json:"participants"`
	// Invite is the invite link, when the session knows it (an admin asked for it).
	Invite string `json:"invite,omitempty"`
	// MembersCanAddNewMember: members who are not admins may add participants.
	MembersCanAddNewMember bool `json:"membersCanAddNewMember"`
	// MembersCanSendMessages is false when only admins send (messages-admin-only).
	MembersCanSendMessages bool `json:"membersCanSendMessages"`
	// NewMembersApprovalRequired: joining by link needs an admin's approval.
	NewMembersApprovalRequired bool `json:"newMembersApprovalRequired"`
	// InfoAdminOnly and MessagesAdminOnly are the two settings (ours).
	InfoAdminOnly     bool `json:"infoAdminOnly"`
	MessagesAdminOnly bool `json:"messagesAdminOnly"`
	// Owner created the group; zero when unknown (ours).
	Owner chatid.ID `json:"owner,omitzero"`
	// Created is when the group was created, in Unix seconds; 0 when unknown (ours).
	Created int64 `json:"created,omitempty"`
}

// Role returns the role of a member, RoleLeft when id is not one.
func (g GroupInfo) Role(id chatid.ID) GroupRole {
	for _, p := range g.Participants {
		if p.ID == id || p.PN == id {
			return p.Role
		}
	}
	return RoleLeft
}

// ParticipantResult is the outcome of UpdateParticipants for one participant.
type ParticipantResult struct {
	ID chatid.ID `json:"id"`
	// Error is "" on success, else a code: "not_on_whatsapp", "not_a_participant",
	// "already_participant", "privacy" (the user only accepts invites), or the
	// transport's code.
	Error string `json:"error,omitempty"`
}

// InviteLink is the link of an invite code.
func InviteLink(code string) string { return "https://chat.whatsapp.com/" + code }

// GroupRef is WAHA's GroupId: {id}.
type GroupRef struct {
	ID chatid.ID `json:"id"`
}

// GroupJoin is the Notification "group.v2.join": the session joined a group, created
// it, or was added to it (WAHA's GroupV2JoinEvent).
type GroupJoin struct {
	Timestamp int64     `json:"timestamp"`
	Group     GroupInfo `json:"group"`
}

// GroupLeave is the Notification "group.v2.leave": the session left a group or was
// removed from it (WAHA's GroupV2LeaveEvent).
type GroupLeave struct {
	Timestamp int64    `json:"timestamp"`
	Group     GroupRef `json:"group"`
}

// GroupParticipantsChange is the Notification "group.v2.participants": other
// participants joined, left, were promoted or demoted (WAHA's GroupV2ParticipantsEvent).
// Type is "join", "leave", "promote" or "demote"; each participant carries its role
// after the change.
type GroupParticipantsChange struct {
	Group        GroupRef           `json:"group"`
	Type         string             `json:"type"`
	Timestamp    int64              `json:"timestamp"`
	Participants []GroupParticipant `json:"participants"`
	// Author made the change; zero when WhatsApp did not say (ours).
	Author chatid.ID `json:"author,omitzero"`
}

// GroupUpdate is the Notification "group.v2.update": the subject, description or a
// setting changed (WAHA's GroupV2UpdateEvent). Group holds the id and what changed;
// fields that did not change are left out.
type GroupUpdate struct {
	Timestamp int64        `json:"timestamp"`
	Group     GroupChanges `json:"group"`
	// Author made the change; zero when WhatsApp did not say (ours).
	Author chatid.ID `json:"author,omitzero"`
}

// GroupChanges is the partial GroupInfo of a GroupUpdate.
type GroupChanges struct {
	ID                     chatid.ID `json:"id"`
	Subject                *string   `json:"subject,omitempty"`
	Description            *string   `json:"description,omitempty"`
	MembersCanSendMessages *bool     `json:"membersCanSendMessages,omitempty"`
	InfoAdminOnly          *bool     `json:"infoAdminOnly,omitempty"`
	MessagesAdminOnly      *bool     `json:"messagesAdminOnly,omitempty"`
	// PictureID is the new picture's id, "" when it was removed (ours).
	PictureID *string `json:"pictureId,omitempty"`
}

// Participant change types of GroupParticipantsChange.
const (
	ChangeJoin    = "join"
	ChangeLeave   = "leave"
	ChangePromote = "promote"
	ChangeDemote  = "demote"
)

// UnixMilli is t in Unix milliseconds (the Timestamp of group notifications, as
// WAHA's), 0 for the zero time.
func UnixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// EventName implements Notification.
func (GroupJoin) EventName() string { return "group.v2.join" }

// EventName implements Notification.
func (GroupLeave) EventName() string { return "group.v2.leave" }

// EventName implements Notification.
func (GroupParticipantsChange) EventName() string { return "group.v2.participants" }

// EventName implements Notification.
func (GroupUpdate) EventName() string { return "group.v2.update" }

func (GroupJoin) providerEvent()               {}
func (GroupLeave) providerEvent()              {}
func (GroupParticipantsChange) providerEvent() {}
func (GroupUpdate) providerEvent()             {}
