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
	"go.mau.fi/whatsmeow/proto/waE2E"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// channelFake is a fakeClient with whatsmeow's channel and status privacy calls: each
// records its arguments in log and answers from the fields, or fails with fail.
type channelFake struct {
	*fakeClient

	chmu     sync.Mutex
	log      []string
	fail     error                       // every channel call fails with it, when set
	failOnly map[string]error            // per method, beside fail
	info     *types.NewsletterMetadata   // GetNewsletterInfo, ...WithInvite, CreateNewsletter
	list     []*types.NewsletterMetadata // GetSubscribedNewsletters
	posts    []*types.NewsletterMessage  // GetNewsletterMessages
	created  wm.CreateNewsletterParams   // the last CreateNewsletter's
	privacy  []types.StatusPrivacy       // GetStatusPrivacy
}

func (c *channelFake) did(format string, args ...any) error {
	name := strings.Fields(format)[0]
	c.record(name)
	c.chmu.Lock()
	defer c.chmu.Unlock()
	c.log = append(c.log, fmt.Sprintf(format, args...))
	if err := c.failOnly[name]; err != nil {
		return err
	}
	return c.fail
}

func (c *channelFake) calls() []string {
	c.chmu.Lock()
	defer c.chmu.Unlock()
	out := c.log
	c.log = nil
	return out
}

func (c *channelFake) set(f func(*channelFake)) {
	c.chmu.Lock()
	defer c.chmu.Unlock()
	f(c)
}

func (c *channelFake) GetSubscribedNewsletters(ctx context.Context) ([]*types.NewsletterMetadata, error) {
	if err := c.did("GetSubscribedNewsletters"); err != nil {
		return nil, err
	}
	return c.list, nil
}

func (c *channelFake) GetNewsletterInfo(ctx context.Context, j types.JID) (*types.NewsletterMetadata, error) {
	if err := c.did("GetNewsletterInfo %s", j); err != nil {
		return nil, err
	}
	return c.info, nil
}

func (c *channelFake) GetNewsletterInfoWithInvite(ctx context.Context, key string) (*types.NewsletterMetadata, error) {
	if err := c.did("GetNewsletterInfoWithInvite %s", key); err != nil {
		return nil, err
	}
	return c.info, nil
}

func (c *channelFake) CreateNewsletter(ctx context.Context, params wm.CreateNewsletterParams) (*types.NewsletterMetadata, error) {
	if err := c.did("CreateNewsletter %s/%s/%d bytes", params.Name, params.Description, len(params.Picture)); err != nil {
		return nil, err
	}
	c.chmu.Lock()
	c.created = params
	c.chmu.Unlock()
	return c.info, nil
}

func (c *channelFake) FollowNewsletter(ctx context.Context, j types.JID) error {
	return c.did("FollowNewsletter %s", j)
}

func (c *channelFake) UnfollowNewsletter(ctx context.Context, j types.JID) error {
	return c.did("UnfollowNewsletter %s", j)
}

func (c *channelFake) NewsletterToggleMute(ctx context.Context, j types.JID, mute bool) error {
	return c.did("NewsletterToggleMute %s %v", j, mute)
}

func (c *channelFake) GetNewsletterMessages(ctx context.Context, j types.JID, params *wm.GetNewsletterMessagesParams) ([]*types.NewsletterMessage, error) {
	if err := c.did("GetNewsletterMessages %s count=%d before=%d", j, params.Count, params.Before); err != nil {
		return nil, err
	}
	return c.posts, nil
}

func (c *channelFake) GetStatusPrivacy(ctx context.Context) ([]types.StatusPrivacy, error) {
	if err := c.did("GetStatusPrivacy"); err != nil {
		return nil, err
	}
	return c.privacy, nil
}

var (
	_ channelClient = (*channelFake)(nil)
	_ statusClient  = (*channelFake)(nil)
)

