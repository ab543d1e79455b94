package sandbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Groups between sandbox numbers (provider.Groups):
//
//   - A group lives in the network, not in one session: every number that is a member
//     sees the same group, whichever tenant runs it, as on WhatsApp. Its id is
//     "120363" + 12 digits + "@g.us", like the groups WhatsApp makes today.
//   - The creator is the super admin. Admins add, remove, promote and demote
//     participants, reset the invite code and change the settings; the subject and
//     description are anyone's to change until the group is info-admin-only. A
//     member that is not an admin gets ErrNotAllowed; a number that is not a member
//     gets ErrNotFound for the group (WhatsApp does not show it).
//   - Any sandbox number can be added, running or not; adding a number twice is the
//     participant error "already_participant", removing a non-member
//     "not_a_participant". A number whose session is not running misses the
//     notifications of the time it was down, as a phone that is off would not: the
//     sandbox does not queue them.
//   - A message to a group reaches every other member's running session, with the
//     group as chat and sender and the author as participant, unless the member
//     blocked the author. In a messages-admin-only group only admins send.
//   - Changes reach the members as WAHA's group.v2.* notifications: the numbers added
//     (or joining by code) get group.v2.join, the numbers removed (or leaving)
//     group.v2.leave, the others group.v2.participants; subject, description and
//     settings changes are group.v2.update to every member, the author included.
//
// Bounds: maxSandboxGroups groups in the network (more are refused) and
// maxGroupParticipants members per group (WhatsApp's own limit).
const (
	maxSandboxGroups     = 10_000
	maxGroupParticipants = 1024
)

// groupBook is the group state of a Network. Its lock is a leaf, like the contact
// book's: taken with no other lock held.
type groupBook struct {
	mu sync.Mutex
	// groups holds the groups by the local part of their id.
	groups map[string]*sandboxGroup
	// codes maps invite codes to group ids (local part).
	codes map[string]string
}

// sandboxGroup is one group. Its fields are under the book's lock.
type sandboxGroup struct {
	id          chatid.ID
	subject     string
	description string
	owner       string
	created     time.Time
	// members holds each member's role (participant, admin or superadmin), by number.
	members map[string]provider.GroupRole
	// order keeps the members in the order they joined, for a stable participant list.
	order             []string
	code              string
	infoAdminOnly     bool
	messagesAdminOnly bool
	// picture is the picture's URL, "" when none; pictures counts the pictures set,
	// which numbers their ids.
	picture  string
	pictures int
}

// infoLocked returns the group as its members see it.
func (g *sandboxGroup) infoLocked(withInvite bool) provider.GroupInfo {
	info := provider.GroupInfo{
		ID: g.id, Subject: g.subject, Description: g.description,
		Participants:           make([]provider.GroupParticipant, 0, len(g.order)),
		MembersCanAddNewMember: false, MembersCanSendMessages: !g.messagesAdminOnly,
		InfoAdminOnly: g.infoAdminOnly, MessagesAdminOnly: g.messagesAdminOnly,
		Owner:   chatid.ID{Local: g.owner, Server: chatid.User},
		Created: g.created.Unix(),
	}
	for _, phone := range g.order {
		info.Participants = append(info.Participants, provider.GroupParticipant{ID: userID(phone), Role: g.members[phone]})
	}
	if withInvite && g.code != "" {
		info.Invite = provider.InviteLink(g.code)
	}
	return info
}

func (g *sandboxGroup) join(phone string, role provider.GroupRole) {
	if _, ok := g.members[phone]; !ok {
		g.order = append(g.order, phone)
	}
	g.members[phone] = role
}

func (g *sandboxGroup) leave(phone string) {
	delete(g.members, phone)
	g.order = slices.DeleteFunc(g.order, func(p string) bool { return p == phone })
}

func isAdmin(r provider.GroupRole) bool {
	return r == provider.RoleAdmin || r == provider.RoleSuperAdmin
}

func userID(phone string) chatid.ID { return chatid.ID{Local: phone, Server: chatid.User} }

// memberLocked returns the group and me's role in it, or ErrNotFound when there is no
// such group or me is not a member.
func (b *groupBook) memberLocked(me string, group chatid.ID) (*sandboxGroup, provider.GroupRole, error) {
	g := b.groups[group.Local]
	if group.Server != chatid.Group || g == nil {
		return nil, "", fmt.Errorf("group %s: %w", group, provider.ErrNotFound)
	}
	role, ok := g.members[me]
	if !ok {
		return nil, "", fmt.Errorf("group %s: the session is not a participant: %w", group, provider.ErrNotFound)
	}
	return g, role, nil
}

