package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// groupFake is a fakeClient with whatsmeow's group calls: each records its arguments
// in log and answers from the fields, or fails with fail.
type groupFake struct {
	*fakeClient

	gmu    sync.Mutex
	log    []string
	fail   error              // every group call fails with it, when set
	info   *types.GroupInfo   // GetGroupInfo, GetGroupInfoFromLink, CreateGroup
	joined []*types.GroupInfo // GetJoinedGroups
	answer []types.GroupParticipant
	link   string    // GetGroupInviteLink
	joinTo types.JID // JoinGroupWithLink
}

func (c *groupFake) did(format string, args ...any) error {
	c.record(strings.Fields(format)[0])
	c.gmu.Lock()
	defer c.gmu.Unlock()
	c.log = append(c.log, fmt.Sprintf(format, args...))
	return c.fail
}

// calls returns the log and empties it.
func (c *groupFake) calls() []string {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	out := c.log
	c.log = nil
	return out
}

func (c *groupFake) set(f func(*groupFake)) {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	f(c)
}

func (c *groupFake) CreateGroup(ctx context.Context, req wm.ReqCreateGroup) (*types.GroupInfo, error) {
	if err := c.did("CreateGroup %s %v", req.Name, req.Participants); err != nil {
		return nil, err
	}
	return c.info, nil
}

func (c *groupFake) GetJoinedGroups(ctx context.Context) ([]*types.GroupInfo, error) {
	if err := c.did("GetJoinedGroups"); err != nil {
		return nil, err
	}
	return c.joined, nil
}

func (c *groupFake) GetGroupInfo(ctx context.Context, j types.JID) (*types.GroupInfo, error) {
	if err := c.did("GetGroupInfo %s", j); err != nil {
		return nil, err
	}
	return c.info, nil
}

func (c *groupFake) LeaveGroup(ctx context.Context, j types.JID) error {
	return c.did("LeaveGroup %s", j)
}

func (c *groupFake) SetGroupName(ctx context.Context, j types.JID, name string) error {
	return c.did("SetGroupName %s %s", j, name)
}

func (c *groupFake) SetGroupTopic(ctx context.Context, j types.JID, prev, id, topic string) error {
	return c.did("SetGroupTopic %s prev=%s new=%s topic=%s", j, prev, id, topic)
}

func (c *groupFake) SetGroupLocked(ctx context.Context, j types.JID, locked bool) error {
	return c.did("SetGroupLocked %s %v", j, locked)
}

func (c *groupFake) SetGroupAnnounce(ctx context.Context, j types.JID, announce bool) error {
	return c.did("SetGroupAnnounce %s %v", j, announce)
}

func (c *groupFake) UpdateGroupParticipants(ctx context.Context, j types.JID, changes []types.JID, action wm.ParticipantChange) ([]types.GroupParticipant, error) {
	if err := c.did("UpdateGroupParticipants %s %s %v", j, action, changes); err != nil {
		return nil, err
	}
	return c.answer, nil
}

func (c *groupFake) GetGroupInviteLink(ctx context.Context, j types.JID, reset bool) (string, error) {
	if err := c.did("GetGroupInviteLink %s %v", j, reset); err != nil {
		return "", err
	}
	return c.link, nil
}

func (c *groupFake) GetGroupInfoFromLink(ctx context.Context, code string) (*types.GroupInfo, error) {
	if err := c.did("GetGroupInfoFromLink %s", code); err != nil {
		return nil, err
	}
	return c.info, nil
}

func (c *groupFake) JoinGroupWithLink(ctx context.Context, code string) (types.JID, error) {
	if err := c.did("JoinGroupWithLink %s", code); err != nil {
		return types.JID{}, err
	}
	return c.joinTo, nil
}

var _ groupClient = (*groupFake)(nil)

// groupRig is a rig whose clients are groupFakes, started and WORKING.
func groupRig(t *testing.T) (*rig, *groupFake) {
	t.Helper()
	r := newRig(t)
	var last *groupFake
	var mu sync.Mutex
	r.f = NewFactory(r.cfg, r.db, WithClientFactory(func(d *wmstore.Device, l waLog.Logger) Client {
		gf := &groupFake{fakeClient: r.newClient(d, l).(*fakeClient)}
		mu.Lock()
		last = gf
		mu.Unlock()
		return gf
	}))
	r.p = r.build()
	r.startPaired()
	mu.Lock()
	defer mu.Unlock()
	return r, last
}