// channelRig is a rig whose clients are channelFakes, started and WORKING.
func channelRig(t *testing.T) (*rig, *channelFake) {
	t.Helper()
	r := newRig(t)
	var last *channelFake
	var mu sync.Mutex
	r.f = NewFactory(r.cfg, r.db, WithClientFactory(func(d *wmstore.Device, l waLog.Logger) Client {
		cf := &channelFake{fakeClient: r.newClient(d, l).(*fakeClient)}
		mu.Lock()
		last = cf
		mu.Unlock()
		return cf
	}))
	r.p = r.build()
	r.startPaired()
	mu.Lock()
	defer mu.Unlock()
	return r, last
}

var (
	channelJID = types.NewJID("120363000000000077", types.NewsletterServer)
	channelID  = chatid.MustParse("120363000000000077@newsletter")
)

// newsletter is a channel as whatsmeow parses it, the session's role role.
func newsletter(role types.NewsletterRole, mute types.NewsletterMuteState) *types.NewsletterMetadata {
	return &types.NewsletterMetadata{
		ID: channelJID,
		ThreadMeta: types.NewsletterThreadMetadata{
			InviteCode:        "0029VaAbCdEf",
			Name:              types.NewsletterText{Text: "Acme News"},
			Description:       types.NewsletterText{Text: "What is new at Acme"},
			SubscriberCount:   1234,
			VerificationState: types.NewsletterVerificationStateVerified,
			Picture:           &types.ProfilePictureInfo{DirectPath: "/v/t61/full.jpg"},
			Preview:           types.ProfilePictureInfo{URL: "https://pps.whatsapp.net/preview.jpg", DirectPath: "/v/t61/preview.jpg"},
		},
		ViewerMeta: &types.NewsletterViewerMetadata{Role: role, Mute: mute},
	}
}

// wantChannel is newsletter as the provider reports it.
func wantChannel(role provider.ChannelRole, muted bool) provider.Channel {
	return provider.Channel{
		ID: channelID, Name: "Acme News", Description: "What is new at Acme",
		Invite:  "https://www.whatsapp.com/channel/0029VaAbCdEf",
		Preview: "https://pps.whatsapp.net/preview.jpg", Picture: "https://mmg.whatsapp.net/v/t61/full.jpg",
		Verified: true, Role: role, Muted: muted, Followers: 1234,
	}
}

var jpeg = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00picture")

// channelMethod is one call of a capability method, named.
type channelMethod struct {
	name string
	call func(ctx context.Context, p *Provider) (any, error)
}

// channelMethods calls every method of provider.Channels with good arguments.
var channelMethods = []channelMethod{
	{"ListChannels", func(ctx context.Context, p *Provider) (any, error) { return p.ListChannels(ctx) }},
	{"Channel", func(ctx context.Context, p *Provider) (any, error) { return p.Channel(ctx, channelID) }},
	{"ChannelByInvite", func(ctx context.Context, p *Provider) (any, error) {
		return p.ChannelByInvite(ctx, "https://www.whatsapp.com/channel/0029VaAbCdEf")
	}},
	{"CreateChannel", func(ctx context.Context, p *Provider) (any, error) {
		return p.CreateChannel(ctx, "Acme News", "What is new at Acme", &provider.Media{Data: jpeg, Mimetype: "image/jpeg"})
	}},
	{"FollowChannel", func(ctx context.Context, p *Provider) (any, error) { return nil, p.FollowChannel(ctx, channelID) }},
	{"UnfollowChannel", func(ctx context.Context, p *Provider) (any, error) { return nil, p.UnfollowChannel(ctx, channelID) }},
	{"MuteChannel", func(ctx context.Context, p *Provider) (any, error) { return nil, p.MuteChannel(ctx, channelID, true) }},
	{"UnmuteChannel", func(ctx context.Context, p *Provider) (any, error) { return nil, p.MuteChannel(ctx, channelID, false) }},
	{"ChannelMessages", func(ctx context.Context, p *Provider) (any, error) { return p.ChannelMessages(ctx, channelID, 2) }},
}