// groupOp checks a group operation: the session is WORKING and group is a group id.
func (s *session) groupOp(op string, group chatid.ID) (string, error) {
	me, err := s.self(op)
	if err != nil {
		return "", err
	}
	if group.Server != chatid.Group {
		return "", s.errorf(op, fmt.Errorf("%s is not a group: %w", group, provider.ErrInvalidRecipient))
	}
	return me, nil
}

// groupMessage is one notification to one number, sent once the book's lock is
// released.
type groupMessage struct {
	to string
	ev provider.Event
}

// deliverGroup sends the notifications, each to its number's running session.
func (n *Network) deliverGroup(out []groupMessage) {
	for _, m := range out {
		if s := n.byPhone(m.to); s != nil {
			s.report(m.ev)
		}
	}
}

// toMembersLocked addresses ev to every member of g except skip.
func toMembersLocked(g *sandboxGroup, ev provider.Event, skip map[string]bool) []groupMessage {
	var out []groupMessage
	for _, phone := range g.order {
		if !skip[phone] {
			out = append(out, groupMessage{phone, ev})
		}
	}
	return out
}

// CreateGroup implements provider.Groups. The participants that are the session's own
// number or repeated are left out.
func (s *session) CreateGroup(ctx context.Context, subject string, participants []chatid.ID) (provider.GroupInfo, error) {
	const op = "creating a group"
	me, err := s.self(op)
	if err != nil {
		return provider.GroupInfo{}, err
	}
	phones := make([]string, 0, len(participants))
	for _, p := range participants {
		phone, err := s.contactPhone(op, me, p)
		if err != nil {
			return provider.GroupInfo{}, err
		}
		if phone != me && !slices.Contains(phones, phone) {
			phones = append(phones, phone)
		}
	}
	if len(phones)+1 > maxGroupParticipants {
		return provider.GroupInfo{}, s.errorf(op, fmt.Errorf("%d participants, at most %d: %w", len(phones)+1, maxGroupParticipants, provider.ErrNotAllowed))
	}
	id := s.net.groupID()
	b := &s.net.groups
	b.mu.Lock()
	if b.groups == nil {
		b.groups, b.codes = map[string]*sandboxGroup{}, map[string]string{}
	}
	if len(b.groups) >= maxSandboxGroups {
		b.mu.Unlock()
		return provider.GroupInfo{}, s.errorf(op, fmt.Errorf("the sandbox holds %d groups, its most: %w", maxSandboxGroups, provider.ErrNotAllowed))
	}
	g := &sandboxGroup{id: id, subject: subject, owner: me, created: s.net.clock.Now(), members: map[string]provider.GroupRole{}}
	g.join(me, provider.RoleSuperAdmin)
	for _, p := range phones {
		g.join(p, provider.RoleParticipant)
	}
	b.groups[id.Local] = g
	info := g.infoLocked(false)
	ts := s.net.clock.Now().UnixMilli()
	out := toMembersLocked(g, provider.GroupJoin{Timestamp: ts, Group: info}, nil)
	b.mu.Unlock()
	s.net.deliverGroup(out)
	return info, nil
}

// ListGroups implements provider.Groups.
func (s *session) ListGroups(ctx context.Context) ([]provider.GroupInfo, error) {
	me, err := s.self("listing groups")
	if err != nil {
		return nil, err
	}
	b := &s.net.groups
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []provider.GroupInfo
	for _, g := range b.groups {
		if role, ok := g.members[me]; ok {
			out = append(out, g.infoLocked(isAdmin(role)))
		}
	}
	return out, nil
}

// GroupInfo implements provider.Groups.
func (s *session) GroupInfo(ctx context.Context, group chatid.ID) (provider.GroupInfo, error) {
	const op = "getting a group"
	me, err := s.groupOp(op, group)
	if err != nil {
		return provider.GroupInfo{}, err
	}
	b := &s.net.groups
	b.mu.Lock()
	defer b.mu.Unlock()
	g, role, err := b.memberLocked(me, group)
	if err != nil {
		return provider.GroupInfo{}, s.errorf(op, err)
	}
	return g.infoLocked(isAdmin(role)), nil
}