var (
	bobLID   = types.NewJID("100000000000002", types.HiddenUserServer)
	carolLID = types.NewJID("100000000000003", types.HiddenUserServer)
	meLID    = types.NewJID("100000000000009", types.HiddenUserServer)
	groupID  = chatid.MustParse("120363000000000001@g.us")
	created  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// lidGroup is a LID-addressed group as whatsmeow parses it: the session (super admin)
// by phone number, alice by LID with her number beside it, bob by LID (the map knows
// his number), carol by LID alone, and one participant WhatsApp refused.
func lidGroup() *types.GroupInfo {
	return &types.GroupInfo{
		JID: groupJID, OwnerJID: meLID, OwnerPN: mePN,
		GroupName:      types.GroupName{Name: "Team"},
		GroupTopic:     types.GroupTopic{Topic: "Our team", TopicID: "T1"},
		GroupLocked:    types.GroupLocked{IsLocked: true},
		GroupAnnounce:  types.GroupAnnounce{IsAnnounce: true},
		AddressingMode: types.AddressingModeLID, GroupCreated: created, MemberAddMode: types.GroupMemberAddModeAdmin,
		Participants: []types.GroupParticipant{
			{JID: mePN, PhoneNumber: mePN, IsAdmin: true, IsSuperAdmin: true},
			{JID: aliceLID, LID: aliceLID, PhoneNumber: alicePN, IsAdmin: true},
			{JID: bobLID, LID: bobLID},
			{JID: carolLID, LID: carolLID},
			{JID: types.NewJID("15551230009", types.DefaultUserServer), Error: 403},
		},
	}
}

// wantGroup is lidGroup as the provider reports it.
func wantGroup() provider.GroupInfo {
	return provider.GroupInfo{
		ID: groupID, Subject: "Team", Description: "Our team",
		Participants: []provider.GroupParticipant{
			{ID: chatid.MustParse("15551230000@c.us"), Role: provider.RoleSuperAdmin},
			{ID: aliceID, Role: provider.RoleAdmin},
			{ID: chatid.MustParse("15551230002@c.us"), Role: provider.RoleParticipant},
			{ID: chatid.MustParse("100000000000003@lid"), Role: provider.RoleParticipant},
		},
		MembersCanSendMessages: false, InfoAdminOnly: true, MessagesAdminOnly: true,
		Owner: chatid.MustParse("15551230000@c.us"), Created: created.Unix(),
	}
}

func mapBob(t *testing.T, r *rig) {
	t.Helper()
	if err := r.p.container.LIDMap.PutLIDMapping(ctxT(t), bobLID, bobPN); err != nil {
		t.Fatal(err)
	}
}

// groupMethods calls every method of provider.Groups with good arguments.
var groupMethods = []struct {
	name string
	call func(ctx context.Context, p *Provider) (any, error)
}{
	{"CreateGroup", func(ctx context.Context, p *Provider) (any, error) {
		return p.CreateGroup(ctx, "Team", []chatid.ID{aliceID, chatid.MustParse("15551230002"), chatid.MustParse("15551230000"), aliceID, aliceLId})
	}},
	{"ListGroups", func(ctx context.Context, p *Provider) (any, error) { return p.ListGroups(ctx) }},
	{"GroupInfo", func(ctx context.Context, p *Provider) (any, error) { return p.GroupInfo(ctx, groupID) }},
	{"LeaveGroup", func(ctx context.Context, p *Provider) (any, error) { return nil, p.LeaveGroup(ctx, groupID) }},
	{"SetGroupSubject", func(ctx context.Context, p *Provider) (any, error) {
		return nil, p.SetGroupSubject(ctx, groupID, "Team 2")
	}},
	{"SetGroupDescription", func(ctx context.Context, p *Provider) (any, error) {
		return nil, p.SetGroupDescription(ctx, groupID, "New text")
	}},
	{"SetGroupSetting info", func(ctx context.Context, p *Provider) (any, error) {
		return nil, p.SetGroupSetting(ctx, groupID, provider.SettingInfoAdminOnly, true)
	}},
	{"SetGroupSetting messages", func(ctx context.Context, p *Provider) (any, error) {
		return nil, p.SetGroupSetting(ctx, groupID, provider.SettingMessagesAdminOnly, false)
	}},
	{"UpdateParticipants", func(ctx context.Context, p *Provider) (any, error) {
		return p.UpdateParticipants(ctx, groupID, []chatid.ID{aliceID, chatid.MustParse("15551230002"), chatid.MustParse("15551230003"),
			chatid.MustParse("15551230004"), chatid.MustParse("15551230005")}, provider.ParticipantAdd)
	}},
	{"InviteCode", func(ctx context.Context, p *Provider) (any, error) { return p.InviteCode(ctx, groupID, true) }},
	{"GroupInviteInfo", func(ctx context.Context, p *Provider) (any, error) {
		return p.GroupInviteInfo(ctx, "https://chat.whatsapp.com/AbC123xyz")
	}},
	{"JoinGroup", func(ctx context.Context, p *Provider) (any, error) { return p.JoinGroup(ctx, "AbC123xyz") }},
}

// Each method makes the whatsmeow calls it should, with the arguments it should, and
// maps the answer.
func TestGroupCalls(t *testing.T) {
	r, c := groupRig(t)
	mapBob(t, r)
	g := "120363000000000001@g.us"
	c.set(func(c *groupFake) {
		c.info = lidGroup()
		c.joined = []*types.GroupInfo{lidGroup(), nil, {JID: types.NewJID("x", types.BotServer)}}
		c.answer = []types.GroupParticipant{
			{JID: aliceLID, LID: aliceLID, PhoneNumber: alicePN},
			{JID: bobPN, Error: 403},
			{JID: types.NewJID("15551230003", types.DefaultUserServer), Error: 409},
			{JID: types.NewJID("15551230004", types.DefaultUserServer), Error: 500},
		}
		c.link = "https://chat.whatsapp.com/K3yC0de"
		c.joinTo = groupJID
	})
	want := map[string]struct {
		log    []string
		result any
	}{
		"CreateGroup":              {[]string{"CreateGroup Team [15551230001@s.whatsapp.net 15551230002@s.whatsapp.net 100000000000001@lid]"}, wantGroup()},
		"ListGroups":               {[]string{"GetJoinedGroups"}, []provider.GroupInfo{wantGroup()}},
		"GroupInfo":                {[]string{"GetGroupInfo " + g}, wantGroup()},
		"LeaveGroup":               {[]string{"LeaveGroup " + g}, nil},
		"SetGroupSubject":          {[]string{"SetGroupName " + g + " Team 2"}, nil},
		"SetGroupDescription":      {[]string{"GetGroupInfo " + g, "SetGroupTopic " + g + " prev=T1 new= topic=New text"}, nil},
		"SetGroupSetting info":     {[]string{"SetGroupLocked " + g + " true"}, nil},
		"SetGroupSetting messages": {[]string{"SetGroupAnnounce " + g + " false"}, nil},
		"UpdateParticipants": {[]string{"UpdateGroupParticipants " + g + " add [15551230001@s.whatsapp.net 15551230002@s.whatsapp.net " +
			"15551230003@s.whatsapp.net 15551230004@s.whatsapp.net 15551230005@s.whatsapp.net]"},
			[]provider.ParticipantResult{{ID: aliceID}, {ID: chatid.MustParse("15551230002"), Error: "privacy"},
				{ID: chatid.MustParse("15551230003"), Error: "already_participant"}, {ID: chatid.MustParse("15551230004"), Error: "error_500"},
				{ID: chatid.MustParse("15551230005"), Error: "no_answer"}}},
		"InviteCode":      {[]string{"GetGroupInviteLink " + g + " true"}, "K3yC0de"},
		"GroupInviteInfo": {[]string{"GetGroupInfoFromLink AbC123xyz"}, wantGroup()},
		"JoinGroup":       {[]string{"JoinGroupWithLink AbC123xyz"}, groupID},
	}
	for _, m := range groupMethods {
		w, ok := want[m.name]
		if !ok {
			t.Fatalf("%s: no expectation", m.name)
		}
		got, err := m.call(ctxT(t), r.p)
		if err != nil {
			t.Errorf("%s: %v", m.name, err)
			continue
		}
		if log := c.calls(); !slices.Equal(log, w.log) {
			t.Errorf("%s: calls\n %q\nwant\n %q", m.name, log, w.log)
		}
		if w.result != nil && !reflect.DeepEqual(got, w.result) {
			t.Errorf("%s: result\n %+v\nwant\n %+v", m.name, got, w.result)
		}
	}

	// Removing: a participant WhatsApp answers by LID is matched through the LID map;
	// 404 is a non-member.
	c.set(func(c *groupFake) { c.answer = []types.GroupParticipant{{JID: bobLID}, {JID: alicePN, Error: 404}} })
	res, err := r.p.UpdateParticipants(ctxT(t), groupID, []chatid.ID{chatid.MustParse("15551230002"), aliceID}, provider.ParticipantRemove)
	if want := []provider.ParticipantResult{{ID: chatid.MustParse("15551230002")}, {ID: aliceID, Error: "not_a_participant"}}; err != nil || !slices.Equal(res, want) {
		t.Errorf("remove: %+v %v, want %+v", res, err, want)
	}
	// Removing the description sends the empty topic (whatsmeow deletes it).
	c.calls()
	if err := r.p.SetGroupDescription(ctxT(t), groupID, ""); err != nil {
		t.Fatal(err)
	}
	if log := c.calls(); len(log) != 2 || log[1] != "SetGroupTopic "+g+" prev=T1 new= topic=" {
		t.Errorf("removing the description: %q", log)
	}
}

// WhatsApp's errors become the contract's, for every method.
func TestGroupErrors(t *testing.T) {
	r, c := groupRig(t)
	c.set(func(c *groupFake) { c.info, c.link, c.joinTo = lidGroup(), "https://chat.whatsapp.com/K", groupJID })
	other := errors.New("boom")
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: none of the contract's
	}{
		{"group not found", fmt.Errorf("%w (%w)", wm.ErrGroupNotFound, wm.ErrIQNotFound), provider.ErrNotFound},
		// whatsmeow's ErrNotInGroup wraps the 403 it came as: not found, not refused.
		{"not in group", fmt.Errorf("%w (%w)", wm.ErrNotInGroup, wm.ErrIQForbidden), provider.ErrNotFound},
		{"404", &wm.IQError{Code: 404, Text: "item-not-found"}, provider.ErrNotFound},
		{"invite revoked", fmt.Errorf("%w (%w)", wm.ErrInviteLinkRevoked, wm.ErrIQGone), provider.ErrNotFound},
		{"invite invalid", fmt.Errorf("%w (%w)", wm.ErrInviteLinkInvalid, wm.ErrIQNotAcceptable), provider.ErrNotFound},
		{"403", &wm.IQError{Code: 403, Text: "forbidden"}, provider.ErrNotAllowed},
		{"401", &wm.IQError{Code: 401, Text: "not-authorized"}, provider.ErrNotAllowed},
		{"invite unauthorized", fmt.Errorf("%w (%w)", wm.ErrGroupInviteLinkUnauthorized, wm.ErrIQNotAuthorized), provider.ErrNotAllowed},
		{"not connected", wm.ErrNotConnected, provider.ErrNotConnected},
		{"disconnected", wm.ErrIQDisconnected, provider.ErrNotConnected},
		{"other", other, nil},
	} {
		c.set(func(c *groupFake) { c.fail = tc.err })
		for _, m := range groupMethods {
			_, err := m.call(ctxT(t), r.p)
			if err == nil || !errors.Is(err, tc.err) {
				t.Errorf("%s, %s: %v, want it wrapping %v", tc.name, m.name, err, tc.err)
				continue
			}
			for _, sentinel := range []error{provider.ErrNotFound, provider.ErrNotAllowed, provider.ErrNotConnected} {
				if errors.Is(err, sentinel) != (sentinel == tc.want) {
					t.Errorf("%s, %s: %v; is %v: %v", tc.name, m.name, err, sentinel, !(sentinel == tc.want))
				}
			}
		}
	}
}

