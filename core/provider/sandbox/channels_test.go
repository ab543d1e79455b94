package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

func TestSandboxChannels(t *testing.T) {
	ctx := context.Background()
	f, s, rec := groupFixture(t)
	a, b, c := s[0], s[1], s[2]

	ch, err := a.CreateChannel(ctx, "News", "Daily", &provider.Media{URL: "https://example.invalid/n.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	code := strings.TrimPrefix(ch.Invite, "https://www.whatsapp.com/channel/")
	if !ch.ID.IsNewsletter() || len(ch.ID.Local) != 18 || ch.Name != "News" || ch.Description != "Daily" ||
		ch.Role != provider.ChannelOwner || len(code) != 22 || ch.Picture != "https://example.invalid/n.jpg" {
		t.Fatalf("created %+v", ch)
	}
	if _, err := chatid.Parse(ch.ID.String()); err != nil {
		t.Fatalf("channel id %s does not parse: %v", ch.ID, err)
	}

	// B finds it by invite as a guest, follows it, lists it as a subscriber.
	if got, err := b.ChannelByInvite(ctx, code); err != nil || got.ID != ch.ID || got.Role != provider.ChannelGuest {
		t.Fatalf("by invite: %+v %v", got, err)
	}
	if _, err := b.ChannelByInvite(ctx, "nope"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("unknown invite: %v", err)
	}
	if err := b.MuteChannel(ctx, ch.ID, true); !errors.Is(err, provider.ErrNotAllowed) {
		t.Errorf("muting an unfollowed channel: %v, want ErrNotAllowed", err)
	}
	for range 2 { // following twice does nothing more
		if err := b.FollowChannel(ctx, ch.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.FollowChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.FollowChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	list, err := b.ListChannels(ctx)
	if err != nil || len(list) != 1 || list[0].Role != provider.ChannelSubscriber || list[0].Followers != 2 {
		t.Fatalf("b's channels: %+v %v", list, err)
	}
	if list, _ := a.ListChannels(ctx); len(list) != 1 || list[0].Role != provider.ChannelOwner {
		t.Fatalf("a's channels: %+v", list)
	}

	// The owner's post reaches the followers as a message of the channel's chat.
	res, err := a.Send(ctx, text(ch.ID.String(), "first"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*recorder{rec[1], rec[2]} {
		m := takeKind[provider.MessageEvent](t, r).Message
		if m.ChatID != ch.ID || m.From != ch.ID || !m.Participant.IsZero() || m.Text != "first" || m.ProviderID != res.ProviderID {
			t.Fatalf("post seen as %+v", m)
		}
	}
	var se *provider.SendError
	if _, err := b.Send(ctx, text(ch.ID.String(), "me too")); !errors.As(err, &se) || se.Code != CodeNotAllowed {
		t.Fatalf("a follower's post: %v, want not_allowed", err)
	}
	if _, err := a.Send(ctx, text("120363999999999999@newsletter", "void")); !errors.As(err, &se) || se.Code != CodeInvalidRecipient {
		t.Fatalf("a post to no channel: %v, want invalid_recipient", err)
	}

	// Mute is the follower's flag; posts still arrive.
	if err := b.MuteChannel(ctx, ch.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Channel(ctx, ch.ID); !got.Muted || got.Role != provider.ChannelSubscriber {
		t.Fatalf("muted: %+v", got)
	}
	if err := a.MuteChannel(ctx, ch.ID, true); !errors.Is(err, provider.ErrNotAllowed) {
		t.Errorf("the owner muting: %v", err)
	}
	if m := f.net.channelFollowersOf(ch.ID); len(m) != 2 || !m["15550000002"] || m["15550000003"] {
		t.Fatalf("followers %v", m)
	}

	// C stops: the next post has one view. B unfollows: the one after, none.
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, text(ch.ID.String(), "second")); err != nil {
		t.Fatal(err)
	}
	takeWhere(t, rec[1], func(m provider.MessageEvent) bool { return m.Message.Text == "second" })
	if err := b.UnfollowChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Channel(ctx, ch.ID); got.Role != provider.ChannelGuest || got.Muted {
		t.Fatalf("after unfollow: %+v", got)
	}
	if _, err := a.Send(ctx, text(ch.ID.String(), "third")); err != nil {
		t.Fatal(err)
	}
	posts, err := b.ChannelMessages(ctx, ch.ID, 10)
	if err != nil || len(posts) != 3 {
		t.Fatalf("preview: %+v %v", posts, err)
	}
	for i, want := range []struct {
		body  string
		views int
	}{{"third", 0}, {"second", 1}, {"first", 2}} {
		p := posts[i]
		if p.Message.Body != want.body || p.ViewCount != want.views || p.Message.From != ch.ID || p.Message.FromMe ||
			p.Message.Type != provider.KindText || p.Reactions == nil {
			t.Errorf("post %d: %+v, want %s with %d views", i, p, want.body, want.views)
		}
	}
	if posts, _ := a.ChannelMessages(ctx, ch.ID, 1); len(posts) != 1 || !posts[0].Message.FromMe || posts[0].Message.ServerID != 3 {
		t.Errorf("owner's preview of 1: %+v", posts)
	}

	// Only the owner deletes; then it is gone for everyone.
	if err := b.DeleteChannel(ctx, ch.ID); !errors.Is(err, provider.ErrNotAllowed) {
		t.Fatalf("b deletes: %v", err)
	}
	if err := a.DeleteChannel(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"get":      func() error { _, err := b.Channel(ctx, ch.ID); return err }(),
		"invite":   func() error { _, err := b.ChannelByInvite(ctx, code); return err }(),
		"follow":   b.FollowChannel(ctx, ch.ID),
		"mute":     b.MuteChannel(ctx, ch.ID, false),
		"preview":  func() error { _, err := b.ChannelMessages(ctx, ch.ID, 1); return err }(),
		"delete":   a.DeleteChannel(ctx, ch.ID),
		"unfollow": b.UnfollowChannel(ctx, ch.ID),
	} {
		if !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("%s after delete: %v, want ErrNotFound", what, err)
		}
	}
	if list, _ := a.ListChannels(ctx); len(list) != 0 {
		t.Errorf("a's channels after delete: %+v", list)
	}
	if _, err := a.Channel(ctx, bobID); !errors.Is(err, provider.ErrInvalidRecipient) {
		t.Errorf("a user id as channel: %v", err)
	}
}

func TestSandboxChannelPicture(t *testing.T) {
	ctx := context.Background()
	_, s, _ := groupFixture(t)
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	ch, err := s[0].CreateChannel(ctx, "P", "", &provider.Media{Data: png, Mimetype: "image/png"})
	if err != nil || !strings.HasPrefix(ch.Picture, pictureBase) || ch.Preview != ch.Picture {
		t.Fatalf("picture by data: %+v %v", ch, err)
	}
	if _, err := s[0].CreateChannel(ctx, "P", "", &provider.Media{Data: []byte("text"), Mimetype: "image/png"}); !errors.Is(err, provider.ErrInvalidPicture) {
		t.Errorf("not an image: %v, want ErrInvalidPicture", err)
	}
	if ch, _ := s[0].CreateChannel(ctx, "none", "", nil); ch.Picture != "" {
		t.Errorf("no picture: %+v", ch)
	}
}

func TestSandboxChannelsBounded(t *testing.T) {
	ctx := context.Background()
	_, s, _ := groupFixture(t)
	var last provider.Channel
	for range maxOwnedChannels {
		ch, err := s[0].CreateChannel(ctx, "c", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		last = ch
	}
	if _, err := s[0].CreateChannel(ctx, "one too many", "", nil); !errors.Is(err, provider.ErrNotAllowed) {
		t.Errorf("channel %d: %v, want ErrNotAllowed", maxOwnedChannels+1, err)
	}
	if err := s[0].DeleteChannel(ctx, last.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s[0].CreateChannel(ctx, "room again", "", nil); err != nil {
		t.Errorf("after a delete: %v", err)
	}

	if err := s[1].FollowChannel(ctx, last.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("following a deleted channel: %v", err)
	}
	ch, _ := s[1].CreateChannel(ctx, "busy", "", nil)
	for i := range maxChannelPosts + 5 {
		if _, err := s[1].Send(ctx, text(ch.ID.String(), "post "+string(rune('a'+i%26)))); err != nil {
			t.Fatal(err)
		}
	}
	posts, _ := s[1].ChannelMessages(ctx, ch.ID, 1000)
	if len(posts) != maxChannelPosts || posts[0].Message.ServerID != maxChannelPosts+5 || posts[len(posts)-1].Message.ServerID != 6 {
		t.Fatalf("kept %d posts, newest %d, oldest %d", len(posts), posts[0].Message.ServerID, posts[len(posts)-1].Message.ServerID)
	}
}