// LeaveGroup implements provider.Groups. The last member leaving deletes the group; a
// super admin leaving hands nothing over (WhatsApp keeps the other admins).
func (s *session) LeaveGroup(ctx context.Context, group chatid.ID) error {
	const op = "leaving a group"
	me, err := s.groupOp(op, group)
	if err != nil {
		return err
	}
	b := &s.net.groups
	b.mu.Lock()
	g, _, err := b.memberLocked(me, group)
	if err != nil {
		b.mu.Unlock()
		return s.errorf(op, err)
	}
	g.leave(me)
	ts := s.net.clock.Now().UnixMilli()
	out := []groupMessage{{me, provider.GroupLeave{Timestamp: ts, Group: provider.GroupRef{ID: g.id}}}}
	out = append(out, toMembersLocked(g, provider.GroupParticipantsChange{Group: provider.GroupRef{ID: g.id}, Type: provider.ChangeLeave,
		Timestamp: ts, Participants: []provider.GroupParticipant{{ID: userID(me), Role: provider.RoleLeft}}, Author: userID(me)}, nil)...)
	if len(g.members) == 0 {
		delete(b.codes, g.code)
		delete(b.groups, g.id.Local)
	}
	b.mu.Unlock()
	s.net.deliverGroup(out)
	return nil
}

// changeInfo applies an info change (subject, description, a setting) for the session:
// needsAdmin says whether only admins may make it, apply makes it and returns what
// changed.
func (s *session) changeInfo(op string, group chatid.ID, needsAdmin func(*sandboxGroup) bool, apply func(*sandboxGroup) provider.GroupChanges) error {
	me, err := s.groupOp(op, group)
	if err != nil {
		return err
	}
	b := &s.net.groups
	b.mu.Lock()
	g, role, err := b.memberLocked(me, group)
	if err == nil && needsAdmin(g) && !isAdmin(role) {
		err = fmt.Errorf("group %s: the session is not an admin: %w", group, provider.ErrNotAllowed)
	}
	if err != nil {
		b.mu.Unlock()
		return s.errorf(op, err)
	}
	changes := apply(g)
	changes.ID = g.id
	out := toMembersLocked(g, provider.GroupUpdate{Timestamp: s.net.clock.Now().UnixMilli(), Group: changes, Author: userID(me)}, nil)
	b.mu.Unlock()
	s.net.deliverGroup(out)
	return nil
}

func infoLockedByAdmins(g *sandboxGroup) bool { return g.infoAdminOnly }

// SetGroupSubject implements provider.Groups.
func (s *session) SetGroupSubject(ctx context.Context, group chatid.ID, subject string) error {
	return s.changeInfo("setting a group's subject", group, infoLockedByAdmins, func(g *sandboxGroup) provider.GroupChanges {
		g.subject = subject
		return provider.GroupChanges{Subject: &subject}
	})
}

// SetGroupDescription implements provider.Groups.
func (s *session) SetGroupDescription(ctx context.Context, group chatid.ID, description string) error {
	return s.changeInfo("setting a group's description", group, infoLockedByAdmins, func(g *sandboxGroup) provider.GroupChanges {
		g.description = description
		return provider.GroupChanges{Description: &description}
	})
}

// GroupPictureURL implements provider.Groups: members only.
func (s *session) GroupPictureURL(ctx context.Context, group chatid.ID, refresh bool) (string, error) {
	const op = "getting a group's picture"
	me, err := s.groupOp(op, group)
	if err != nil {
		return "", err
	}
	b := &s.net.groups
	b.mu.Lock()
	defer b.mu.Unlock()
	g, _, err := b.memberLocked(me, group)
	if err != nil {
		return "", s.errorf(op, err)
	}
	return g.picture, nil
}

// SetGroupPicture implements provider.Groups: a JPEG or PNG (by data) or any URL,
// admins only once the group is info-admin-only. A picture set as data gets a made-up
// URL under pictureBase, as a profile picture does.
func (s *session) SetGroupPicture(ctx context.Context, group chatid.ID, picture provider.Media) error {
	const op = "setting a group's picture"
	if err := checkPicture(picture); err != nil {
		return s.errorf(op, err)
	}
	return s.changeInfo(op, group, infoLockedByAdmins, func(g *sandboxGroup) provider.GroupChanges {
		g.pictures++
		id := strconv.Itoa(g.pictures)
		g.picture = picture.URL
		if g.picture == "" {
			g.picture = pictureBase + g.id.Local + "/" + id + ".jpg"
		}
		return provider.GroupChanges{PictureID: &id}
	})
}

// DeleteGroupPicture implements provider.Groups. Removing none still reports the
// change to the members, as WhatsApp does.
func (s *session) DeleteGroupPicture(ctx context.Context, group chatid.ID) error {
	return s.changeInfo("deleting a group's picture", group, infoLockedByAdmins, func(g *sandboxGroup) provider.GroupChanges {
		g.picture = ""
		none := ""
		return provider.GroupChanges{PictureID: &none}
	})
}