// Bad input is refused before WhatsApp is asked, and never panics.
func TestGroupBadInput(t *testing.T) {
	r, c := groupRig(t)
	ctx := ctxT(t)
	user := chatid.MustParse("15551230001")
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"info of a user", func() error { _, err := r.p.GroupInfo(ctx, user); return err }, provider.ErrInvalidRecipient},
		{"leave the zero id", func() error { return r.p.LeaveGroup(ctx, chatid.ID{}) }, provider.ErrInvalidRecipient},
		{"create with a group member", func() error { _, err := r.p.CreateGroup(ctx, "x", []chatid.ID{groupID}); return err }, provider.ErrInvalidRecipient},
		{"add a group", func() error {
			_, err := r.p.UpdateParticipants(ctx, groupID, []chatid.ID{groupID}, provider.ParticipantAdd)
			return err
		}, provider.ErrInvalidRecipient},
		{"unknown action", func() error { _, err := r.p.UpdateParticipants(ctx, groupID, []chatid.ID{user}, "kick"); return err }, provider.ErrUnsupported},
		{"unknown setting", func() error { return r.p.SetGroupSetting(ctx, groupID, "ephemeral", true) }, provider.ErrUnsupported},
		{"empty invite", func() error { _, err := r.p.GroupInviteInfo(ctx, ""); return err }, provider.ErrNotFound},
		{"bare link", func() error { _, err := r.p.JoinGroup(ctx, wm.InviteLinkPrefix); return err }, provider.ErrNotFound},
		{"invite with a path", func() error { _, err := r.p.JoinGroup(ctx, "abc/../def"); return err }, provider.ErrNotFound},
		{"long invite", func() error { _, err := r.p.GroupInviteInfo(ctx, strings.Repeat("a", 65)); return err }, provider.ErrNotFound},
		// WhatsApp answering nothing is an unknown group, not a panic.
		{"no group answered", func() error { _, err := r.p.GroupInfo(ctx, groupID); return err }, provider.ErrNotFound},
		{"description of no group", func() error { return r.p.SetGroupDescription(ctx, groupID, "x") }, provider.ErrNotFound},
	} {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if log := c.calls(); !slices.Equal(log, []string{"GetGroupInfo 120363000000000001@g.us", "GetGroupInfo 120363000000000001@g.us"}) {
		t.Errorf("calls made for bad input: %q", log)
	}
	if res, err := r.p.UpdateParticipants(ctx, groupID, nil, provider.ParticipantAdd); err != nil || len(res) != 0 || len(c.calls()) != 0 {
		t.Errorf("no participants: %v %v", res, err)
	}
	// An invite link WhatsApp answers empty, a joined JID that is no group.
	if _, err := r.p.InviteCode(ctx, groupID, false); err == nil {
		t.Error("empty invite link: no error")
	}
	c.set(func(c *groupFake) { c.joinTo = alicePN })
	if _, err := r.p.JoinGroup(ctx, "K"); !errors.Is(err, ErrUnsupportedJID) {
		t.Errorf("joined a user: %v", err)
	}
}

