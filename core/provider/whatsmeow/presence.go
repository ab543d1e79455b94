package whatsmeow

import (
	"context"
	"fmt"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Presence, through whatsmeow (provider.Presencer, and provider.Typer on the same code):
//
//	SetPresence        Client.SendPresence: online = available, offline = unavailable
//	SetChatState       Client.SendChatPresence: typing = composing, recording = composing
//	                   with media "audio", paused = paused
//	SetTyping          SetChatState(typing) when on, SetChatState(paused) when off
//	SubscribePresence  Client.SubscribePresence
//
// Typing, recording and subscribing first mark the session available, once per
// connection, as WhatsApp Web does when in use: contacts may not see the indicator of
// a session that never said it is online, and WhatsApp sends presences only to online
// subscribers. While a linked device is available the phone may show fewer
// notifications; SetPresence(offline) ends that (until the next typing or subscribe).
//
// Inbound, whatsmeow's events become provider.PresenceUpdate notifications
// ("presence.update", WAHA's shape):
//
//	*events.Presence      a subscribed contact went online or offline: id and
//	                      participant the contact, lastSeen when WhatsApp tells it
//	*events.ChatPresence  someone types, records or stopped in a chat: id the chat (the
//	                      group, in a group), participant who; lastSeen null
//
// Users are named by phone number where the session knows it, as for messages.

// presenceClient is the part of *whatsmeow.Client that subscribes to presences. A
// Client without it (a test fake that does not fake it) answers provider.ErrUnsupported.
type presenceClient interface {
	SubscribePresence(ctx context.Context, jid types.JID) error
}

var _ presenceClient = (*wm.Client)(nil)

// presenceRun returns the running, logged-in connection or the error of op.
func (p *Provider) presenceRun(op string) (*run, error) {
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return nil, p.errorf(op, provider.ErrNotConnected)
	}
	return r, nil
}

// SetTyping implements provider.Typer: "typing..." shows in chat while on, until off
// (or until WhatsApp drops it, after about 25 seconds). See SetChatState.
func (p *Provider) SetTyping(ctx context.Context, chat chatid.ID, on bool) error {
	state := provider.PresencePaused
	if on {
		state = provider.PresenceTyping
	}
	return p.setChatState(ctx, "setting typing", chat, state)
}

// SetChatState implements provider.Presencer: typing or recording shows in chat until
// paused (or until WhatsApp drops it, after about 25 seconds).
//
// Errors: provider.ErrNotConnected (wrapped) unless connected; provider.ErrUnsupported
// for a state that is not typing, recording or paused; chatid.ErrInvalid (wrapped) for
// a chat WhatsApp cannot address; ctx's error when it ends first.
func (p *Provider) SetChatState(ctx context.Context, chat chatid.ID, state provider.Presence) error {
	return p.setChatState(ctx, "setting the chat state", chat, state)
}

func (p *Provider) setChatState(ctx context.Context, op string, chat chatid.ID, state provider.Presence) error {
	r, err := p.presenceRun(op)
	if err != nil {
		return err
	}
	var cp types.ChatPresence
	media := types.ChatPresenceMediaText
	switch state {
	case provider.PresenceTyping:
		cp = types.ChatPresenceComposing
	case provider.PresenceRecording:
		cp, media = types.ChatPresenceComposing, types.ChatPresenceMediaAudio
	case provider.PresencePaused:
		cp = types.ChatPresencePaused
	default:
		return p.errorf(op, fmt.Errorf("%q is not typing, recording or paused: %w", state, provider.ErrUnsupported))
	}
	to, err := ToJID(chat)
	if err != nil {
		return p.errorf(op, err)
	}
	if cp == types.ChatPresenceComposing {
		p.announce(ctx, r)
	}
	err = boundedDo(ctx, func() error { return r.client.SendChatPresence(ctx, to, cp, media) })
	if err != nil {
		return p.errorf(fmt.Sprintf("%s in %s", op, chat), err)
	}
	return nil
}

// announce marks the session available once per connection (see above). A failure is
// logged only: without a push name whatsmeow cannot send presence, and what follows
// may work still.
func (p *Provider) announce(ctx context.Context, r *run) {
	p.mu.Lock()
	done := r.available
	p.mu.Unlock()
	if done {
		return
	}
	if err := boundedDo(ctx, func() error { return r.client.SendPresence(ctx, types.PresenceAvailable) }); err != nil {
		p.log.Debug("whatsmeow available presence not sent", "err", err)
		return
	}
	p.mu.Lock()
	r.available = true
	p.mu.Unlock()
}