// Each method makes the whatsmeow call it should, with the arguments it should, and
// maps the answer.
func TestChannelCalls(t *testing.T) {
	r, c := channelRig(t)
	at := time.Unix(1767225600, 0)
	c.set(func(c *channelFake) {
		c.info = newsletter(types.NewsletterRoleOwner, types.NewsletterMuteOff)
		c.list = []*types.NewsletterMetadata{
			newsletter(types.NewsletterRoleSubscriber, types.NewsletterMuteOn), nil,
			{ID: types.NewJID("x", types.BotServer)},
		}
		c.posts = []*types.NewsletterMessage{
			{MessageServerID: 101, MessageID: "3A101", Type: "text", Timestamp: at, ViewsCount: 50,
				ReactionCounts: map[string]int{"👍": 7, "❤️": 2}, Message: &waE2E.Message{Conversation: proto.String("oldest")}},
			{MessageServerID: 103, Type: "media", Timestamp: at.Add(2 * time.Minute), ViewsCount: 9,
				Message: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("new menu"), Mimetype: proto.String("image/jpeg")}}},
			{MessageServerID: 102, MessageID: "3A102", Type: "poll", Timestamp: at.Add(time.Minute)},
		}
	})
	ch := "120363000000000077@newsletter"
	want := map[string]struct {
		log    []string
		result any
	}{
		"ListChannels":    {[]string{"GetSubscribedNewsletters"}, []provider.Channel{wantChannel(provider.ChannelSubscriber, true)}},
		"Channel":         {[]string{"GetNewsletterInfo " + ch}, wantChannel(provider.ChannelOwner, false)},
		"ChannelByInvite": {[]string{"GetNewsletterInfoWithInvite 0029VaAbCdEf"}, wantChannel(provider.ChannelOwner, false)},
		"CreateChannel":   {[]string{fmt.Sprintf("CreateNewsletter Acme News/What is new at Acme/%d bytes", len(jpeg))}, wantChannel(provider.ChannelOwner, false)},
		"FollowChannel":   {[]string{"FollowNewsletter " + ch}, nil},
		"UnfollowChannel": {[]string{"UnfollowNewsletter " + ch}, nil},
		"MuteChannel":     {[]string{"NewsletterToggleMute " + ch + " true"}, nil},
		"UnmuteChannel":   {[]string{"NewsletterToggleMute " + ch + " false"}, nil},
		"ChannelMessages": {[]string{"GetNewsletterMessages " + ch + " count=2 before=0"}, []provider.ChannelMessage{
			{Message: provider.ChannelPost{ID: "103", ServerID: 103, Timestamp: at.Unix() + 120, From: channelID,
				Body: "new menu", Type: provider.KindImage, HasMedia: true}, ViewCount: 9, Reactions: map[string]int{}},
			{Message: provider.ChannelPost{ID: "3A102", ServerID: 102, Timestamp: at.Unix() + 60, From: channelID,
				Body: "poll", Type: provider.KindUnsupported}, Reactions: map[string]int{}},
		}},
	}
	for _, m := range channelMethods {
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
	if string(c.created.Picture) != string(jpeg) {
		t.Errorf("created with picture %q", c.created.Picture)
	}

	// All posts, newest first; text posts keep their body and reactions.
	msgs, err := r.p.ChannelMessages(ctxT(t), channelID, 0)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("ChannelMessages(0) = %+v, %v", msgs, err)
	}
	if log := c.calls(); len(log) != 1 || log[0] != "GetNewsletterMessages "+ch+" count=0 before=0" {
		t.Errorf("no limit: calls %q", log)
	}
	oldest := provider.ChannelMessage{Message: provider.ChannelPost{ID: "3A101", ServerID: 101, Timestamp: at.Unix(), From: channelID,
		Body: "oldest", Type: provider.KindText}, ViewCount: 50, Reactions: map[string]int{"👍": 7, "❤️": 2}}
	if !reflect.DeepEqual(msgs[2], oldest) {
		t.Errorf("oldest post\n %+v\nwant\n %+v", msgs[2], oldest)
	}

	// An invite lookup says no role (whatsmeow asks for no viewer metadata): guest.
	// A channel just created without one is the session's own.
	c.set(func(c *channelFake) { c.info.ViewerMeta, c.info.ThreadMeta.Picture = nil, nil })
	got, err := r.p.ChannelByInvite(ctxT(t), "0029VaAbCdEf")
	if want := wantChannel(provider.ChannelGuest, false); err != nil || got.Role != want.Role || got.Picture != "" {
		t.Errorf("invite without viewer metadata: %+v, %v", got, err)
	}
	got, err = r.p.CreateChannel(ctxT(t), "Acme News", "", nil)
	if err != nil || got.Role != provider.ChannelOwner || len(c.created.Picture) != 0 {
		t.Errorf("created without viewer metadata: %+v, %v (picture %d bytes)", got, err, len(c.created.Picture))
	}
}

