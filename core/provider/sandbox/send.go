package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/linkpreview"
	"github.com/wagate/wagate/core/provider"
)

// Send implements provider.Provider. Every kind is simulated alike: text, image, file,
// voice, video, sticker, location, contact, reaction, edit, revoke and poll; a send to
// status@broadcast posts or deletes a status (status.go); a poll vote goes to
// the poll's author only (messages.go). The send takes the send latency
// (faults.send_latency, else send_latency), then returns a WhatsApp Web style id
// ("3EB0" + 16 hex digits); the delivered ack follows after delivery_delay and the read
// ack read_delay later (none when read_delay is 0). With delivery_delay 0 the delivered
// ack is reported at once, before Send returns. Media is never fetched nor checked: a
// media URL need not exist, and data is dropped once the send is accepted.
//
// A message to the number of another WORKING sandbox session reaches that session as an
// inbound message, at once, with the same kind, text or caption, and the kind's field:
// Media without its Data, Location, Contacts, or Reaction (MessageID and Emoji only).
// A message to a group (groups.go) reaches the other members the same way, with the
// group as chat and the author as participant; a post to a channel (channels.go) reaches its
// followers with the channel as chat. A recipient that blocked the sender (contacts.go)
// gets nothing, and the sender no ack past the send's own.
//
// Errors: provider.ErrNotConnected (wrapped) unless WORKING; provider.ErrLoggedOut
// (wrapped) once logged out; *provider.SendError with Code "banned" under temp_ban,
// "reachout_restricted" under reachout_timelock to a user chat that never wrote,
// "sandbox_send_failure" under send_failure_rate, "timeout" or "canceled" when ctx ends
// first (as it always does under silent_disconnect), "unsupported" for an unknown kind,
// "invalid_message" when the kind's field is missing (an image without Media, ...),
// "invalid_recipient" for an empty chat id, "not_a_participant" for a group the session
// is not in, "not_allowed" in a messages-admin-only group the session does not admin or a
// channel it does not own, "invalid_recipient" for an unknown channel.
func (s *session) Send(ctx context.Context, msg provider.Outbound) (provider.SendResult, error) {
	if err := checkOutbound(msg); err != nil {
		return provider.SendResult{}, err
	}
	if msg.ChatID.IsZero() {
		return provider.SendResult{}, &provider.SendError{Code: CodeInvalidRecipient, Err: fmt.Errorf("empty chat id: %w", provider.ErrInvalidRecipient)}
	}

	s.mu.Lock()
	r, err := s.sendableLocked()
	faults := s.faults
	_, wrote := s.wrote[msg.ChatID.String()]
	from := s.phone
	s.mu.Unlock()
	if err != nil {
		return provider.SendResult{}, err
	}
	var poll sandboxPoll
	if msg.Kind == provider.KindPollVote {
		if poll, err = s.checkVote(from, msg); err != nil {
			return provider.SendResult{}, err
		}
	}
	var members []string
	status := msg.ChatID == chatid.StatusBroadcast
	switch {
	case msg.ChatID.IsGroup():
		if members, err = s.net.groupRecipients(from, msg.ChatID); err != nil {
			return provider.SendResult{}, &provider.SendError{Code: groupSendCode(err), Err: s.errorf("sending", err)}
		}
	case status: // status.go
		if members, err = s.net.statusAudience(from, msg); err != nil {
			return provider.SendResult{}, err
		}
	}
	if msg.ChatID.IsNewsletter() { // channels.go: the owner posts, its followers get it
		if members, err = s.net.channelFollowers(from, msg.ChatID); err != nil {
			return provider.SendResult{}, err
		}
	}
	if faults.ReachoutTimelock && msg.ChatID.Server == chatid.User && !wrote {
		return provider.SendResult{}, &provider.SendError{Code: CodeReachout, Retryable: true,
			Err: fmt.Errorf("sending to %s: %w", msg.ChatID, ErrReachoutTimelock)}
	}
	if faults.SilentDisconnect {
		return provider.SendResult{}, s.waitSend(ctx, r, msg.ChatID, -1)
	}
	latency := s.net.cfg.SendLatency.D()
	if faults.SendLatency > 0 {
		latency = faults.SendLatency.D()
	}
	if latency > 0 {
		if err := s.waitSend(ctx, r, msg.ChatID, latency); err != nil {
			return provider.SendResult{}, err
		}
	}
	if s.net.chance(faults.SendFailureRate) {
		return provider.SendResult{}, &provider.SendError{Code: CodeSendFailure, Retryable: true, Err: ErrSendFailure}
	}

	// The send went through the latency: the network takes it now, unless the session
	// changed meanwhile.
	s.mu.Lock()
	if cur, err := s.sendableLocked(); err != nil || cur != r {
		s.mu.Unlock()
		if err == nil {
			err = s.errorf("sending", provider.ErrNotConnected)
		}
		return provider.SendResult{}, err
	}
	if s.faults.SilentDisconnect {
		s.mu.Unlock()
		return provider.SendResult{}, s.waitSend(ctx, r, msg.ChatID, -1)
	}
	res := provider.SendResult{ProviderID: s.net.messageID(), Timestamp: s.net.clock.Now()}
	blocked := s.net.exchange(from, msg.ChatID) // contacts.go: a recipient that blocked from never gets it
	if !blocked {
		s.scheduleAcksLocked(r, res.ProviderID, msg.ChatID)
	}
	s.mu.Unlock()
	s.net.logSend(msg.ID, res.ProviderID)
	s.events.drain()

	switch {
	case msg.Kind == provider.KindPoll:
		s.net.polls.record(res.ProviderID, from, msg.ChatID, *msg.Poll)
	case msg.Kind == provider.KindPollVote:
		if !blocked {
			s.net.deliverVote(from, poll, msg, res)
		}
		return res, nil // a vote is no message to the chat (messages.go)
	}
	if msg.ChatID.Server == chatid.User && !blocked {
		if to := s.net.byPhone(msg.ChatID.Local); to != nil && to != s {
			sender := chatid.ID{Local: from, Server: chatid.User}
			in := inbound(msg)
			in.ProviderID, in.ChatID, in.From, in.Timestamp = res.ProviderID, sender, sender, res.Timestamp
			s.net.chats.delivered(msg.ChatID.Local, from, res.ProviderID) // chats.go: read on the recipient's sendSeen
			to.receive(in)
		}
	}
	if msg.ChatID.IsGroup() || status {
		if status && msg.Kind != provider.KindRevoke {
			s.net.recordStatus(res.ProviderID, from, members)
		}
		s.net.deliverToGroup(from, msg, res, members)
	}
	if msg.ChatID.IsNewsletter() {
		s.net.postToChannel(msg, res, members)
	}
	return res, nil
}

