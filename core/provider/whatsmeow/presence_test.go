package whatsmeow

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Own presence and chat states map onto whatsmeow's presences; typing, recording and
// subscribing announce availability once per connection.
func TestPresenceCalls(t *testing.T) {
	r, c := chatRig(t)
	ctx := ctxT(t)
	alice := "15551230001@s.whatsapp.net"
	steps := []struct {
		name       string
		call       func() error
		wantErr    error
		presences  []string // SendPresence calls
		states     []string // SendChatPresence calls
		subscribed []types.JID
	}{
		{"typing announces availability", func() error { return r.p.SetChatState(ctx, aliceID, provider.PresenceTyping) }, nil,
			[]string{"available"}, []string{alice + " composing "}, nil},
		{"recording", func() error { return r.p.SetChatState(ctx, aliceID, provider.PresenceRecording) }, nil,
			nil, []string{alice + " composing audio"}, nil},
		{"paused", func() error { return r.p.SetChatState(ctx, groupID, provider.PresencePaused) }, nil,
			nil, []string{"120363000000000001@g.us paused "}, nil},
		{"SetTyping on shares the code", func() error { return r.p.SetTyping(ctx, aliceID, true) }, nil,
			nil, []string{alice + " composing "}, nil},
		{"SetTyping off", func() error { return r.p.SetTyping(ctx, aliceID, false) }, nil,
			nil, []string{alice + " paused "}, nil},
		{"offline", func() error { return r.p.SetPresence(ctx, provider.PresenceOffline) }, nil,
			[]string{"unavailable"}, nil, nil},
		{"subscribe announces again after offline", func() error { return r.p.SubscribePresence(ctx, aliceID) }, nil,
			[]string{"available"}, nil, []types.JID{alicePN}},
		{"subscribe by LID", func() error { return r.p.SubscribePresence(ctx, aliceLId) }, nil,
			nil, nil, []types.JID{aliceLID}},
		{"online", func() error { return r.p.SetPresence(ctx, provider.PresenceOnline) }, nil,
			[]string{"available"}, nil, nil},
		{"a chat state as own presence", func() error { return r.p.SetPresence(ctx, provider.PresenceTyping) }, provider.ErrUnsupported, nil, nil, nil},
		{"an own presence as chat state", func() error { return r.p.SetChatState(ctx, aliceID, provider.PresenceOnline) }, provider.ErrUnsupported, nil, nil, nil},
		{"an unknown chat state", func() error { return r.p.SetChatState(ctx, aliceID, "dancing") }, provider.ErrUnsupported, nil, nil, nil},
		{"chat state to no chat", func() error { return r.p.SetChatState(ctx, chatid.ID{}, provider.PresenceTyping) }, chatid.ErrInvalid, nil, nil, nil},
		{"subscribe to a group", func() error { return r.p.SubscribePresence(ctx, groupID) }, provider.ErrInvalidRecipient, nil, nil, nil},
	}
	for _, s := range steps {
		c.mu.Lock()
		c.presences = nil
		c.mu.Unlock()
		c.cmu.Lock()
		c.subs = nil
		c.cmu.Unlock()
		err := s.call()
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Errorf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		_, _, states := c.take()
		c.mu.Lock()
		var own []string
		for _, p := range c.presences {
			if !strings.Contains(p, "@") {
				own = append(own, p)
			}
		}
		c.mu.Unlock()
		c.cmu.Lock()
		subs := c.subs
		c.cmu.Unlock()
		if !reflect.DeepEqual(own, s.presences) || !reflect.DeepEqual(states, s.states) || !reflect.DeepEqual(subs, s.subscribed) {
			t.Errorf("%s: presences %q, states %q, subscribed %v; want %q, %q, %v", s.name, own, states, subs, s.presences, s.states, s.subscribed)
		}
	}
}