// Without a connection every method is ErrNotConnected; a client without the group
// calls is ErrUnsupported (the API's 501).
func TestGroupsNotConnected(t *testing.T) {
	r := newRig(t)
	r.startPaired()
	for _, m := range groupMethods {
		if _, err := m.call(ctxT(t), r.p); !errors.Is(err, provider.ErrUnsupported) {
			t.Errorf("%s on a client without group calls: %v", m.name, err)
		}
	}
	if err := r.p.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for _, m := range groupMethods {
		if _, err := m.call(ctxT(t), r.p); !errors.Is(err, provider.ErrNotConnected) {
			t.Errorf("%s when stopped: %v", m.name, err)
		}
	}
}

// WhatsApp's group notifications become group.v2.* notifications as this session sees
// them: its own joins and leaves, others' changes, info changes.
func TestGroupEvents(t *testing.T) {
	r, c := groupRig(t)
	mapBob(t, r)
	// whatsmeow stores the LID pairs a notification carries before it dispatches it.
	if err := r.p.container.LIDMap.PutLIDMapping(ctxT(t), aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	run, _ := r.p.current()
	run.device.LID = meLID // pushed before the events below: the queue orders it
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ms := at.UnixMilli()
	ref := provider.GroupRef{ID: groupID}
	alice, bob := aliceID, chatid.MustParse("15551230002")
	carol := chatid.MustParse("100000000000003@lid")
	group2 := types.NewJID("120363000000000002", types.GroupServer)
	info2 := lidGroup()
	info2.JID = group2
	want2 := wantGroup()
	want2.ID = chatid.MustParse("120363000000000002@g.us")
	c.set(func(c *groupFake) { c.info = info2 })

	expect := func(name string, want provider.Event) {
		t.Helper()
		if got := r.next(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n %#v\nwant\n %#v", name, got, want)
		}
	}
	str := func(s string) *string { return &s }
	yes, no := true, false

	// Added to a group by LID: the group is read again, and reported once although
	// WhatsApp tells the device twice.
	c.emit(&events.GroupInfo{JID: group2, Timestamp: at, Sender: &alicePN, Join: []types.JID{meLID}})
	expect("added", provider.GroupJoin{Timestamp: ms, Group: want2})
	if log := c.calls(); !slices.Equal(log, []string{"GetGroupInfo " + group2.String()}) {
		t.Errorf("added: calls %q", log)
	}
	c.emit(&events.JoinedGroup{GroupInfo: *info2})
	r.quiet()

	// Created: the group as WhatsApp sent it, at its creation time.
	c.emit(&events.JoinedGroup{Type: "new", GroupInfo: *lidGroup()})
	expect("created", provider.GroupJoin{Timestamp: created.UnixMilli(), Group: wantGroup()})

	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Sender: &aliceLID, SenderPN: &alicePN, Join: []types.JID{alicePN, bobLID}})
	expect("others joined", provider.GroupParticipantsChange{Group: ref, Type: provider.ChangeJoin, Timestamp: ms, Author: alice,
		Participants: []provider.GroupParticipant{{ID: alice, Role: provider.RoleParticipant}, {ID: bob, Role: provider.RoleParticipant}}})
	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Leave: []types.JID{carolLID}})
	expect("other left", provider.GroupParticipantsChange{Group: ref, Type: provider.ChangeLeave, Timestamp: ms,
		Participants: []provider.GroupParticipant{{ID: carol, Role: provider.RoleLeft}}})
	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Sender: &mePN, Promote: []types.JID{aliceLID}, Demote: []types.JID{bobPN}})
	me := chatid.MustParse("15551230000")
	expect("promoted", provider.GroupParticipantsChange{Group: ref, Type: provider.ChangePromote, Timestamp: ms, Author: me,
		Participants: []provider.GroupParticipant{{ID: alice, Role: provider.RoleAdmin}}})
	expect("demoted", provider.GroupParticipantsChange{Group: ref, Type: provider.ChangeDemote, Timestamp: ms, Author: me,
		Participants: []provider.GroupParticipant{{ID: bob, Role: provider.RoleParticipant}}})

	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Sender: &bobLID, Name: &types.GroupName{Name: "Team 2"},
		Topic: &types.GroupTopic{Topic: "old", TopicDeleted: true}, Locked: &types.GroupLocked{IsLocked: false},
		Announce: &types.GroupAnnounce{IsAnnounce: true}})
	expect("info changed", provider.GroupUpdate{Timestamp: ms, Author: bob, Group: provider.GroupChanges{ID: groupID,
		Subject: str("Team 2"), Description: str(""), InfoAdminOnly: &no, MessagesAdminOnly: &yes, MembersCanSendMessages: &no}})
	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Topic: &types.GroupTopic{Topic: "Hello"}})
	expect("description set", provider.GroupUpdate{Timestamp: ms, Group: provider.GroupChanges{ID: groupID, Description: str("Hello")}})

	// Removed, then added again while WhatsApp does not answer: the group's id only.
	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Sender: &alicePN, Leave: []types.JID{mePN}})
	expect("removed", provider.GroupLeave{Timestamp: ms, Group: ref})
	c.set(func(c *groupFake) { c.fail = wm.ErrIQDisconnected })
	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Join: []types.JID{mePN}})
	expect("added again", provider.GroupJoin{Timestamp: ms, Group: provider.GroupInfo{ID: groupID}})
	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Delete: &types.GroupDelete{Deleted: true}})
	expect("deleted", provider.GroupLeave{Timestamp: ms, Group: ref})

	// Joined by link, in a group not "new": now.
	before := time.Now().UnixMilli()
	c.emit(&events.JoinedGroup{Reason: "invite", GroupInfo: *lidGroup()})
	if ev, ok := r.next().(provider.GroupJoin); !ok || ev.Timestamp < before || ev.Timestamp > time.Now().UnixMilli() || ev.Group.ID != groupID {
		t.Errorf("joined by link: %#v", ev)
	}

	// Not reported: disappearing timers, a group id that is not one, an empty group.
	c.emit(&events.GroupInfo{JID: groupJID, Timestamp: at, Ephemeral: &types.GroupEphemeral{IsEphemeral: true}})
	c.emit(&events.GroupInfo{JID: alicePN, Timestamp: at, Name: &types.GroupName{Name: "x"}})
	c.emit(&events.JoinedGroup{})
	r.quiet()
	for _, n := range []struct {
		ev   provider.Notification
		name string
	}{{provider.GroupJoin{}, "group.v2.join"}, {provider.GroupLeave{}, "group.v2.leave"},
		{provider.GroupParticipantsChange{}, "group.v2.participants"}, {provider.GroupUpdate{}, "group.v2.update"}} {
		if n.ev.EventName() != n.name {
			t.Errorf("%T: %q", n.ev, n.ev.EventName())
		}
	}
}