// WhatsApp's errors become the contract's, for every method.
func TestChannelErrors(t *testing.T) {
	r, c := channelRig(t)
	c.set(func(c *channelFake) { c.info = newsletter(types.NewsletterRoleOwner, types.NewsletterMuteOff) })
	other := errors.New("boom")
	gql := func(code int) error {
		return fmt.Errorf("graphql error: %w", types.GraphQLErrors{{Message: "x", Extensions: types.GraphQLErrorExtensions{ErrorCode: code}}})
	}
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: none of the contract's
	}{
		{"iq 404", &wm.IQError{Code: 404, Text: "item-not-found"}, provider.ErrNotFound},
		{"iq 403", &wm.IQError{Code: 403, Text: "forbidden"}, provider.ErrNotAllowed},
		{"graphql 404", gql(404), provider.ErrNotFound},
		{"graphql 410", gql(410), provider.ErrNotFound},
		{"graphql 403", gql(403), provider.ErrNotAllowed},
		{"graphql 401", gql(401), provider.ErrNotAllowed},
		{"graphql 500", gql(500), nil},
		{"not connected", wm.ErrNotConnected, provider.ErrNotConnected},
		{"disconnected", wm.ErrIQDisconnected, provider.ErrNotConnected},
		{"other", other, nil},
	} {
		c.set(func(c *channelFake) { c.fail = tc.err })
		for _, m := range channelMethods {
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
	c.set(func(c *channelFake) { c.fail = nil })

	// WhatsApp answering no channel is an unknown channel, not a panic.
	c.set(func(c *channelFake) { c.info = nil })
	for _, m := range []string{"Channel", "ChannelByInvite"} {
		i := slices.IndexFunc(channelMethods, func(x channelMethod) bool { return x.name == m })
		if _, err := channelMethods[i].call(ctxT(t), r.p); !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("%s answered nil: %v, want not found", m, err)
		}
	}
	// A creation answered with nothing failed, but found nothing missing.
	if _, err := r.p.CreateChannel(ctxT(t), "x", "", nil); err == nil || errors.Is(err, provider.ErrNotFound) {
		t.Errorf("CreateChannel answered nil: %v, want an error, not not found", err)
	}
}

// Following a followed channel, or unfollowing one not followed, is no error even
// when WhatsApp refuses it; a refusal of a real change stays one.
func TestFollowIdempotent(t *testing.T) {
	r, c := channelRig(t)
	ch := "120363000000000077@newsletter"
	refused := fmt.Errorf("graphql error: %w", types.GraphQLErrors{{Message: "bad request", Extensions: types.GraphQLErrorExtensions{ErrorCode: 400}}})
	for _, tc := range []struct {
		name   string
		role   types.NewsletterRole
		follow bool
		ok     bool
	}{
		{"follow a followed channel", types.NewsletterRoleSubscriber, true, true},
		{"follow an owned channel", types.NewsletterRoleOwner, true, true},
		{"unfollow a channel not followed", types.NewsletterRoleGuest, false, true},
		{"follow refused", types.NewsletterRoleGuest, true, false},
		{"unfollow refused", types.NewsletterRoleSubscriber, false, false},
	} {
		c.set(func(c *channelFake) {
			c.info = newsletter(tc.role, types.NewsletterMuteOff)
			c.failOnly = map[string]error{"FollowNewsletter": refused, "UnfollowNewsletter": refused}
		})
		c.calls()
		var err error
		if tc.follow {
			err = r.p.FollowChannel(ctxT(t), channelID)
		} else {
			err = r.p.UnfollowChannel(ctxT(t), channelID)
		}
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, refused)) {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
		if log := c.calls(); len(log) != 2 || log[1] != "GetNewsletterInfo "+ch {
			t.Errorf("%s: calls %q, want the change then GetNewsletterInfo", tc.name, log)
		}
	}
}

