package whatsmeow

import (
	"context"
	"errors"
	"reflect"
	"testing"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// fakeIV marks a vote the fake "decrypts": its payload is the PollVoteMessage in the
// clear. Any other IV fails, as a vote encrypted with another secret does.
var fakeIV = []byte("fake-iv")

func (c *fakeClient) DecryptPollVote(ctx context.Context, vote *events.Message) (*waE2E.PollVoteMessage, error) {
	c.record("DecryptPollVote")
	enc := vote.Message.GetPollUpdateMessage().GetVote()
	if string(enc.GetEncIV()) != string(fakeIV) {
		return nil, errors.New("failed to decrypt poll vote: message authentication failed")
	}
	var v waE2E.PollVoteMessage
	if err := proto.Unmarshal(enc.GetEncPayload(), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

var _ pollVoteDecrypter = (*fakeClient)(nil)

// voteMessage is a vote on pollID choosing options, as the fake decrypts it.
func voteMessage(info types.MessageInfo, pollID string, options ...string) *events.Message {
	payload, err := proto.Marshal(&waE2E.PollVoteMessage{SelectedOptions: wm.HashPollOptions(options)})
	if err != nil {
		panic(err)
	}
	return &events.Message{Info: info, Message: &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{
		PollCreationMessageKey: &waCommon.MessageKey{ID: proto.String(pollID)},
		Vote:                   &waE2E.PollEncValue{EncPayload: payload, EncIV: fakeIV},
	}}}
}

func pollMessage(info types.MessageInfo, name string, selectable uint32, options ...string) *events.Message {
	pc := &waE2E.PollCreationMessage{Name: proto.String(name), SelectableOptionsCount: proto.Uint32(selectable)}
	for _, o := range options {
		pc.Options = append(pc.Options, &waE2E.PollCreationMessage_Option{OptionName: proto.String(o)})
	}
	return &events.Message{Info: info, Message: &waE2E.Message{PollCreationMessage: pc}}
}

func groupMsg(id string, sender types.JID) types.MessageInfo {
	return types.MessageInfo{ID: id, Timestamp: msgTime, MessageSource: types.MessageSource{Chat: groupJID, Sender: sender, IsGroup: true}}
}

// Every version of a poll WhatsApp sends is a KindPoll message with its options.
func TestInboundPolls(t *testing.T) {
	alice := chatid.MustParse("15551230001")
	bob := chatid.MustParse("15551230002")
	group := chatid.MustParse("120363000000000001@g.us")
	pc := func(name string, selectable uint32, options ...string) *waE2E.PollCreationMessage {
		return pollMessage(types.MessageInfo{}, name, selectable, options...).Message.GetPollCreationMessage()
	}
	cases := []struct {
		name string
		evt  *events.Message
		want provider.Inbound
	}{
		{"v1, one answer", pollMessage(dm("p1"), "Lunch?", 1, "sushi", "pizza"),
			provider.Inbound{ProviderID: "p1", ChatID: alice, From: alice, Kind: provider.KindPoll, Timestamp: msgTime,
				Poll: &provider.Poll{Name: "Lunch?", Options: []string{"sushi", "pizza"}}}},
		{"v2, any number", &events.Message{Info: dm("p2"), Message: &waE2E.Message{PollCreationMessageV2: pc("Which?", 0, "a", "b", "c")}},
			provider.Inbound{ProviderID: "p2", ChatID: alice, From: alice, Kind: provider.KindPoll, Timestamp: msgTime,
				Poll: &provider.Poll{Name: "Which?", Options: []string{"a", "b", "c"}, MultipleAnswers: true}}},
		{"v3 in a group", &events.Message{Info: groupMsg("p3", bobPN), Message: &waE2E.Message{PollCreationMessageV3: pc("Team?", 2, "x", "y", "z")}},
			provider.Inbound{ProviderID: "p3", ChatID: group, From: group, Participant: bob, Kind: provider.KindPoll, Timestamp: msgTime,
				Poll: &provider.Poll{Name: "Team?", Options: []string{"x", "y", "z"}, MultipleAnswers: true}}},
		{"v4, future proof", &events.Message{Info: dm("p4"), Message: &waE2E.Message{PollCreationMessageV4: &waE2E.FutureProofMessage{
			Message: &waE2E.Message{PollCreationMessageV5: pc("Four?", 1, "yes", "no")}}}},
			provider.Inbound{ProviderID: "p4", ChatID: alice, From: alice, Kind: provider.KindPoll, Timestamp: msgTime,
				Poll: &provider.Poll{Name: "Four?", Options: []string{"yes", "no"}}}},
		{"v6", &events.Message{Info: dm("p6"), Message: &waE2E.Message{PollCreationMessageV6: pc("Six?", 1, "yes", "no")}},
			provider.Inbound{ProviderID: "p6", ChatID: alice, From: alice, Kind: provider.KindPoll, Timestamp: msgTime,
				Poll: &provider.Poll{Name: "Six?", Options: []string{"yes", "no"}}}},
	}
	r := newRig(t)
	c := r.startPaired()
	for _, tc := range cases {
		c.emit(tc.evt)
		ev, ok := r.next().(provider.MessageEvent)
		if !ok {
			t.Fatalf("%s: event %#v, want a message", tc.name, ev)
		}
		if !reflect.DeepEqual(ev.Message, tc.want) {
			t.Errorf("%s:\n got %+v (poll %+v)\nwant %+v (poll %+v)", tc.name, ev.Message, ev.Message.Poll, tc.want, tc.want.Poll)
		}
		if _, ok := r.p.polls.lookup(tc.want.ProviderID); !ok {
			t.Errorf("%s: poll not remembered", tc.name)
		}
	}
	// An empty V4 wrapper and a poll without options are no polls.
	c.emit(&events.Message{Info: dm("p7"), Message: &waE2E.Message{PollCreationMessageV4: &waE2E.FutureProofMessage{}}})
	c.emit(pollMessage(dm("p8"), "Nothing?", 1))
	r.quiet()
}

// Votes on polls the session saw or sent are reported with the options' names; votes
// that cannot be read are skipped.
func TestInboundPollVotes(t *testing.T) {
	me := chatid.MustParse("15551230000")
	alice := chatid.MustParse("15551230001")
	bob := chatid.MustParse("15551230002")
	group := chatid.MustParse("120363000000000001@g.us")

	r := newRig(t)
	c := r.startPaired()

	// alice's poll in the user chat, voted on by alice herself.
	c.emit(pollMessage(dm("POLL1"), "Lunch?", 1, "sushi", "pizza", "salad"))
	if _, ok := r.next().(provider.MessageEvent); !ok {
		t.Fatal("the poll was not reported")
	}
	// The session's own poll in the group, sent through Send.
	res, err := r.p.Send(ctxT(t), provider.Outbound{ID: "g1", ChatID: group, Kind: provider.KindPoll,
		Poll: &provider.Poll{Name: "Offsite?", Options: []string{"May", "June"}, MultipleAnswers: true}})
	if err != nil {
		t.Fatal(err)
	}

	voteInfo := func(id string) types.MessageInfo { i := dm(id); i.Timestamp = msgTime.Add(60e9); return i }
	cases := []struct {
		name string
		evt  *events.Message
		want provider.PollVoteEvent
	}{
		{"on alice's poll", voteMessage(voteInfo("V1"), "POLL1", "pizza"),
			provider.PollVoteEvent{
				Vote: provider.PollVoteInfo{MessageRef: provider.MessageRef{ID: "V1", To: me, From: alice},
					SelectedOptions: []string{"pizza"}, Timestamp: msgTime.Unix() + 60},
				Poll: provider.MessageRef{ID: "POLL1", To: me, From: alice}}},
		{"withdrawn", voteMessage(voteInfo("V2"), "POLL1"),
			provider.PollVoteEvent{
				Vote: provider.PollVoteInfo{MessageRef: provider.MessageRef{ID: "V2", To: me, From: alice},
					SelectedOptions: []string{}, Timestamp: msgTime.Unix() + 60},
				Poll: provider.MessageRef{ID: "POLL1", To: me, From: alice}}},
		{"the session's own, from its phone", voteMessage(types.MessageInfo{ID: "V4", Timestamp: msgTime,
			MessageSource: types.MessageSource{Chat: alicePN, Sender: mePN, IsFromMe: true}}, "POLL1", "salad"),
			provider.PollVoteEvent{
				Vote: provider.PollVoteInfo{MessageRef: provider.MessageRef{ID: "V4", To: alice, From: me, FromMe: true},
					SelectedOptions: []string{"salad"}, Timestamp: msgTime.Unix()},
				Poll: provider.MessageRef{ID: "POLL1", To: me, From: alice}}},
		{"on the session's group poll", voteMessage(groupMsg("V3", bobPN), res.ProviderID, "June", "May"),
			provider.PollVoteEvent{
				Vote: provider.PollVoteInfo{MessageRef: provider.MessageRef{ID: "V3", To: group, From: group, Participant: bob},
					SelectedOptions: []string{"June", "May"}, Timestamp: msgTime.Unix()},
				Poll: provider.MessageRef{ID: res.ProviderID, To: group, From: me, FromMe: true}}},
	}
	for _, tc := range cases {
		c.emit(tc.evt)
		ev, ok := r.next().(provider.PollVoteEvent)
		if !ok {
			t.Fatalf("%s: event %#v, want a poll vote", tc.name, ev)
		}
		if !reflect.DeepEqual(ev, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, ev, tc.want)
		}
	}

	skipped := map[string]*events.Message{
		"unknown poll":     voteMessage(dm("S1"), "NOSUCHPOLL", "pizza"),
		"unknown option":   voteMessage(dm("S2"), "POLL1", "pasta"),
		"not decrypted":    {Info: dm("S3"), Message: &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{PollCreationMessageKey: &waCommon.MessageKey{ID: proto.String("POLL1")}}}},
		"no poll key":      {Info: dm("S4"), Message: &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{}}},
		"unsupported chat": voteMessage(types.MessageInfo{ID: "S5", MessageSource: types.MessageSource{Chat: types.StatusBroadcastJID, Sender: alicePN}}, "POLL1", "pizza"),
	}
	decrypts := c.called("DecryptPollVote")
	for name, m := range skipped {
		if !c.emit(m) {
			t.Errorf("%s: handler refused the vote", name)
		}
	}
	r.quiet()
	// Only the votes on a known poll in a served chat were decrypted.
	if n := c.called("DecryptPollVote") - decrypts; n != 2 {
		t.Errorf("%d votes decrypted, want 2 (unknown option, not decrypted)", n)
	}
}