// SetGroupSetting implements provider.Groups: admins only.
func (s *session) SetGroupSetting(ctx context.Context, group chatid.ID, setting provider.GroupSetting, on bool) error {
	if setting != provider.SettingInfoAdminOnly && setting != provider.SettingMessagesAdminOnly {
		return s.errorf("changing a group setting", fmt.Errorf("setting %q: %w", setting, provider.ErrUnsupported))
	}
	return s.changeInfo("changing a group setting", group, func(*sandboxGroup) bool { return true }, func(g *sandboxGroup) provider.GroupChanges {
		if setting == provider.SettingInfoAdminOnly {
			g.infoAdminOnly = on
			return provider.GroupChanges{InfoAdminOnly: &on}
		}
		g.messagesAdminOnly = on
		can := !on
		return provider.GroupChanges{MessagesAdminOnly: &on, MembersCanSendMessages: &can}
	})
}

// UpdateParticipants implements provider.Groups: admins only. The super admin cannot
// be demoted or removed by another admin.
func (s *session) UpdateParticipants(ctx context.Context, group chatid.ID, participants []chatid.ID, action provider.ParticipantAction) ([]provider.ParticipantResult, error) {
	const op = "changing group participants"
	me, err := s.groupOp(op, group)
	if err != nil {
		return nil, err
	}
	phones := make([]string, len(participants))
	for i, p := range participants {
		if phones[i], err = s.contactPhone(op, me, p); err != nil {
			return nil, err
		}
	}
	b := &s.net.groups
	b.mu.Lock()
	g, role, err := b.memberLocked(me, group)
	if err == nil && !isAdmin(role) {
		err = fmt.Errorf("group %s: the session is not an admin: %w", group, provider.ErrNotAllowed)
	}
	if err != nil {
		b.mu.Unlock()
		return nil, s.errorf(op, err)
	}
	results := make([]provider.ParticipantResult, len(participants))
	var changed []provider.GroupParticipant
	var changedPhones []string
	for i, phone := range phones {
		results[i].ID = participants[i]
		cur, member := g.members[phone]
		switch {
		case action == provider.ParticipantAdd && member:
			results[i].Error = "already_participant"
		case action == provider.ParticipantAdd && len(g.members) >= maxGroupParticipants:
			results[i].Error = "group_full"
		case action != provider.ParticipantAdd && !member:
			results[i].Error = "not_a_participant"
		case cur == provider.RoleSuperAdmin && phone != me && (action == provider.ParticipantRemove || action == provider.ParticipantDemote):
			results[i].Error = "not_allowed"
		default:
			next := provider.RoleParticipant
			switch action {
			case provider.ParticipantAdd:
				g.join(phone, provider.RoleParticipant)
			case provider.ParticipantRemove:
				g.leave(phone)
				next = provider.RoleLeft
			case provider.ParticipantPromote:
				if cur != provider.RoleSuperAdmin {
					g.members[phone] = provider.RoleAdmin
				}
				next = g.members[phone]
			case provider.ParticipantDemote:
				g.members[phone] = provider.RoleParticipant
			}
			changed = append(changed, provider.GroupParticipant{ID: userID(phone), Role: next})
			changedPhones = append(changedPhones, phone)
		}
	}
	var out []groupMessage
	if len(changed) > 0 {
		ts := s.net.clock.Now().UnixMilli()
		ref := provider.GroupRef{ID: g.id}
		skip := map[string]bool{}
		switch action {
		case provider.ParticipantAdd:
			info := g.infoLocked(false)
			for _, p := range changedPhones {
				skip[p] = true
				out = append(out, groupMessage{p, provider.GroupJoin{Timestamp: ts, Group: info}})
			}
		case provider.ParticipantRemove:
			for _, p := range changedPhones {
				out = append(out, groupMessage{p, provider.GroupLeave{Timestamp: ts, Group: ref}})
			}
		}
		kind := map[provider.ParticipantAction]string{provider.ParticipantAdd: provider.ChangeJoin, provider.ParticipantRemove: provider.ChangeLeave,
			provider.ParticipantPromote: provider.ChangePromote, provider.ParticipantDemote: provider.ChangeDemote}[action]
		out = append(out, toMembersLocked(g, provider.GroupParticipantsChange{Group: ref, Type: kind, Timestamp: ts,
			Participants: changed, Author: userID(me)}, skip)...)
	}
	b.mu.Unlock()
	s.net.deliverGroup(out)
	return results, nil
}