// WhatsApp's errors come back wrapped; every call refuses a session not connected,
// and SubscribePresence a client without it.
func TestPresenceErrors(t *testing.T) {
	boom := errors.New("boom")
	calls := []struct {
		name string
		call func(p *Provider, ctx context.Context) error
	}{
		{"SetPresence", func(p *Provider, ctx context.Context) error { return p.SetPresence(ctx, provider.PresenceOnline) }},
		{"SetChatState", func(p *Provider, ctx context.Context) error {
			return p.SetChatState(ctx, aliceID, provider.PresenceRecording)
		}},
		{"SubscribePresence", func(p *Provider, ctx context.Context) error { return p.SubscribePresence(ctx, aliceID) }},
	}
	r, c := chatRig(t)
	ctx := ctxT(t)
	c.cmu.Lock()
	c.errs["SendPresence"], c.errs["SendChatPresence"], c.errs["SubscribePresence"] = boom, boom, boom
	c.cmu.Unlock()
	for _, tc := range calls {
		if err := tc.call(r.p, ctx); !errors.Is(err, boom) {
			t.Errorf("%s: WhatsApp's error: %v", tc.name, err)
		}
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
	if err := plain.p.SubscribePresence(ctx, aliceID); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("subscribe on a client without it: %v", err)
	}
}

// whatsmeow's presence events become presence.update notifications in WAHA's shape.
func TestPresenceEvents(t *testing.T) {
	r, c := chatRig(t)
	ctx := ctxT(t)
	if err := r.p.container.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	seen := time.Unix(1_780_000_000, 0)
	ts := seen.Unix()
	one := func(id, who chatid.ID, p provider.Presence, last *int64) provider.PresenceUpdate {
		return provider.PresenceUpdate{ID: id, Presences: []provider.ParticipantPresence{{Participant: who, LastKnownPresence: p, LastSeen: last}}}
	}
	dmSrc := types.MessageSource{Chat: alicePN, Sender: alicePN}
	groupSrc := types.MessageSource{Chat: groupJID, Sender: bobPN, IsGroup: true}
	for _, tc := range []struct {
		name string
		evt  any
		want provider.PresenceUpdate
	}{
		{"online", &events.Presence{From: alicePN}, one(aliceID, aliceID, provider.PresenceOnline, nil)},
		{"offline with last seen, from a device", &events.Presence{From: types.NewADJID(alicePN.User, 0, 3), Unavailable: true, LastSeen: seen},
			one(aliceID, aliceID, provider.PresenceOffline, &ts)},
		{"by LID, mapped", &events.Presence{From: aliceLID}, one(aliceID, aliceID, provider.PresenceOnline, nil)},
		{"typing", &events.ChatPresence{MessageSource: dmSrc, State: types.ChatPresenceComposing}, one(aliceID, aliceID, provider.PresenceTyping, nil)},
		{"recording", &events.ChatPresence{MessageSource: dmSrc, State: types.ChatPresenceComposing, Media: types.ChatPresenceMediaAudio},
			one(aliceID, aliceID, provider.PresenceRecording, nil)},
		{"paused", &events.ChatPresence{MessageSource: dmSrc, State: types.ChatPresencePaused}, one(aliceID, aliceID, provider.PresencePaused, nil)},
		{"typing in a group", &events.ChatPresence{MessageSource: groupSrc, State: types.ChatPresenceComposing},
			one(groupID, bobID, provider.PresenceTyping, nil)},
		{"recording in a group by LID", &events.ChatPresence{MessageSource: types.MessageSource{Chat: groupJID, Sender: aliceLID, IsGroup: true},
			State: types.ChatPresenceComposing, Media: types.ChatPresenceMediaAudio}, one(groupID, aliceID, provider.PresenceRecording, nil)},
	} {
		c.emit(tc.evt)
		got, ok := r.next().(provider.PresenceUpdate)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %#v, want %#v", tc.name, got, tc.want)
		}
	}
	// Not reported: own chat states, unknown states, servers that are not chats.
	c.emit(&events.ChatPresence{MessageSource: types.MessageSource{Chat: alicePN, Sender: mePN, IsFromMe: true}, State: types.ChatPresenceComposing})
	c.emit(&events.ChatPresence{MessageSource: dmSrc, State: "dancing"})
	c.emit(&events.Presence{From: types.NewJID("1", types.BotServer)})
	c.emit(&events.Presence{From: groupJID})
	r.quiet()

	b, err := json.Marshal(one(groupID, bobID, provider.PresenceTyping, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"120363000000000001@g.us","presences":[{"participant":"15551230002@c.us","lastKnownPresence":"typing","lastSeen":null}]}`
	if string(b) != want {
		t.Errorf("JSON %s\nwant %s", b, want)
	}
}
