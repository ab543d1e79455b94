package whatsmeow

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Polls and votes, inbound.
//
// A poll is an inbound message of KindPoll (any of the PollCreationMessage versions
// WhatsApp sends). A vote is a PollUpdateMessage: its choice is encrypted with the
// poll's message secret, which whatsmeow keeps in the store (MsgSecrets) for every
// poll it sent or received, and decrypts with DecryptPollVote. What comes out are
// SHA-256 hashes of the chosen options' names, so the provider remembers the options of
// each poll it saw or sent (maxRememberedPolls per session, in memory, the least
// recently seen or voted on forgotten first) and reports each vote it can map back as a
// provider.PollVoteEvent. A vote is skipped, with a debug log, when its poll is not
// remembered (sent before the gateway linked or restarted, or evicted), when it does
// not decrypt, or when it names an option the poll did not have: reporting raw hashes,
// or a partial choice, would misstate the vote.

// maxRememberedPolls bounds the polls a session remembers for their votes.
const maxRememberedPolls = 4096

// pollVoteDecrypter is the part of *whatsmeow.Client that reads votes. A Client without
// it (a test fake that does not fake it) reports no votes.
type pollVoteDecrypter interface {
	DecryptPollVote(ctx context.Context, vote *events.Message) (*waE2E.PollVoteMessage, error)
}

var _ pollVoteDecrypter = (*wm.Client)(nil)

// pollCreationOf returns the poll of a message, whichever version carries it, or nil.
func pollCreationOf(m *waE2E.Message) *waE2E.PollCreationMessage {
	for _, pc := range []*waE2E.PollCreationMessage{
		m.GetPollCreationMessage(), m.GetPollCreationMessageV2(), m.GetPollCreationMessageV3(),
		m.GetPollCreationMessageV5(), m.GetPollCreationMessageV6(),
	} {
		if pc != nil {
			return pc
		}
	}
	if inner := m.GetPollCreationMessageV4().GetMessage(); inner != nil {
		return pollCreationOf(inner)
	}
	return nil
}

// pollOf maps a poll onto provider.Poll. A poll without options is not one.
// SelectableOptionsCount is 1 for a single choice and 0 ("any") or more for several.
func pollOf(pc *waE2E.PollCreationMessage) (*provider.Poll, bool) {
	p := &provider.Poll{Name: pc.GetName(), MultipleAnswers: pc.GetSelectableOptionsCount() != 1}
	for _, o := range pc.GetOptions() {
		p.Options = append(p.Options, o.GetOptionName())
	}
	return p, len(p.Options) > 0
}

// pollRef is where a remembered poll is, as PollVoteEvent.Poll names it.
type pollRef struct {
	to, from chatid.ID
	fromMe   bool
}

// pollRefOf returns the ref of an inbound poll: from its author, to the group or the
// other party of the user chat.
func (r *run) pollRefOf(in provider.Inbound) pollRef {
	from := in.From
	if in.ChatID.IsGroup() {
		from = in.Participant
	}
	return pollRef{to: r.recipientOf(in), from: from, fromMe: in.FromMe}
}

// recipientOf is the "to" of an inbound message: the group, the chat the session sent
// it to, or the session itself.
func (r *run) recipientOf(in provider.Inbound) chatid.ID {
	if in.ChatID.IsGroup() || in.FromMe {
		return in.ChatID
	}
	return r.meID()
}

// rememberSent remembers a poll the session sent through Send, so that votes on it
// resolve: whatsmeow stored its message secret when it sent it.
func (r *run) rememberSent(id string, chat chatid.ID, p *provider.Poll) {
	r.p.polls.remember(id, pollRef{to: chat, from: r.meID(), fromMe: true}, p.Options)
}

