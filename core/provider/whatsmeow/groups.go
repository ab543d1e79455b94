package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Groups, through whatsmeow (each method one IQ to WhatsApp, SetGroupDescription two):
//
//	CreateGroup          Client.CreateGroup (ReqCreateGroup: the subject, the members)
//	ListGroups           Client.GetJoinedGroups
//	GroupInfo            Client.GetGroupInfo
//	LeaveGroup           Client.LeaveGroup
//	SetGroupSubject      Client.SetGroupName
//	SetGroupDescription  Client.GetGroupInfo (the current topic id), then SetGroupTopic
//	SetGroupSetting      Client.SetGroupLocked (info-admin-only),
//	                     Client.SetGroupAnnounce (messages-admin-only)
//	UpdateParticipants   Client.UpdateGroupParticipants
//	InviteCode           Client.GetGroupInviteLink, the code without the link's prefix
//	GroupInviteInfo      Client.GetGroupInfoFromLink
//	JoinGroup            Client.JoinGroupWithLink
//
// Participants are reported by phone number when it is known (the number WhatsApp
// sends beside a LID, else the session's LID map), by LID otherwise. WhatsApp's
// changes arrive as group.v2.* notifications (groupevents.go).
//
// Errors (groupError): an unknown group, or one the session is not in, and an unknown
// or revoked invite are provider.ErrNotFound; WhatsApp's 401, 403 and 405 answers to
// a change provider.ErrNotAllowed; a connection lost before the answer
// provider.ErrNotConnected. The whatsmeow error stays wrapped beside them.

// groupClient is the part of *whatsmeow.Client the Groups capability uses.
// *whatsmeow.Client implements it; a Client that does not (a test fake without it)
// answers provider.ErrUnsupported.
type groupClient interface {
	CreateGroup(ctx context.Context, req wm.ReqCreateGroup) (*types.GroupInfo, error)
	GetJoinedGroups(ctx context.Context) ([]*types.GroupInfo, error)
	GetGroupInfo(ctx context.Context, jid types.JID) (*types.GroupInfo, error)
	LeaveGroup(ctx context.Context, jid types.JID) error
	SetGroupName(ctx context.Context, jid types.JID, name string) error
	// SetGroupTopic with previousID "" fetches the group itself and loses the error's
	// type; the provider passes the id it read.
	SetGroupTopic(ctx context.Context, jid types.JID, previousID, newID, topic string) error
	SetGroupLocked(ctx context.Context, jid types.JID, locked bool) error
	SetGroupAnnounce(ctx context.Context, jid types.JID, announce bool) error
	UpdateGroupParticipants(ctx context.Context, jid types.JID, changes []types.JID, action wm.ParticipantChange) ([]types.GroupParticipant, error)
	GetGroupInviteLink(ctx context.Context, jid types.JID, reset bool) (string, error)
	GetGroupInfoFromLink(ctx context.Context, code string) (*types.GroupInfo, error)
	JoinGroupWithLink(ctx context.Context, code string) (types.JID, error)
}

var _ groupClient = (*wm.Client)(nil)

// maxInviteCode bounds an invite code (WhatsApp's are 22 characters).
const maxInviteCode = 64

// groupRun returns the running connection and its group client, or the error of a
// group call.
func (p *Provider) groupRun(op string) (*run, groupClient, error) {
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return nil, nil, p.errorf(op, provider.ErrNotConnected)
	}
	gc, ok := r.client.(groupClient)
	if !ok {
		return nil, nil, p.errorf(op, fmt.Errorf("the client has no group calls: %w", provider.ErrUnsupported))
	}
	return r, gc, nil
}

// groupJID returns the JID of a group id.
func (p *Provider) groupJID(op string, id chatid.ID) (types.JID, error) {
	if id.Server != chatid.Group {
		return types.JID{}, p.errorf(op, fmt.Errorf("%s is not a group: %w", id, provider.ErrInvalidRecipient))
	}
	j, err := ToJID(id)
	if err != nil {
		return types.JID{}, p.errorf(op, fmt.Errorf("%w (%w)", provider.ErrInvalidRecipient, err))
	}
	return j, nil
}

