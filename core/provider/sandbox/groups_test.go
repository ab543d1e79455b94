package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// groupFixture is three linked numbers, each on its own tenant (groups live in the
// network), and delivered acks at once.
func groupFixture(t *testing.T) (f *fixture, s [3]*session, rec [3]*recorder) {
	t.Helper()
	cfg := testConfig()
	cfg.ReadDelay = 0
	f = newFixture(t, cfg)
	for i, phone := range []string{"15550000001", "15550000002", "15550000003"} {
		p, r := f.linked("tenant-"+phone, "s", phone)
		s[i], rec[i] = p.(*session), r
	}
	return f, s, rec
}

// takeKind takes events until one of type T, failing after 20 others.
func takeKind[T any](t *testing.T, r *recorder) T {
	t.Helper()
	return takeWhere(t, r, func(T) bool { return true })
}

// takeWhere takes events until one of type T that match accepts, failing after 20
// others.
func takeWhere[T any](t *testing.T, r *recorder, match func(T) bool) T {
	t.Helper()
	for range 20 {
		if v, ok := r.take().(T); ok && match(v) {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T among the next 20 events", zero)
	return zero
}

var carolID = chatid.MustParse("15550000003@c.us")

func TestSandboxGroupLifecycle(t *testing.T) {
	ctx := context.Background()
	_, s, rec := groupFixture(t)
	a, b, c := s[0], s[1], s[2]

	g, err := a.CreateGroup(ctx, "Team", []chatid.ID{bobID, carolID, bobID, aliceID})
	if err != nil {
		t.Fatal(err)
	}
	if !g.ID.IsGroup() || len(g.ID.Local) != 18 || g.Subject != "Team" || len(g.Participants) != 3 {
		t.Fatalf("created %+v", g)
	}
	if g.Role(aliceID) != provider.RoleSuperAdmin || g.Role(bobID) != provider.RoleParticipant || g.Role(carolID) != provider.RoleParticipant {
		t.Fatalf("roles %+v", g.Participants)
	}
	for i, r := range rec {
		if j := takeKind[provider.GroupJoin](t, r); j.Group.ID != g.ID {
			t.Fatalf("member %d joined %v", i, j.Group.ID)
		}
	}

	// A message to the group reaches the other members with the author as participant.
	res, err := b.Send(ctx, text(g.ID.String(), "hello team"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*recorder{rec[0], rec[2]} {
		m := takeKind[provider.MessageEvent](t, r).Message
		if m.ChatID != g.ID || m.From != g.ID || m.Participant != bobID || m.Text != "hello team" || m.ProviderID != res.ProviderID {
			t.Fatalf("group message %+v", m)
		}
	}

	// Only admins change participants.
	if _, err := b.UpdateParticipants(ctx, g.ID, []chatid.ID{carolID}, provider.ParticipantPromote); !errors.Is(err, provider.ErrNotAllowed) {
		t.Fatalf("promote by a member: %v", err)
	}
	out, err := a.UpdateParticipants(ctx, g.ID, []chatid.ID{bobID, chatid.MustParse("15550000009@c.us")}, provider.ParticipantPromote)
	if err != nil || out[0].Error != "" || out[1].Error != "not_a_participant" {
		t.Fatalf("promote: %+v %v", out, err)
	}
	ch := takeKind[provider.GroupParticipantsChange](t, rec[2])
	if ch.Type != provider.ChangePromote || len(ch.Participants) != 1 || ch.Participants[0].ID != bobID || ch.Participants[0].Role != provider.RoleAdmin || ch.Author != aliceID {
		t.Fatalf("promote seen by carol: %+v", ch)
	}
	// An admin may not demote the super admin.
	if out, _ := b.UpdateParticipants(ctx, g.ID, []chatid.ID{aliceID}, provider.ParticipantDemote); out[0].Error != "not_allowed" {
		t.Fatalf("demote the owner: %+v", out)
	}

	// Settings: messages-admin-only stops carol sending.
	if err := c.SetGroupSetting(ctx, g.ID, provider.SettingMessagesAdminOnly, true); !errors.Is(err, provider.ErrNotAllowed) {
		t.Fatalf("setting by a member: %v", err)
	}
	if err := b.SetGroupSetting(ctx, g.ID, provider.SettingMessagesAdminOnly, true); err != nil {
		t.Fatal(err)
	}
	up := takeKind[provider.GroupUpdate](t, rec[2])
	if up.Group.MessagesAdminOnly == nil || !*up.Group.MessagesAdminOnly || up.Group.Subject != nil {
		t.Fatalf("update %+v", up)
	}
	var se *provider.SendError
	if _, err := c.Send(ctx, text(g.ID.String(), "may I?")); !errors.As(err, &se) || se.Code != CodeNotAllowed {
		t.Fatalf("member send in an announce group: %v", err)
	}
	// Subject: anyone's until info-admin-only.
	if err := c.SetGroupSubject(ctx, g.ID, "Team 2"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetGroupSetting(ctx, g.ID, provider.SettingInfoAdminOnly, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SetGroupDescription(ctx, g.ID, "x"); !errors.Is(err, provider.ErrNotAllowed) {
		t.Fatalf("description by a member of a locked group: %v", err)
	}

	// Invites: admins get the code; another number joins with it.
	if _, err := c.InviteCode(ctx, g.ID, false); !errors.Is(err, provider.ErrNotAllowed) {
		t.Fatalf("invite code by a member: %v", err)
	}
	code, err := a.InviteCode(ctx, g.ID, false)
	if again, _ := a.InviteCode(ctx, g.ID, false); err != nil || code == "" || again != code {
		t.Fatalf("invite code %q %q %v", code, again, err)
	}
	reset, _ := a.InviteCode(ctx, g.ID, true)
	if reset == code {
		t.Fatal("reset kept the code")
	}
	if _, err := c.GroupInviteInfo(ctx, code); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("revoked code: %v", err)
	}

	// Carol leaves: she gets group.v2.leave, the others group.v2.participants, and the
	// group is gone for her.
	if err := c.LeaveGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	takeKind[provider.GroupLeave](t, rec[2])
	leave := func(ch provider.GroupParticipantsChange) bool { return ch.Type == provider.ChangeLeave }
	if ch := takeWhere(t, rec[0], leave); ch.Participants[0].ID != carolID || ch.Participants[0].Role != provider.RoleLeft {
		t.Fatalf("leave seen by alice: %+v", ch)
	}
	if _, err := c.GroupInfo(ctx, g.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("info after leaving: %v", err)
	}
	var sendErr *provider.SendError
	if _, err := c.Send(ctx, text(g.ID.String(), "still here?")); !errors.As(err, &sendErr) || sendErr.Code != CodeNotParticipant {
		t.Fatalf("send after leaving: %v", err)
	}
	// ... and rejoins by the new code.
	info, err := c.GroupInviteInfo(ctx, reset)
	if err != nil || info.ID != g.ID || info.Subject != "Team 2" {
		t.Fatalf("invite info %+v %v", info, err)
	}
	if id, err := c.JoinGroup(ctx, reset); err != nil || id != g.ID {
		t.Fatalf("join %v %v", id, err)
	}
	if got := a.net.groupMembers(g.ID); got["15550000003"] != provider.RoleParticipant || len(got) != 3 {
		t.Fatalf("members after rejoin %v", got)
	}
	list, err := b.ListGroups(ctx)
	if err != nil || len(list) != 1 || list[0].ID != g.ID || list[0].Invite == "" {
		t.Fatalf("bob's groups (an admin sees the invite) %+v %v", list, err)
	}
}

// A group message skips a member who blocked the author.
func TestSandboxGroupBlock(t *testing.T) {
	ctx := context.Background()
	_, s, rec := groupFixture(t)
	g, err := s[0].CreateGroup(ctx, "G", []chatid.ID{bobID, carolID})
	if err != nil {
		t.Fatal(err)
	}
	if err := s[2].Block(ctx, aliceID); err != nil {
		t.Fatal(err)
	}
	if _, err := s[0].Send(ctx, text(g.ID.String(), "hi")); err != nil {
		t.Fatal(err)
	}
	takeKind[provider.MessageEvent](t, rec[1])
	for {
		rec[2].mu.Lock()
		n := len(rec[2].events) - rec[2].next
		rec[2].mu.Unlock()
		if n == 0 {
			break
		}
		if m, ok := rec[2].take().(provider.MessageEvent); ok {
			t.Fatalf("carol got %+v though she blocked alice", m)
		}
	}
}

func TestSandboxGroupBadInput(t *testing.T) {
	ctx := context.Background()
	_, s, _ := groupFixture(t)
	a := s[0]
	if _, err := a.GroupInfo(ctx, bobID); !errors.Is(err, provider.ErrInvalidRecipient) {
		t.Fatalf("a user as group: %v", err)
	}
	unknown := chatid.MustParse("120363000000000000@g.us")
	if _, err := a.GroupInfo(ctx, unknown); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("unknown group: %v", err)
	}
	if _, err := a.JoinGroup(ctx, "nope"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("unknown code: %v", err)
	}
	if _, err := a.CreateGroup(ctx, "x", []chatid.ID{unknown}); !errors.Is(err, provider.ErrInvalidRecipient) {
		t.Fatalf("a group as participant: %v", err)
	}
	if err := a.SetGroupSetting(ctx, unknown, "bogus", true); !errors.Is(err, provider.ErrUnsupported) {
		t.Fatalf("unknown setting: %v", err)
	}
}