// onPollVote reports a vote on a remembered poll as a PollVoteEvent, as the sandbox
// does: the vote from the voter (in a group, from the group with the voter as
// participant) to the poll's author or group; every option chosen, none when the vote
// was withdrawn; the poll with its author. Votes that cannot be read are skipped (see
// above).
func (r *run) onPollVote(evt *events.Message) {
	pollID := evt.Message.GetPollUpdateMessage().GetPollCreationMessageKey().GetID()
	skip := func(why string, args ...any) {
		r.p.log.Debug("whatsmeow poll vote skipped: "+why, append([]any{"vote", evt.Info.ID, "poll", pollID}, args...)...)
	}
	poll, ok := r.p.polls.lookup(pollID)
	if !ok {
		skip("unknown poll")
		return
	}
	dec, ok := r.client.(pollVoteDecrypter)
	if !ok {
		skip("this client decrypts no votes")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	in, ok := r.header(ctx, evt.Info)
	if !ok {
		return
	}
	vote, err := dec.DecryptPollVote(ctx, evt)
	if err != nil {
		skip("not decrypted", "err", err)
		return
	}
	options, ok := poll.optionsOf(vote.GetSelectedOptions())
	if !ok {
		skip("an option the poll does not have")
		return
	}
	r.emit(provider.PollVoteEvent{
		Vote: provider.PollVoteInfo{
			MessageRef: provider.MessageRef{ID: in.ProviderID, To: r.recipientOf(in), From: in.From,
				FromMe: in.FromMe, Participant: in.Participant},
			SelectedOptions: options,
			Timestamp:       in.Timestamp.Unix(),
		},
		Poll: provider.MessageRef{ID: pollID, To: poll.ref.to, From: poll.ref.from, FromMe: poll.ref.fromMe},
	})
}

// knownPoll is what a session remembers of a poll.
type knownPoll struct {
	id  string
	ref pollRef
	// options are the option names by their SHA-256 hash, as votes name them.
	options map[[sha256.Size]byte]string
}

// optionsOf maps the hashes of a vote back onto option names, in the vote's order;
// false when one is not an option of the poll.
func (k knownPoll) optionsOf(hashes [][]byte) ([]string, bool) {
	out := make([]string, 0, len(hashes))
	for _, h := range hashes {
		if len(h) != sha256.Size {
			return nil, false
		}
		name, ok := k.options[[sha256.Size]byte(h)]
		if !ok {
			return nil, false
		}
		out = append(out, name)
	}
	return out, true
}

// pollIndex remembers the last max polls of a session seen or voted on (an LRU), in
// memory. Its zero value holds maxRememberedPolls. It is used by Send's callers and
// the event goroutine alike.
type pollIndex struct {
	max int // 0: maxRememberedPolls

	mu    sync.Mutex
	byID  map[string]*list.Element // of *knownPoll
	order list.List                // most recently used first
}

// remember records the poll id with its options, or refreshes it.
func (x *pollIndex) remember(id string, ref pollRef, options []string) {
	if id == "" {
		return
	}
	k := &knownPoll{id: id, ref: ref, options: make(map[[sha256.Size]byte]string, len(options))}
	for i, h := range wm.HashPollOptions(options) {
		k.options[[sha256.Size]byte(h)] = options[i]
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byID == nil {
		x.byID = make(map[string]*list.Element)
	}
	if el, ok := x.byID[id]; ok {
		el.Value = k
		x.order.MoveToFront(el)
		return
	}
	x.byID[id] = x.order.PushFront(k)
	limit := x.max
	if limit <= 0 {
		limit = maxRememberedPolls
	}
	for x.order.Len() > limit {
		oldest := x.order.Back()
		x.order.Remove(oldest)
		delete(x.byID, oldest.Value.(*knownPoll).id)
	}
}

// lookup returns the poll id, marking it recently used.
func (x *pollIndex) lookup(id string) (knownPoll, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	el, ok := x.byID[id]
	if !ok {
		return knownPoll{}, false
	}
	x.order.MoveToFront(el)
	return *el.Value.(*knownPoll), true
}

// clear forgets every poll (the session logged out or was closed).
func (x *pollIndex) clear() {
	x.mu.Lock()
	x.byID = nil
	x.order.Init()
	x.mu.Unlock()
}