// InviteCode implements provider.Groups: admins only.
func (s *session) InviteCode(ctx context.Context, group chatid.ID, reset bool) (string, error) {
	const op = "getting a group's invite code"
	me, err := s.groupOp(op, group)
	if err != nil {
		return "", err
	}
	code := s.net.base64Rand(16)
	code = strings.NewReplacer("+", "A", "/", "B", "=", "").Replace(code)
	b := &s.net.groups
	b.mu.Lock()
	defer b.mu.Unlock()
	g, role, err := b.memberLocked(me, group)
	if err == nil && !isAdmin(role) {
		err = fmt.Errorf("group %s: the session is not an admin: %w", group, provider.ErrNotAllowed)
	}
	if err != nil {
		return "", s.errorf(op, err)
	}
	if g.code != "" && !reset {
		return g.code, nil
	}
	delete(b.codes, g.code)
	g.code = code
	b.codes[code] = g.id.Local
	return code, nil
}

// byCodeLocked returns the group of an invite code.
func (b *groupBook) byCodeLocked(code string) (*sandboxGroup, error) {
	g := b.groups[b.codes[code]]
	if code == "" || g == nil {
		return nil, fmt.Errorf("invite code %q: %w", code, provider.ErrNotFound)
	}
	return g, nil
}

// GroupInviteInfo implements provider.Groups.
func (s *session) GroupInviteInfo(ctx context.Context, code string) (provider.GroupInfo, error) {
	const op = "reading an invite"
	if _, err := s.self(op); err != nil {
		return provider.GroupInfo{}, err
	}
	b := &s.net.groups
	b.mu.Lock()
	defer b.mu.Unlock()
	g, err := b.byCodeLocked(code)
	if err != nil {
		return provider.GroupInfo{}, s.errorf(op, err)
	}
	return g.infoLocked(false), nil
}

// JoinGroup implements provider.Groups. Joining a group the session is in returns its
// id and changes nothing.
func (s *session) JoinGroup(ctx context.Context, code string) (chatid.ID, error) {
	const op = "joining a group"
	me, err := s.self(op)
	if err != nil {
		return chatid.ID{}, err
	}
	b := &s.net.groups
	b.mu.Lock()
	g, err := b.byCodeLocked(code)
	if err == nil && len(g.members) >= maxGroupParticipants {
		err = fmt.Errorf("group %s is full: %w", g.id, provider.ErrNotAllowed)
	}
	if err != nil {
		b.mu.Unlock()
		return chatid.ID{}, s.errorf(op, err)
	}
	if _, ok := g.members[me]; ok {
		b.mu.Unlock()
		return g.id, nil
	}
	g.join(me, provider.RoleParticipant)
	ts := s.net.clock.Now().UnixMilli()
	out := []groupMessage{{me, provider.GroupJoin{Timestamp: ts, Group: g.infoLocked(false)}}}
	out = append(out, toMembersLocked(g, provider.GroupParticipantsChange{Group: provider.GroupRef{ID: g.id}, Type: provider.ChangeJoin,
		Timestamp: ts, Participants: []provider.GroupParticipant{{ID: userID(me), Role: provider.RoleParticipant}}, Author: userID(me)},
		map[string]bool{me: true})...)
	b.mu.Unlock()
	s.net.deliverGroup(out)
	return g.id, nil
}

// groupRecipients checks that number from may send to group and returns the other
// members: ErrNotFound when from is not a member, ErrNotAllowed in a
// messages-admin-only group when from is not an admin.
func (n *Network) groupRecipients(from string, group chatid.ID) ([]string, error) {
	b := &n.groups
	b.mu.Lock()
	defer b.mu.Unlock()
	g, role, err := b.memberLocked(from, group)
	if err != nil {
		return nil, err
	}
	if g.messagesAdminOnly && !isAdmin(role) {
		return nil, fmt.Errorf("group %s: only admins send messages: %w", group, provider.ErrNotAllowed)
	}
	others := slices.DeleteFunc(slices.Clone(g.order), func(p string) bool { return p == from })
	return others, nil
}

// groupID returns a new group id.
func (n *Network) groupID() chatid.ID {
	var b strings.Builder
	b.WriteString("120363")
	for range 12 {
		b.WriteByte(byte('0' + n.intN(10)))
	}
	return chatid.ID{Local: b.String(), Server: chatid.Group}
}

// groupMembers returns the members of a group and their roles, for tests.
func (n *Network) groupMembers(group chatid.ID) map[string]provider.GroupRole {
	b := &n.groups
	b.mu.Lock()
	defer b.mu.Unlock()
	if g := b.groups[group.Local]; g != nil {
		return maps.Clone(g.members)
	}
	return nil
}

var _ provider.Groups = (*session)(nil)