// deliverToGroup hands a group message (or a status: status.go) to the running
// sessions of the other members, as sent by the group with the author as participant,
// except to members who blocked the author.
func (n *Network) deliverToGroup(from string, msg provider.Outbound, res provider.SendResult, members []string) {
	author := chatid.ID{Local: from, Server: chatid.User}
	for _, phone := range members {
		b := &n.contacts
		b.mu.Lock()
		blocked := b.blocksLocked(phone, from)
		b.mu.Unlock()
		to := n.byPhone(phone)
		if blocked || to == nil {
			continue
		}
		in := inbound(msg)
		in.ProviderID, in.ChatID, in.From, in.Participant, in.Timestamp = res.ProviderID, msg.ChatID, msg.ChatID, author, res.Timestamp
		to.receive(in)
	}
}

// groupSendCode is the SendError code of a refused group send.
func groupSendCode(err error) string {
	if errors.Is(err, provider.ErrNotAllowed) {
		return CodeNotAllowed
	}
	return CodeNotParticipant
}

// checkOutbound refuses what no transport could send: an unknown kind, a kind without
// its field, an empty chat id.
func checkOutbound(msg provider.Outbound) error {
	var missing string
	switch msg.Kind {
	case provider.KindText:
	case provider.KindImage, provider.KindFile, provider.KindVoice, provider.KindVideo, provider.KindSticker:
		if msg.Media == nil || (msg.Media.URL == "") == (len(msg.Media.Data) == 0) {
			missing = "media with a url or data"
		}
	case provider.KindLocation:
		if msg.Location == nil {
			missing = "location"
		}
	case provider.KindContact:
		if len(msg.Contacts) == 0 {
			missing = "contacts"
		}
	case provider.KindReaction:
		if msg.Reaction == nil || msg.Reaction.MessageID == "" {
			missing = "reaction with a message id"
		}
	case provider.KindEdit:
		if msg.Target == "" || msg.Text == "" {
			missing = "target and text"
		}
	case provider.KindRevoke:
		if msg.Target == "" {
			missing = "target"
		}
	case provider.KindPoll:
		if msg.Poll == nil || len(msg.Poll.Options) < 2 {
			missing = "poll with two options or more"
		}
	case provider.KindPollVote:
		if msg.Vote == nil || msg.Vote.PollID == "" {
			missing = "vote with a poll id"
		}
	case provider.KindEvent:
		if msg.Event == nil || msg.Event.Name == "" || msg.Event.StartTime == 0 {
			missing = "event with a name and a start time"
		}
	default:
		return &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("sandbox: message kind %q: %w", msg.Kind, provider.ErrUnsupported)}
	}
	if missing != "" {
		return &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: %s message without %s", ErrInvalidMessage, msg.Kind, missing)}
	}
	if msg.ChatID.IsZero() {
		return &provider.SendError{Code: CodeInvalidRecipient, Err: fmt.Errorf("empty chat id: %w", provider.ErrInvalidRecipient)}
	}
	return nil
}

