package sandbox

import (
	"fmt"
	"slices"
	"sync"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Message operations between sandbox numbers (provider/messages.go):
//
//   - An edit or a revoke reaches the chat's other numbers like any message, as an
//     inbound KindEdit (Text the new text) or KindRevoke, Target naming the message.
//     The sandbox keeps no messages, so it does not check that Target is the
//     session's own, nor WhatsApp's 15-minute limit on edits.
//   - A poll reaches them like any message (KindPoll with its Poll). The network
//     remembers each poll (its author, chat and options; at most maxSandboxPolls, the
//     oldest forgotten first) so that votes can be checked and routed.
//   - A vote names a poll the network remembers, options among the poll's (at most one
//     unless it allows several; none withdraws the vote), and is sent in the poll's
//     chat; anything else fails the send with "invalid_message". A valid vote reaches
//     only the poll's author, as a poll.vote notification (PollVoteEvent), as on
//     WhatsApp, where only the author can read votes.

// maxSandboxPolls bounds the polls the network remembers.
const maxSandboxPolls = 10_000

// pollBook is the polls of a Network. Its lock is a leaf.
type pollBook struct {
	mu    sync.Mutex
	polls map[string]sandboxPoll
	order []string // poll ids, oldest first
}

// sandboxPoll is what the network remembers of a poll.
type sandboxPoll struct {
	author string
	// chat is the chat the author sent it to (a number's user chat, or a group).
	chat chatid.ID
	poll provider.Poll
}

// record remembers a poll the author sent to chat.
func (b *pollBook) record(id, author string, chat chatid.ID, p provider.Poll) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.polls == nil {
		b.polls = map[string]sandboxPoll{}
	}
	if len(b.order) >= maxSandboxPolls {
		delete(b.polls, b.order[0])
		b.order = slices.Delete(b.order, 0, 1)
	}
	b.polls[id] = sandboxPoll{author: author, chat: chat, poll: p}
	b.order = append(b.order, id)
}

// check returns the poll a vote of voter in chat is about, or why it is refused.
func (b *pollBook) check(voter string, chat chatid.ID, v *provider.PollVote) (sandboxPoll, error) {
	b.mu.Lock()
	p, ok := b.polls[v.PollID]
	b.mu.Unlock()
	voterChat := chatid.ID{Local: voter, Server: chatid.User}
	switch {
	case !ok:
		return p, fmt.Errorf("poll %s: %w", v.PollID, provider.ErrNotFound)
	case p.chat.IsGroup() && chat != p.chat, !p.chat.IsGroup() && (chat.Local != p.author || p.chat != voterChat):
		return p, fmt.Errorf("poll %s is not in chat %s", v.PollID, chat)
	case len(v.Options) > 1 && !p.poll.MultipleAnswers:
		return p, fmt.Errorf("poll %s takes one option, not %d", v.PollID, len(v.Options))
	}
	for _, o := range v.Options {
		if !slices.Contains(p.poll.Options, o) {
			return p, fmt.Errorf("poll %s has no option %q", v.PollID, o)
		}
	}
	return p, nil
}

// checkVote checks a vote the session is about to send (before it is accepted).
func (s *session) checkVote(from string, msg provider.Outbound) (sandboxPoll, error) {
	p, err := s.net.polls.check(from, msg.ChatID, msg.Vote)
	if err != nil {
		return p, &provider.SendError{Code: CodeInvalidMessage, Err: s.errorf("voting", fmt.Errorf("%w: %w", ErrInvalidMessage, err))}
	}
	return p, nil
}

// deliverVote tells the poll's author of the vote res of voter.
func (n *Network) deliverVote(voter string, p sandboxPoll, msg provider.Outbound, res provider.SendResult) {
	author := n.byPhone(p.author)
	if author == nil || voter == p.author {
		return
	}
	voterID := chatid.ID{Local: voter, Server: chatid.User}
	authorID := chatid.ID{Local: p.author, Server: chatid.User}
	vote := provider.PollVoteInfo{
		MessageRef:      provider.MessageRef{ID: res.ProviderID, To: p.chat, From: voterID},
		SelectedOptions: slices.Clone(msg.Vote.Options),
		Timestamp:       res.Timestamp.Unix(),
	}
	if vote.SelectedOptions == nil {
		vote.SelectedOptions = []string{}
	}
	if p.chat.IsGroup() {
		vote.From, vote.Participant = p.chat, voterID
	} else {
		vote.To = authorID
	}
	author.report(provider.PollVoteEvent{Vote: vote,
		Poll: provider.MessageRef{ID: msg.Vote.PollID, To: p.chat, From: authorID, FromMe: true}})
}