// groupError maps an error of a whatsmeow group call onto the provider's errors; the
// whatsmeow error stays wrapped. Context errors pass as they are.
func groupError(err error) error {
	switch {
	case err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, wm.ErrGroupNotFound), errors.Is(err, wm.ErrNotInGroup), errors.Is(err, wm.ErrIQNotFound),
		errors.Is(err, wm.ErrInviteLinkInvalid), errors.Is(err, wm.ErrInviteLinkRevoked), errors.Is(err, wm.ErrIQGone):
		return fmt.Errorf("%w: %w", provider.ErrNotFound, err)
	case errors.Is(err, wm.ErrGroupInviteLinkUnauthorized), errors.Is(err, wm.ErrIQForbidden),
		errors.Is(err, wm.ErrIQNotAuthorized), errors.Is(err, wm.ErrIQNotAllowed):
		return fmt.Errorf("%w: %w", provider.ErrNotAllowed, err)
	case errors.Is(err, wm.ErrNotConnected), errors.Is(err, wm.ErrNotLoggedIn), errors.Is(err, wm.ErrIQDisconnected):
		return fmt.Errorf("%w: %w", provider.ErrNotConnected, err)
	}
	return err
}

// groupCall runs one whatsmeow group call under ctx and maps its error.
func groupCall[T any](ctx context.Context, p *Provider, op string, f func() (T, error)) (T, error) {
	v, err := bounded(ctx, f)
	if err != nil {
		return v, p.errorf(op, groupError(err))
	}
	return v, nil
}

// CreateGroup implements provider.Groups. The session's own number and repeated
// participants are left out (WhatsApp adds the creator itself); participants WhatsApp
// refused (privacy settings, not on WhatsApp) are not in the group returned.
func (p *Provider) CreateGroup(ctx context.Context, subject string, participants []chatid.ID) (provider.GroupInfo, error) {
	const op = "creating a group"
	r, gc, err := p.groupRun(op)
	if err != nil {
		return provider.GroupInfo{}, err
	}
	me := r.meID()
	req := wm.ReqCreateGroup{Name: subject, Participants: make([]types.JID, 0, len(participants))}
	for _, id := range participants {
		j, err := p.userJID(op, id)
		if err != nil {
			return provider.GroupInfo{}, err
		}
		if id != me && !slices.Contains(req.Participants, j) {
			req.Participants = append(req.Participants, j)
		}
	}
	info, err := groupCall(ctx, p, op, func() (*types.GroupInfo, error) { return gc.CreateGroup(ctx, req) })
	if err != nil {
		return provider.GroupInfo{}, err
	}
	return r.groupInfo(ctx, info)
}

// ListGroups implements provider.Groups.
func (p *Provider) ListGroups(ctx context.Context) ([]provider.GroupInfo, error) {
	const op = "listing groups"
	r, gc, err := p.groupRun(op)
	if err != nil {
		return nil, err
	}
	list, err := groupCall(ctx, p, op, func() ([]*types.GroupInfo, error) { return gc.GetJoinedGroups(ctx) })
	if err != nil {
		return nil, err
	}
	out := make([]provider.GroupInfo, 0, len(list))
	for _, g := range list {
		info, err := r.groupInfo(ctx, g)
		if err != nil {
			continue // nil, or an id the gateway cannot hold
		}
		out = append(out, info)
	}
	return out, nil
}