// SetPresence implements provider.Presencer: online or offline, as the contacts
// subscribed to the session see it.
//
// Errors: provider.ErrNotConnected unless connected; provider.ErrUnsupported for a
// presence that is not online or offline; whatsmeow's ErrNoPushName (wrapped) before
// the account's push name is known; ctx's error when it ends first.
func (p *Provider) SetPresence(ctx context.Context, presence provider.Presence) error {
	const op = "setting presence"
	r, err := p.presenceRun(op)
	if err != nil {
		return err
	}
	var st types.Presence
	switch presence {
	case provider.PresenceOnline:
		st = types.PresenceAvailable
	case provider.PresenceOffline:
		st = types.PresenceUnavailable
	default:
		return p.errorf(op, fmt.Errorf("presence %q is not online or offline: %w", presence, provider.ErrUnsupported))
	}
	if err := boundedDo(ctx, func() error { return r.client.SendPresence(ctx, st) }); err != nil {
		return p.errorf(fmt.Sprintf("%s %s", op, presence), err)
	}
	p.mu.Lock()
	r.available = presence == provider.PresenceOnline
	p.mu.Unlock()
	return nil
}

// SubscribePresence implements provider.Presencer: the contact's presence changes then
// arrive as presence.update until the connection ends. WhatsApp answers with the
// current presence when the contact shares it (their privacy settings decide).
//
// Errors: provider.ErrNotConnected unless connected; provider.ErrInvalidRecipient for
// an id that is not a user; ctx's error, or whatsmeow's, as the call ends.
func (p *Provider) SubscribePresence(ctx context.Context, contact chatid.ID) error {
	const op = "subscribing to presence"
	r, err := p.presenceRun(op)
	if err != nil {
		return err
	}
	pc, ok := r.client.(presenceClient)
	if !ok {
		return p.errorf(op, fmt.Errorf("the client has no presence subscriptions: %w", provider.ErrUnsupported))
	}
	j, err := p.userJID(op, contact)
	if err != nil {
		return err
	}
	p.announce(ctx, r)
	if err := boundedDo(ctx, func() error { return pc.SubscribePresence(ctx, j) }); err != nil {
		return p.errorf(fmt.Sprintf("%s of %s", op, contact), err)
	}
	return nil
}

// onPresence reports a presence or chat presence event as a PresenceUpdate (see above).
// Events of chats the gateway does not serve, and the session's own chat states on its
// other devices, are skipped.
func (r *run) onPresence(ev any) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	switch ev := ev.(type) {
	case *events.Presence:
		who, err := r.chatOf(ctx, ev.From.ToNonAD(), types.JID{})
		if err != nil || (who.Server != chatid.User && who.Server != chatid.LID) {
			return
		}
		pp := provider.ParticipantPresence{Participant: who, LastKnownPresence: provider.PresenceOnline}
		if ev.Unavailable {
			pp.LastKnownPresence = provider.PresenceOffline
		}
		if !ev.LastSeen.IsZero() {
			ts := ev.LastSeen.Unix()
			pp.LastSeen = &ts
		}
		r.emit(provider.PresenceUpdate{ID: who, Presences: []provider.ParticipantPresence{pp}})
	case *events.ChatPresence:
		if ev.IsFromMe {
			return
		}
		var state provider.Presence
		switch {
		case ev.State == types.ChatPresenceComposing && ev.Media == types.ChatPresenceMediaAudio:
			state = provider.PresenceRecording
		case ev.State == types.ChatPresenceComposing:
			state = provider.PresenceTyping
		case ev.State == types.ChatPresencePaused:
			state = provider.PresencePaused
		default:
			return
		}
		chatAlt := ev.SenderAlt
		if ev.IsGroup {
			chatAlt = types.JID{}
		}
		chat, err := r.chatOf(ctx, ev.Chat.ToNonAD(), chatAlt)
		if err != nil || (!chat.IsGroup() && chat.Server != chatid.User && chat.Server != chatid.LID) {
			return
		}
		who := chat
		if !ev.Sender.IsEmpty() {
			if who, err = r.chatOf(ctx, ev.Sender.ToNonAD(), ev.SenderAlt); err != nil {
				return
			}
		}
		if who.IsGroup() {
			return
		}
		r.emit(provider.PresenceUpdate{ID: chat, Presences: []provider.ParticipantPresence{{Participant: who, LastKnownPresence: state}}})
	}
}

var _ provider.Presencer = (*Provider)(nil)