// inbound is what the recipient of msg sees of it, ids and time aside: the kind, text
// and the kind's field, copied, without media data.
func inbound(msg provider.Outbound) provider.Inbound {
	in := provider.Inbound{Kind: msg.Kind, Text: msg.Text}
	if m := msg.Media; m != nil {
		in.Media = &provider.Media{URL: m.URL, Mimetype: m.Mimetype, Filename: m.Filename}
	}
	if l := msg.Location; l != nil {
		loc := *l
		in.Location = &loc
	}
	if len(msg.Contacts) > 0 {
		in.Contacts = slices.Clone(msg.Contacts)
	}
	if r := msg.Reaction; r != nil {
		in.Reaction = &provider.Reaction{MessageID: r.MessageID, Emoji: r.Emoji}
	}
	if p := msg.Poll; p != nil {
		poll := *p
		poll.Options = slices.Clone(p.Options)
		in.Poll = &poll
	}
	if e := msg.Event; e != nil {
		inv := *e
		if e.Location != nil {
			loc := *e.Location
			inv.Location = &loc
		}
		in.Event = &inv
	}
	in.Target, in.Mentions = msg.Target, slices.Clone(msg.Mentions)
	in.Preview = previewOf(msg)
	return in
}

// previewOf is the link preview card the recipient of msg sees: the sender's own
// (its picture without data), or, for a text with a link and previews not refused, a
// card of the link alone: the sandbox fetches no pages.
func previewOf(msg provider.Outbound) *provider.LinkPreview {
	if p := msg.Preview; p != nil {
		card := *p
		if m := p.Image; m != nil {
			card.Image = &provider.Media{URL: m.URL, Mimetype: m.Mimetype, Filename: m.Filename}
		}
		return &card
	}
	if msg.Kind != provider.KindText || msg.NoPreview {
		return nil
	}
	if link := linkpreview.FirstURL(msg.Text); link != "" {
		return &provider.LinkPreview{URL: link, HighQuality: msg.PreviewHighQuality}
	}
	return nil
}

// sendableLocked returns the current run if the session can send, else the error Send
// returns.
func (s *session) sendableLocked() (*run, error) {
	switch {
	case s.retired:
		return nil, s.errorf("sending", fmt.Errorf("%w (%w)", provider.ErrNotConnected, ErrClosed))
	case s.state == stateLoggedOut:
		return nil, s.errorf("sending", provider.ErrLoggedOut)
	case s.state != stateWorking || s.run == nil:
		return nil, s.errorf("sending", provider.ErrNotConnected)
	case s.faults.TempBan:
		return nil, &provider.SendError{Code: CodeBanned, Retryable: false, Err: provider.ErrBanned}
	}
	return s.run, nil
}