// GroupInfo implements provider.Groups.
func (p *Provider) GroupInfo(ctx context.Context, group chatid.ID) (provider.GroupInfo, error) {
	const op = "getting a group"
	r, gc, err := p.groupRun(op)
	if err != nil {
		return provider.GroupInfo{}, err
	}
	j, err := p.groupJID(op, group)
	if err != nil {
		return provider.GroupInfo{}, err
	}
	info, err := groupCall(ctx, p, op, func() (*types.GroupInfo, error) { return gc.GetGroupInfo(ctx, j) })
	if err != nil {
		return provider.GroupInfo{}, err
	}
	out, err := r.groupInfo(ctx, info)
	if err != nil {
		return provider.GroupInfo{}, p.errorf(op, err)
	}
	return out, nil
}

// groupDo runs a group call without result on a group.
func (p *Provider) groupDo(ctx context.Context, op string, group chatid.ID, f func(gc groupClient, j types.JID) error) error {
	_, gc, err := p.groupRun(op)
	if err != nil {
		return err
	}
	j, err := p.groupJID(op, group)
	if err != nil {
		return err
	}
	_, err = groupCall(ctx, p, op, func() (struct{}, error) { return struct{}{}, f(gc, j) })
	return err
}

// LeaveGroup implements provider.Groups.
func (p *Provider) LeaveGroup(ctx context.Context, group chatid.ID) error {
	return p.groupDo(ctx, "leaving a group", group, func(gc groupClient, j types.JID) error { return gc.LeaveGroup(ctx, j) })
}

// SetGroupSubject implements provider.Groups.
func (p *Provider) SetGroupSubject(ctx context.Context, group chatid.ID, subject string) error {
	return p.groupDo(ctx, "setting a group's subject", group, func(gc groupClient, j types.JID) error { return gc.SetGroupName(ctx, j, subject) })
}

// SetGroupDescription implements provider.Groups. WhatsApp wants the id of the
// description it replaces: the group is read first.
func (p *Provider) SetGroupDescription(ctx context.Context, group chatid.ID, description string) error {
	return p.groupDo(ctx, "setting a group's description", group, func(gc groupClient, j types.JID) error {
		info, err := gc.GetGroupInfo(ctx, j)
		if err != nil {
			return err
		}
		if info == nil {
			return fmt.Errorf("group %s: %w", j, wm.ErrGroupNotFound)
		}
		return gc.SetGroupTopic(ctx, j, info.TopicID, "", description)
	})
}

// SetGroupSetting implements provider.Groups.
func (p *Provider) SetGroupSetting(ctx context.Context, group chatid.ID, setting provider.GroupSetting, on bool) error {
	const op = "changing a group setting"
	switch setting {
	case provider.SettingInfoAdminOnly:
		return p.groupDo(ctx, op, group, func(gc groupClient, j types.JID) error { return gc.SetGroupLocked(ctx, j, on) })
	case provider.SettingMessagesAdminOnly:
		return p.groupDo(ctx, op, group, func(gc groupClient, j types.JID) error { return gc.SetGroupAnnounce(ctx, j, on) })
	}
	return p.errorf(op, fmt.Errorf("setting %q: %w", setting, provider.ErrUnsupported))
}

// participantChanges maps the contract's actions onto whatsmeow's.
var participantChanges = map[provider.ParticipantAction]wm.ParticipantChange{
	provider.ParticipantAdd:     wm.ParticipantChangeAdd,
	provider.ParticipantRemove:  wm.ParticipantChangeRemove,
	provider.ParticipantPromote: wm.ParticipantChangePromote,
	provider.ParticipantDemote:  wm.ParticipantChangeDemote,
}