// A session remembers at most polls.max polls, the least recently seen or voted on
// forgotten first: a vote on a forgotten poll is not reported.
func TestPollsBounded(t *testing.T) {
	r := newRig(t)
	r.p.polls.max = 2
	c := r.startPaired()
	for _, id := range []string{"P1", "P2"} {
		c.emit(pollMessage(dm(id), id, 1, "yes", "no"))
		r.next()
	}
	// A vote on P1 makes it recent: P2 is the oldest when P3 comes.
	c.emit(voteMessage(dm("V1"), "P1", "yes"))
	if _, ok := r.next().(provider.PollVoteEvent); !ok {
		t.Fatal("vote on P1 not reported")
	}
	c.emit(pollMessage(dm("P3"), "P3", 1, "yes", "no"))
	r.next()

	c.emit(voteMessage(dm("V2"), "P2", "no"))
	r.quiet()
	for _, id := range []string{"P1", "P3"} {
		c.emit(voteMessage(dm("V"+id), id, "no"))
		if ev, ok := r.next().(provider.PollVoteEvent); !ok || ev.Poll.ID != id {
			t.Fatalf("vote on %s: event %#v", id, ev)
		}
	}

	// The default bound is maxRememberedPolls.
	var x pollIndex
	for i := range maxRememberedPolls + 10 {
		x.remember(string(rune(0x1000+i)), pollRef{}, []string{"a"})
	}
	if x.order.Len() != maxRememberedPolls || len(x.byID) != maxRememberedPolls {
		t.Fatalf("%d polls remembered, want %d", x.order.Len(), maxRememberedPolls)
	}
	if _, ok := x.lookup(string(rune(0x1000))); ok {
		t.Error("the oldest poll was kept")
	}
	x.clear()
	if _, ok := x.lookup(string(rune(0x1000 + maxRememberedPolls))); ok {
		t.Error("a poll survived clear")
	}
}