// waitSend waits d (forever when d < 0) and returns nil, or the error for a send cut
// short by ctx, by the end of run r or by Close.
func (s *session) waitSend(ctx context.Context, r *run, to chatid.ID, d time.Duration) error {
	var expired <-chan time.Time
	if d >= 0 {
		t := s.net.clock.NewTimer(d)
		defer t.Stop()
		expired = t.Chan()
	}
	select {
	case <-expired:
		return nil
	case <-ctx.Done():
		code := CodeTimeout
		if errors.Is(ctx.Err(), context.Canceled) {
			code = CodeCanceled
		}
		return &provider.SendError{Code: code, Retryable: true, Err: fmt.Errorf("sandbox %s/%s: send to %s: %w", s.key.tenant, s.key.session, to, ctx.Err())}
	case <-r.done:
		return s.errorf("sending", provider.ErrNotConnected)
	case <-s.net.ctx.Done():
		return s.errorf("sending", fmt.Errorf("%w (%w)", provider.ErrNotConnected, ErrClosed))
	}
}

// scheduleAcksLocked reports delivered after delivery_delay, then read after read_delay.
func (s *session) scheduleAcksLocked(r *run, id string, chat chatid.ID) {
	cfg := &s.net.cfg
	delivered := func() {
		s.emitLocked(provider.AckEvent{ProviderID: id, ChatID: chat, Ack: provider.AckDelivered})
		if d := cfg.ReadDelay.D(); d > 0 {
			s.afterLocked(r, d, func() {
				s.emitLocked(provider.AckEvent{ProviderID: id, ChatID: chat, Ack: provider.AckRead})
			})
		}
	}
	if d := cfg.DeliveryDelay.D(); d > 0 {
		s.afterLocked(r, d, delivered)
		return
	}
	delivered()
}

// receive reports an inbound message if the session is WORKING (and not banned).
// maxWrote bounds the chats a session remembers as having written to it.
const maxWrote = 10_000

func (s *session) receive(msg provider.Inbound) error {
	s.mu.Lock()
	if s.retired || s.state != stateWorking || s.run == nil || s.faults.TempBan {
		s.mu.Unlock()
		return ErrNotWorking
	}
	s.emitLocked(provider.MessageEvent{Message: msg})
	if s.wrote == nil || len(s.wrote) >= maxWrote {
		s.wrote = map[string]struct{}{}
	}
	s.wrote[msg.ChatID.String()] = struct{}{}
	s.mu.Unlock()
	s.events.drain()
	return nil
}

// Inbound simulates an external contact from writing text to the session: the session's
// sink receives a MessageEvent with a phone-style id ("3A" + 18 hex digits). The message
// is dropped silently under silent_disconnect.
//
// Errors: ErrUnknownSession; ErrNotWorking unless the session is WORKING (banned
// sessions are not); chatid.ErrInvalid (wrapped) for a zero from.
func (n *Network) Inbound(tenant, session string, from chatid.ID, text string) error {
	if from.IsZero() {
		return fmt.Errorf("sandbox %s/%s: inbound: sender: %w", tenant, session, chatid.ErrInvalid)
	}
	s, err := n.lookup(tenant, session)
	if err != nil {
		return err
	}
	if s.blockedSender(from) {
		return nil // contacts.go: blocked, dropped as WhatsApp drops it
	}
	err = s.receive(provider.Inbound{
		ProviderID: n.phoneMessageID(),
		ChatID:     from,
		From:       from,
		Kind:       provider.KindText,
		Text:       text,
		Timestamp:  n.clock.Now(),
	})
	if err != nil {
		return s.errorf("inbound", err)
	}
	return nil
}

// logSend records an accepted send in the send log, if one is configured.
func (n *Network) logSend(msgID, providerID string) {
	if n.sendLog == nil {
		return
	}
	n.sendLogMu.Lock()
	defer n.sendLogMu.Unlock()
	if _, err := io.WriteString(n.sendLog, msgID+" "+providerID+"\n"); err != nil {
		n.log.Error("writing the sandbox send log", "err", err)
	}
}