// UpdateParticipants implements provider.Groups. WhatsApp answers per participant,
// with an error attribute for those it refused (see participantError); one missing
// from its answer gets "no_answer".
func (p *Provider) UpdateParticipants(ctx context.Context, group chatid.ID, participants []chatid.ID, action provider.ParticipantAction) ([]provider.ParticipantResult, error) {
	const op = "changing group participants"
	change, ok := participantChanges[action]
	if !ok {
		return nil, p.errorf(op, fmt.Errorf("action %q: %w", action, provider.ErrUnsupported))
	}
	r, gc, err := p.groupRun(op)
	if err != nil {
		return nil, err
	}
	j, err := p.groupJID(op, group)
	if err != nil {
		return nil, err
	}
	jids := make([]types.JID, len(participants))
	for i, id := range participants {
		if jids[i], err = p.userJID(op, id); err != nil {
			return nil, err
		}
	}
	results := make([]provider.ParticipantResult, len(participants))
	if len(participants) == 0 {
		return results, nil
	}
	answer, err := groupCall(ctx, p, op, func() ([]types.GroupParticipant, error) { return gc.UpdateGroupParticipants(ctx, j, jids, change) })
	if err != nil {
		return nil, err
	}
	for i, sent := range jids {
		results[i] = provider.ParticipantResult{ID: participants[i], Error: "no_answer"}
		for _, got := range answer {
			if got.JID == sent || got.PhoneNumber == sent || (!got.LID.IsEmpty() && got.LID == sent) || r.samePerson(ctx, got, sent) {
				results[i].Error = participantError(got.Error, action)
				break
			}
		}
	}
	return results, nil
}

// samePerson reports whether a participant of WhatsApp's answer, given by LID alone,
// is the user sent by phone number, as the LID map knows it.
func (r *run) samePerson(ctx context.Context, got types.GroupParticipant, sent types.JID) bool {
	if got.JID.Server != types.HiddenUserServer || sent.Server != types.DefaultUserServer || !got.PhoneNumber.IsEmpty() {
		return false
	}
	pn, err := r.p.container.LIDMap.GetPNForLID(ctx, got.JID.ToNonAD())
	return err == nil && pn.ToNonAD() == sent
}

// participantError is the ParticipantResult code of WhatsApp's error attribute:
//
//	0    ""                   done
//	403  privacy              the user only accepts invites (add)
//	404  not_on_whatsapp      (add), not_a_participant (remove, promote, demote)
//	408  recently_left        the user left the group lately and cannot be re-added yet
//	409  already_participant  (add)
//	419  group_full
//	else error_<code>
func participantError(code int, action provider.ParticipantAction) string {
	switch code {
	case 0:
		return ""
	case 403:
		return "privacy"
	case 404:
		if action == provider.ParticipantAdd {
			return "not_on_whatsapp"
		}
		return "not_a_participant"
	case 408:
		return "recently_left"
	case 409:
		return "already_participant"
	case 419:
		return "group_full"
	}
	return fmt.Sprintf("error_%d", code)
}

// InviteCode implements provider.Groups: the code of the link WhatsApp answers.
func (p *Provider) InviteCode(ctx context.Context, group chatid.ID, reset bool) (string, error) {
	const op = "getting a group's invite code"
	_, gc, err := p.groupRun(op)
	if err != nil {
		return "", err
	}
	j, err := p.groupJID(op, group)
	if err != nil {
		return "", err
	}
	link, err := groupCall(ctx, p, op, func() (string, error) { return gc.GetGroupInviteLink(ctx, j, reset) })
	if err != nil {
		return "", err
	}
	code := strings.TrimPrefix(link, wm.InviteLinkPrefix)
	if code == "" {
		return "", p.errorf(op, fmt.Errorf("WhatsApp answered an empty invite link %q", link))
	}
	return code, nil
}

// inviteCode reads an invite code, or a https://chat.whatsapp.com/ link; anything else
// is provider.ErrNotFound (no group has it) without asking WhatsApp.
func (p *Provider) inviteCode(op, raw string) (string, error) {
	code := strings.TrimPrefix(strings.TrimSpace(raw), wm.InviteLinkPrefix)
	if code == "" || len(code) > maxInviteCode || strings.ContainsFunc(code, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-')
	}) {
		return "", p.errorf(op, fmt.Errorf("invite code %q: %w", raw, provider.ErrNotFound))
	}
	return code, nil
}

