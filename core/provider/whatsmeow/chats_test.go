package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waE2E"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// chatFake is a fakeClient with whatsmeow's read receipts, app state patches, presence
// subscriptions, and chat presences with their media.
type chatFake struct {
	*fakeClient

	cmu      sync.Mutex
	receipts []string // "chat sender id,id"
	patches  []appstate.PatchInfo
	subs     []types.JID
	states   []string // "jid state media"
	// errs fails, per method name, every call of the method.
	errs map[string]error
}

func (c *chatFake) fail(method string) error {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	return c.errs[method]
}

func (c *chatFake) MarkRead(ctx context.Context, ids []types.MessageID, ts time.Time, chat, sender types.JID, extra ...types.ReceiptType) error {
	c.record("MarkRead")
	if err := c.fail("MarkRead"); err != nil {
		return err
	}
	if len(ids) == 0 || len(extra) > 0 || ts.IsZero() {
		return fmt.Errorf("bad MarkRead: ids %v, extra %v, time %v", ids, extra, ts)
	}
	c.cmu.Lock()
	defer c.cmu.Unlock()
	c.receipts = append(c.receipts, fmt.Sprintf("%s %s %s", chat, sender, strings.Join(ids, ",")))
	return nil
}

func (c *chatFake) SendAppState(ctx context.Context, patch appstate.PatchInfo) error {
	c.record("SendAppState")
	if err := c.fail("SendAppState"); err != nil {
		return err
	}
	c.cmu.Lock()
	defer c.cmu.Unlock()
	c.patches = append(c.patches, patch)
	return nil
}

func (c *chatFake) SubscribePresence(ctx context.Context, j types.JID) error {
	c.record("SubscribePresence")
	if err := c.fail("SubscribePresence"); err != nil {
		return err
	}
	c.cmu.Lock()
	defer c.cmu.Unlock()
	c.subs = append(c.subs, j)
	return nil
}

func (c *chatFake) SendPresence(ctx context.Context, state types.Presence) error {
	if err := c.fail("SendPresence"); err != nil {
		c.record("SendPresence")
		return err
	}
	return c.fakeClient.SendPresence(ctx, state)
}

