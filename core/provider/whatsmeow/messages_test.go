package whatsmeow

import (
	"context"
	"testing"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// The fake's messageClient: edits and polls are whatsmeow's own builders (they use no
// client state); a revoke is built the way whatsmeow builds one of the session's own
// messages; a vote records the poll it was asked for.
func (c *fakeClient) BuildEdit(chat types.JID, id types.MessageID, content *waE2E.Message) *waE2E.Message {
	return (&wm.Client{}).BuildEdit(chat, id, content)
}

func (c *fakeClient) BuildPollCreation(name string, options []string, selectable int) *waE2E.Message {
	return (&wm.Client{}).BuildPollCreation(name, options, selectable)
}

func (c *fakeClient) BuildRevoke(chat, sender types.JID, id types.MessageID) *waE2E.Message {
	key := &waCommon.MessageKey{RemoteJID: proto.String(chat.String()), FromMe: proto.Bool(true), ID: proto.String(id)}
	if !sender.IsEmpty() && sender.User != mePN.User {
		// Someone else's message (an admin's revoke), as whatsmeow's BuildMessageKey.
		key.FromMe = proto.Bool(false)
		if chat.Server != types.DefaultUserServer && chat.Server != types.HiddenUserServer {
			key.Participant = proto.String(sender.ToNonAD().String())
		}
	}
	return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: key}}
}

func (c *fakeClient) BuildPollVote(ctx context.Context, poll *types.MessageInfo, options []string) (*waE2E.Message, error) {
	c.mu.Lock()
	c.votedOn = append(c.votedOn, *poll)
	c.mu.Unlock()
	return &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{
		PollCreationMessageKey: &waCommon.MessageKey{ID: proto.String(poll.ID)}}}, nil
}

var _ messageClient = (*fakeClient)(nil)

// Edits, revokes, polls, votes and mentions reach whatsmeow as the messages WhatsApp
// expects.
func TestSendMessageOperations(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	alice := chatid.MustParse("15551230001")
	group := chatid.MustParse("120363012345678901@g.us")
	author := chatid.MustParse("15551230002")
	for _, msg := range []provider.Outbound{
		{ID: "e", ChatID: alice, Kind: provider.KindEdit, Target: "3EB0AAAA", Text: "fixed"},
		{ID: "r", ChatID: alice, Kind: provider.KindRevoke, Target: "3EB0BBBB"},
		{ID: "p", ChatID: alice, Kind: provider.KindPoll, Poll: &provider.Poll{Name: "Lunch?", Options: []string{"a", "b", "c"}}},
		{ID: "pm", ChatID: alice, Kind: provider.KindPoll, Poll: &provider.Poll{Name: "Many", Options: []string{"a", "b"}, MultipleAnswers: true}},
		{ID: "v", ChatID: group, Kind: provider.KindPollVote, Vote: &provider.PollVote{PollID: "3EB0CCCC", PollSender: author, Options: []string{"a"}}},
		{ID: "m", ChatID: group, Kind: provider.KindText, Text: "hi @15551230002", Mentions: []chatid.ID{author}},
	} {
		if _, err := r.p.Send(ctxT(t), msg); err != nil {
			t.Fatalf("%s: %v", msg.ID, err)
		}
	}
	c.mu.Lock()
	sent, votes := c.sent, c.votedOn
	c.mu.Unlock()
	if len(sent) != 6 {
		t.Fatalf("sent %d messages", len(sent))
	}
	edit := sent[0].msg.GetEditedMessage().GetMessage().GetProtocolMessage()
	if edit.GetType() != waE2E.ProtocolMessage_MESSAGE_EDIT || edit.GetKey().GetID() != "3EB0AAAA" || edit.GetEditedMessage().GetConversation() != "fixed" {
		t.Errorf("edit: %v", sent[0].msg)
	}
	if rv := sent[1].msg.GetProtocolMessage(); rv.GetType() != waE2E.ProtocolMessage_REVOKE || rv.GetKey().GetID() != "3EB0BBBB" || !rv.GetKey().GetFromMe() {
		t.Errorf("revoke: %v", sent[1].msg)
	}
	if pc := sent[2].msg.GetPollCreationMessage(); pc.GetName() != "Lunch?" || len(pc.GetOptions()) != 3 || pc.GetSelectableOptionsCount() != 1 ||
		len(sent[2].msg.GetMessageContextInfo().GetMessageSecret()) != 32 {
		t.Errorf("poll: %v", sent[2].msg)
	}
	if n := sent[3].msg.GetPollCreationMessage().GetSelectableOptionsCount(); n != 0 {
		t.Errorf("multiple answers: selectable %d, want 0 (any)", n)
	}
	if len(votes) != 1 || votes[0].ID != "3EB0CCCC" || votes[0].Sender.User != "15551230002" || votes[0].Chat.Server != types.GroupServer || !votes[0].IsGroup {
		t.Errorf("vote asked for %+v", votes)
	}
	if m := sent[5].msg.GetExtendedTextMessage(); m.GetText() != "hi @15551230002" || len(m.GetContextInfo().GetMentionedJID()) != 1 ||
		m.GetContextInfo().GetMentionedJID()[0] != "15551230002@s.whatsapp.net" {
		t.Errorf("mention: %v", sent[5].msg)
	}

	// A vote in a group without the poll's author cannot be addressed.
	_, err := r.p.Send(ctxT(t), provider.Outbound{ID: "v2", ChatID: group, Kind: provider.KindPollVote, Vote: &provider.PollVote{PollID: "x"}})
	if !isCode(err, CodeInvalidMessage, false) {
		t.Errorf("group vote without author: %v", err)
	}
}