// Bad input is refused before WhatsApp is asked; deleting is unsupported.
func TestChannelBadInput(t *testing.T) {
	r, c := channelRig(t)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"a group as channel", func() error { _, err := r.p.Channel(ctx, groupID); return err }, provider.ErrInvalidRecipient},
		{"follow a user", func() error { return r.p.FollowChannel(ctx, aliceID) }, provider.ErrInvalidRecipient},
		{"mute the zero id", func() error { return r.p.MuteChannel(ctx, chatid.ID{}, true) }, provider.ErrInvalidRecipient},
		{"messages of a group", func() error { _, err := r.p.ChannelMessages(ctx, groupID, 5); return err }, provider.ErrInvalidRecipient},
		{"empty invite", func() error { _, err := r.p.ChannelByInvite(ctx, ""); return err }, provider.ErrNotFound},
		{"bare link", func() error { _, err := r.p.ChannelByInvite(ctx, "https://whatsapp.com/channel/"); return err }, provider.ErrNotFound},
		{"invite with a path", func() error { _, err := r.p.ChannelByInvite(ctx, "abc/../def"); return err }, provider.ErrNotFound},
		{"long invite", func() error { _, err := r.p.ChannelByInvite(ctx, strings.Repeat("a", 65)); return err }, provider.ErrNotFound},
		{"picture not a JPEG", func() error {
			_, err := r.p.CreateChannel(ctx, "x", "", &provider.Media{Data: []byte("\x89PNG\r\n\x1a\nx"), Mimetype: "image/png"})
			return err
		}, provider.ErrInvalidPicture},
		{"delete", func() error { return r.p.DeleteChannel(ctx, channelID) }, provider.ErrUnsupported},
	} {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if log := c.calls(); len(log) != 0 {
		t.Errorf("bad input reached whatsmeow: %q", log)
	}
}

// Without connection, or with a client without channel calls, nothing is asked.
func TestChannelsUnavailable(t *testing.T) {
	r := newRig(t)
	r.startPaired() // a plain fakeClient: no channel calls
	for _, m := range channelMethods {
		if _, err := m.call(ctxT(t), r.p); !errors.Is(err, provider.ErrUnsupported) {
			t.Errorf("%s without channel calls: %v", m.name, err)
		}
	}
	if _, err := r.p.StatusPrivacy(ctxT(t)); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("StatusPrivacy without status calls: %v", err)
	}
	r2, _ := channelRig(t)
	if err := r2.p.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for _, m := range channelMethods {
		if _, err := m.call(ctxT(t), r2.p); !errors.Is(err, provider.ErrNotConnected) {
			t.Errorf("%s while stopped: %v", m.name, err)
		}
	}
	if _, err := r2.p.StatusPrivacy(ctxT(t)); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("StatusPrivacy while stopped: %v", err)
	}
}

// Channel calls return by their deadline however long whatsmeow takes.
func TestChannelCallsHonourDeadline(t *testing.T) {
	r, c := channelRig(t)
	for _, name := range []string{"GetSubscribedNewsletters", "GetNewsletterInfo", "GetNewsletterInfoWithInvite", "CreateNewsletter",
		"FollowNewsletter", "UnfollowNewsletter", "NewsletterToggleMute", "GetNewsletterMessages", "GetStatusPrivacy"} {
		c.hangOn(t, name)
	}
	calls := append(slices.Clone(channelMethods), channelMethod{"StatusPrivacy", func(ctx context.Context, p *Provider) (any, error) { return p.StatusPrivacy(ctx) }})
	for _, m := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		start := time.Now()
		_, err := m.call(ctx, r.p)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Errorf("%s: %v after %v, want the deadline", m.name, err, time.Since(start))
		}
	}
}