func (c *chatFake) SendChatPresence(ctx context.Context, j types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error {
	if err := c.fail("SendChatPresence"); err != nil {
		c.record("SendChatPresence")
		return err
	}
	c.cmu.Lock()
	c.states = append(c.states, fmt.Sprintf("%s %s %s", j, state, media))
	c.cmu.Unlock()
	return c.fakeClient.SendChatPresence(ctx, j, state, media)
}

// take returns and forgets what the fake recorded.
func (c *chatFake) take() (receipts []string, patches []string, states []string) {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	for _, p := range c.patches {
		patches = append(patches, describePatch(p))
	}
	receipts, states = c.receipts, c.states
	c.receipts, c.patches, c.states = nil, nil, nil
	return receipts, patches, states
}

var (
	_ chatStateClient = (*chatFake)(nil)
	_ presenceClient  = (*chatFake)(nil)
)

// describePatch writes a patch as "index...: action field=value, range=ts/key".
func describePatch(p appstate.PatchInfo) string {
	var parts []string
	for _, m := range p.Mutations {
		v := m.Value
		s := strings.Join(m.Index, " ") + ":"
		switch {
		case v.GetArchiveChatAction() != nil:
			a := v.GetArchiveChatAction()
			s += fmt.Sprintf(" archived=%v%s", a.GetArchived(), rangeOf(a.GetMessageRange().GetLastMessageTimestamp(), a.GetMessageRange().GetMessages()))
		case v.GetPinAction() != nil:
			s += fmt.Sprintf(" pinned=%v", v.GetPinAction().GetPinned())
		case v.GetMarkChatAsReadAction() != nil:
			a := v.GetMarkChatAsReadAction()
			s += fmt.Sprintf(" read=%v%s", a.GetRead(), rangeOf(a.GetMessageRange().GetLastMessageTimestamp(), a.GetMessageRange().GetMessages()))
		case v.GetDeleteChatAction() != nil:
			a := v.GetDeleteChatAction()
			s += rangeOf(a.GetMessageRange().GetLastMessageTimestamp(), a.GetMessageRange().GetMessages())
		case v.GetStarAction() != nil:
			s += fmt.Sprintf(" starred=%v", v.GetStarAction().GetStarred())
		default:
			s += " ?"
		}
		parts = append(parts, s)
	}
	return string(p.Type) + " " + strings.Join(parts, "; ")
}

// rangeOf writes a message range: its last message, or "now" when it names none.
func rangeOf[M interface {
	GetKey() K
}, K interface {
	GetID() string
	GetFromMe() bool
	GetParticipant() string
}](ts int64, msgs []M) string {
	if len(msgs) == 0 {
		if d := time.Since(time.Unix(ts, 0)); d < 0 || d > time.Minute {
			return fmt.Sprintf(" range=%d (not now)", ts)
		}
		return " range=now"
	}
	k := msgs[0].GetKey()
	s := fmt.Sprintf(" range=%d/%s", ts, k.GetID())
	if k.GetFromMe() {
		s += "/me"
	}
	if p := k.GetParticipant(); p != "" {
		s += "/" + p
	}
	return s
}

// chatRig is a rig whose clients are chatFakes, started and WORKING.
func chatRig(t *testing.T) (*rig, *chatFake) {
	t.Helper()
	r := newRig(t)
	var fakes []*chatFake
	var mu sync.Mutex
	r.f = NewFactory(r.cfg, r.db, WithClientFactory(func(d *wmstore.Device, l waLog.Logger) Client {
		cf := &chatFake{fakeClient: r.newClient(d, l).(*fakeClient), errs: map[string]error{}}
		mu.Lock()
		fakes = append(fakes, cf)
		mu.Unlock()
		return cf
	}))
	r.p = r.build()
	r.startPaired()
	mu.Lock()
	defer mu.Unlock()
	return r, fakes[len(fakes)-1]
}

// receive emits an inbound text and waits for its report.
func (r *rig) receive(c *chatFake, info types.MessageInfo) {
	r.t.Helper()
	c.emit(&events.Message{Info: info, Message: &waE2E.Message{Conversation: proto.String("hi")}})
	if _, ok := r.next().(provider.MessageEvent); !ok {
		r.t.Fatalf("message %s not reported", info.ID)
	}
}

func groupText(id string, sender types.JID, at time.Time) types.MessageInfo {
	return types.MessageInfo{ID: id, Timestamp: at, MessageSource: types.MessageSource{Chat: groupJID, Sender: sender, IsGroup: true}}
}

var (
	bobID = chatid.MustParse("15551230002@c.us")
)

// MarkRead sends the receipts of what the chat book holds unread, per author, once;
// explicit ids go as given, grouped by the author known.
func TestMarkRead(t *testing.T) {
	r, c := chatRig(t)
	ctx := ctxT(t)
	t0 := time.Unix(1_780_000_000, 0)
	a1, a2 := dm("a1"), dm("a2")
	r.receive(c, a1)
	r.receive(c, a2)
	r.receive(c, groupText("g1", bobPN, t0))
	r.receive(c, groupText("g2", alicePN, t0))
	r.receive(c, groupText("g3", bobPN, t0))

	steps := []struct {
		name    string
		chat    chatid.ID
		ids     []string
		sender  chatid.ID
		want    []string
		wantErr error
	}{
		{"user chat, all unread", aliceID, nil, chatid.ID{}, []string{"15551230001@s.whatsapp.net  a1,a2"}, nil},
		{"again: nothing unread", aliceID, nil, chatid.ID{}, nil, nil},
		{"group, per author", groupID, nil, chatid.ID{},
			[]string{"120363000000000001@g.us 15551230002@s.whatsapp.net g1,g3", "120363000000000001@g.us 15551230001@s.whatsapp.net g2"}, nil},
		{"unknown chat", bobID, nil, chatid.ID{}, nil, nil},
		{"explicit ids, user chat, unknown to the book", bobID, []string{"x1", "", "x1", "x2"}, chatid.ID{},
			[]string{"15551230002@s.whatsapp.net  x1,x2"}, nil},
		{"explicit known ids in a group", groupID, []string{"g3", "g2"}, chatid.ID{},
			[]string{"120363000000000001@g.us 15551230002@s.whatsapp.net g3", "120363000000000001@g.us 15551230001@s.whatsapp.net g2"}, nil},
		{"explicit ids in a group with sender", groupID, []string{"zz"}, bobID,
			[]string{"120363000000000001@g.us 15551230002@s.whatsapp.net zz"}, nil},
		{"unknown group message without sender", groupID, []string{"zz"}, chatid.ID{}, nil, provider.ErrInvalidRecipient},
		{"sender that is not a user", groupID, []string{"g1"}, groupID, nil, provider.ErrInvalidRecipient},
		{"newsletter", chatid.MustParse("120363000000000009@newsletter"), nil, chatid.ID{}, nil, provider.ErrInvalidRecipient},
		{"zero chat", chatid.ID{}, nil, chatid.ID{}, nil, provider.ErrInvalidRecipient},
	}
	for _, s := range steps {
		err := r.p.MarkRead(ctx, s.chat, s.ids, s.sender)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		got, patches, _ := c.take()
		if !reflect.DeepEqual(got, s.want) || len(patches) != 0 {
			t.Errorf("%s: receipts = %q, patches %q; want %q", s.name, got, patches, s.want)
		}
	}
}

// A LID chat is reported by phone number, and its receipts and patches go to the LID
// WhatsApp used.
func TestMarkReadLIDChat(t *testing.T) {
	r, c := chatRig(t)
	ctx := ctxT(t)
	r.receive(c, types.MessageInfo{ID: "l1", Timestamp: msgTime,
		MessageSource: types.MessageSource{Chat: aliceLID, Sender: aliceLID, SenderAlt: alicePN, AddressingMode: types.AddressingModeLID}})
	if err := r.p.MarkRead(ctx, aliceID, nil, chatid.ID{}); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Pin(ctx, aliceID, true); err != nil {
		t.Fatal(err)
	}
	receipts, patches, _ := c.take()
	if want := []string{"100000000000001@lid  l1"}; !reflect.DeepEqual(receipts, want) {
		t.Errorf("receipts = %q, want %q", receipts, want)
	}
	if want := []string{"regular_low pin_v1 100000000000001@lid: pinned=true"}; !reflect.DeepEqual(patches, want) {
		t.Errorf("patches = %q, want %q", patches, want)
	}
}

// Every flag is an app state patch naming the chat's last known message; after
// MarkUnread the next MarkRead clears the mark.
func TestChatPatches(t *testing.T) {
	r, c := chatRig(t)
	ctx := ctxT(t)
	t1 := time.Unix(1_780_000_100, 0)
	r.receive(c, groupText("g1", bobPN, t1))
	ts := t1.Unix()
	alice := "15551230001@s.whatsapp.net"
	group := "120363000000000001@g.us"

	steps := []struct {
		name string
		call func() error
		want []string
	}{
		{"archive, no message known", func() error { return r.p.Archive(ctx, aliceID, true) },
			[]string{"regular_low archive " + alice + ": archived=true range=now; pin_v1 " + alice + ": pinned=false"}},
		{"unarchive", func() error { return r.p.Archive(ctx, aliceID, false) },
			[]string{"regular_low archive " + alice + ": archived=false range=now"}},
		{"archive a group with a known message", func() error { return r.p.Archive(ctx, groupID, true) },
			[]string{fmt.Sprintf("regular_low archive %s: archived=true range=%d/g1/%s; pin_v1 %s: pinned=false", group, ts, bobPN, group)}},
		{"pin", func() error { return r.p.Pin(ctx, groupID, true) }, []string{"regular_low pin_v1 " + group + ": pinned=true"}},
		{"unpin", func() error { return r.p.Pin(ctx, groupID, false) }, []string{"regular_low pin_v1 " + group + ": pinned=false"}},
		{"mark unread", func() error { return r.p.MarkUnread(ctx, groupID) },
			[]string{fmt.Sprintf("regular_low markChatAsRead %s: read=false range=%d/g1/%s", group, ts, bobPN)}},
		{"mark read clears the mark", func() error { return r.p.MarkRead(ctx, groupID, nil, chatid.ID{}) },
			[]string{fmt.Sprintf("regular_low markChatAsRead %s: read=true range=%d/g1/%s", group, ts, bobPN)}},
		{"mark read again: no patch", func() error { return r.p.MarkRead(ctx, groupID, nil, chatid.ID{}) }, nil},
		{"star a group message of a known author", func() error { return r.p.Star(ctx, groupID, "g1", false, true) },
			[]string{"regular_high star " + group + " g1 0 " + bobPN.String() + ": starred=true"}},
		{"star an unknown group message", func() error { return r.p.Star(ctx, groupID, "g9", false, true) },
			[]string{"regular_high star " + group + " g9 0 0: starred=true"}},
		{"unstar an own message", func() error { return r.p.Star(ctx, aliceID, "m1", true, false) },
			[]string{"regular_high star " + alice + " m1 1 0: starred=false"}},
		{"delete", func() error { return r.p.DeleteChat(ctx, groupID) },
			[]string{fmt.Sprintf("regular_high deleteChat %s 0: range=%d/g1/%s", group, ts, bobPN)}},
		{"delete again: the book forgot the chat", func() error { return r.p.DeleteChat(ctx, groupID) },
			[]string{"regular_high deleteChat " + group + " 0: range=now"}},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		receipts, got, _ := c.take()
		if len(receipts) != 0 && s.name != "mark read clears the mark" {
			t.Errorf("%s: receipts %q", s.name, receipts)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s:\n got %q\nwant %q", s.name, got, s.want)
		}
	}
}

// A message sent through the gateway is the chat's last message.
func TestChatBookRecordsSends(t *testing.T) {
	r, c := chatRig(t)
	ctx := ctxT(t)
	res, err := r.p.Send(ctx, provider.Outbound{ID: "out1", ChatID: aliceID, Kind: provider.KindText, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.p.MarkUnread(ctx, aliceID); err != nil {
		t.Fatal(err)
	}
	_, patches, _ := c.take()
	want := fmt.Sprintf("regular_low markChatAsRead 15551230001@s.whatsapp.net: read=false range=%d/%s/me", res.Timestamp.Unix(), res.ProviderID)
	if len(patches) != 1 || patches[0] != want {
		t.Errorf("patches = %q, want %q", patches, want)
	}
}

// Every chat call fails cleanly: not connected, a client without the calls, and
// WhatsApp's errors, wrapped.
func TestChatErrors(t *testing.T) {
	boom := errors.New("boom")
	calls := []struct {
		name string
		call func(p *Provider, ctx context.Context) error
		via  string
	}{
		{"MarkRead", func(p *Provider, ctx context.Context) error {
			return p.MarkRead(ctx, aliceID, []string{"m1"}, chatid.ID{})
		}, "MarkRead"},
		{"Archive", func(p *Provider, ctx context.Context) error { return p.Archive(ctx, aliceID, true) }, "SendAppState"},
		{"MarkUnread", func(p *Provider, ctx context.Context) error { return p.MarkUnread(ctx, aliceID) }, "SendAppState"},
		{"Pin", func(p *Provider, ctx context.Context) error { return p.Pin(ctx, aliceID, true) }, "SendAppState"},
		{"DeleteChat", func(p *Provider, ctx context.Context) error { return p.DeleteChat(ctx, aliceID) }, "SendAppState"},
		{"Star", func(p *Provider, ctx context.Context) error { return p.Star(ctx, aliceID, "m1", false, true) }, "SendAppState"},
	}
	r, c := chatRig(t)
	ctx := ctxT(t)
	c.cmu.Lock()
	c.errs["MarkRead"], c.errs["SendAppState"] = boom, boom
	c.cmu.Unlock()
	for _, tc := range calls {
		if err := tc.call(r.p, ctx); !errors.Is(err, boom) || !strings.Contains(err.Error(), "acme/main") {
			t.Errorf("%s: WhatsApp's error: %v", tc.name, err)
		}
		if err := tc.call(r.p, ctx); c.called(tc.via) == 0 {
			t.Errorf("%s: %s never called (%v)", tc.name, tc.via, err)
		}
	}
	if err := r.p.Star(ctx, aliceID, "", false, true); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("star without id: %v", err)
	}
	if err := r.p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range calls {
		if err := tc.call(r.p, ctx); !errors.Is(err, provider.ErrNotConnected) {
			t.Errorf("%s while stopped: %v", tc.name, err)
		}
	}

	plain := newRig(t)
	plain.startPaired()
	for _, tc := range calls {
		if err := tc.call(plain.p, ctx); !errors.Is(err, provider.ErrUnsupported) {
			t.Errorf("%s on a client without chat calls: %v", tc.name, err)
		}
	}
}

// The chat book keeps the last maxBookMessages messages of the maxBookChats chats most
// recently active.
func TestChatBookBounds(t *testing.T) {
	var b chatBook
	chat := func(i int) chatid.ID { return chatid.MustParse(fmt.Sprintf("1555%07d@c.us", i)) }
	for i := range maxBookMessages + 50 {
		b.add(chat(0), alicePN, bookMessage{id: fmt.Sprint("m", i), sender: alicePN})
	}
	b.add(chat(0), alicePN, bookMessage{id: "m149", sender: alicePN}) // a redelivery
	un := b.unread(chat(0))
	if len(un) != 1 || len(un[0].ids) != maxBookMessages || un[0].ids[0] != "m50" || un[0].ids[maxBookMessages-1] != "m149" {
		t.Fatalf("unread = %d batches, %v", len(un), un)
	}
	for i := 1; i <= maxBookChats; i++ {
		b.add(chat(i), alicePN, bookMessage{id: "x", sender: alicePN})
	}
	if len(b.byChat) != maxBookChats || b.order.Len() != maxBookChats {
		t.Fatalf("%d chats held, want %d", len(b.byChat), maxBookChats)
	}
	if b.unread(chat(0)) != nil {
		t.Error("the least recently active chat is still held")
	}
	if b.unread(chat(1)) == nil {
		t.Error("chat 1 was evicted too")
	}
	b.clear()
	if b.unread(chat(1)) != nil {
		t.Error("clear kept chats")
	}
	b.add(chatid.ID{}, alicePN, bookMessage{id: "z"})
	b.add(chat(1), alicePN, bookMessage{})
	if len(b.byChat) != 0 {
		t.Error("a message without chat or id was recorded")
	}
}