// GroupInviteInfo implements provider.Groups.
func (p *Provider) GroupInviteInfo(ctx context.Context, code string) (provider.GroupInfo, error) {
	const op = "reading an invite"
	r, gc, err := p.groupRun(op)
	if err != nil {
		return provider.GroupInfo{}, err
	}
	if code, err = p.inviteCode(op, code); err != nil {
		return provider.GroupInfo{}, err
	}
	info, err := groupCall(ctx, p, op, func() (*types.GroupInfo, error) { return gc.GetGroupInfoFromLink(ctx, code) })
	if err != nil {
		return provider.GroupInfo{}, err
	}
	out, err := r.groupInfo(ctx, info)
	if err != nil {
		return provider.GroupInfo{}, p.errorf(op, err)
	}
	return out, nil
}

// JoinGroup implements provider.Groups. In a group that needs an admin's approval, the
// request is made and the group's id returned; the session joins once approved.
func (p *Provider) JoinGroup(ctx context.Context, code string) (chatid.ID, error) {
	const op = "joining a group"
	_, gc, err := p.groupRun(op)
	if err != nil {
		return chatid.ID{}, err
	}
	if code, err = p.inviteCode(op, code); err != nil {
		return chatid.ID{}, err
	}
	j, err := groupCall(ctx, p, op, func() (types.JID, error) { return gc.JoinGroupWithLink(ctx, code) })
	if err != nil {
		return chatid.ID{}, err
	}
	id, err := FromJID(j)
	if err != nil || id.Server != chatid.Group {
		return chatid.ID{}, p.errorf(op, fmt.Errorf("WhatsApp answered the group %q: %w", j, ErrUnsupportedJID))
	}
	return id, nil
}

// groupInfo maps a whatsmeow group onto provider.GroupInfo (WAHA's shape). Members
// WhatsApp reported with an error (refused at creation) are left out; members whose id
// the gateway cannot hold (bots) too.
func (r *run) groupInfo(ctx context.Context, g *types.GroupInfo) (provider.GroupInfo, error) {
	if g == nil {
		return provider.GroupInfo{}, fmt.Errorf("WhatsApp answered no group: %w", provider.ErrNotFound)
	}
	id, err := FromJID(g.JID)
	if err != nil || id.Server != chatid.Group {
		return provider.GroupInfo{}, fmt.Errorf("group %q: %w", g.JID, ErrUnsupportedJID)
	}
	out := provider.GroupInfo{
		ID: id, Subject: g.Name, Description: g.Topic,
		Participants:               make([]provider.GroupParticipant, 0, len(g.Participants)),
		MembersCanAddNewMember:     g.MemberAddMode == types.GroupMemberAddModeAllMember,
		MembersCanSendMessages:     !g.IsAnnounce,
		NewMembersApprovalRequired: g.IsJoinApprovalRequired,
		InfoAdminOnly:              g.IsLocked,
		MessagesAdminOnly:          g.IsAnnounce,
	}
	if !g.OwnerJID.IsEmpty() || !g.OwnerPN.IsEmpty() {
		owner, alt := g.OwnerJID, g.OwnerPN
		if owner.IsEmpty() {
			owner = alt
		}
		out.Owner, _ = r.chatOf(ctx, owner.ToNonAD(), alt.ToNonAD())
	}
	if !g.GroupCreated.IsZero() {
		out.Created = g.GroupCreated.Unix()
	}
	for _, m := range g.Participants {
		if m.Error != 0 {
			continue
		}
		pid, err := r.chatOf(ctx, m.JID.ToNonAD(), m.PhoneNumber.ToNonAD())
		if err != nil {
			continue
		}
		out.Participants = append(out.Participants, provider.GroupParticipant{ID: pid, Role: roleOf(m)})
	}
	return out, nil
}

// roleOf is a member's role.
func roleOf(m types.GroupParticipant) provider.GroupRole {
	switch {
	case m.IsSuperAdmin:
		return provider.RoleSuperAdmin
	case m.IsAdmin:
		return provider.RoleAdmin
	}
	return provider.RoleParticipant
}

var _ provider.Groups = (*Provider)(nil)
