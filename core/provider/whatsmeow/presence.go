package whatsmeow

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// SetTyping implements provider.Typer: "typing..." shows in chat while on, until off
// (or until WhatsApp drops it, after about 25 seconds). The first time on a connection,
// the session first marks itself available (online), as WhatsApp Web does when in use,
// without which contacts may not see the indicator; while a linked device is available
// the phone may show fewer notifications.
//
// Errors: provider.ErrNotConnected (wrapped) unless connected; chatid.ErrInvalid
// (wrapped) for a chat WhatsApp cannot address; ctx's error when it ends first.
func (p *Provider) SetTyping(ctx context.Context, chat chatid.ID, on bool) error {
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return p.errorf("setting typing", provider.ErrNotConnected)
	}
	to, err := ToJID(chat)
	if err != nil {
		return p.errorf("setting typing", err)
	}
	state := types.ChatPresencePaused
	if on {
		state = types.ChatPresenceComposing
		p.mu.Lock()
		announce := !r.available
		p.mu.Unlock()
		if announce {
			if err := boundedDo(ctx, func() error { return r.client.SendPresence(ctx, types.PresenceAvailable) }); err != nil {
				// Without a push name whatsmeow cannot send presence; typing may still show.
				p.log.Debug("whatsmeow available presence not sent", "err", err)
			} else {
				p.mu.Lock()
				r.available = true
				p.mu.Unlock()
			}
		}
	}
	err = boundedDo(ctx, func() error { return r.client.SendChatPresence(ctx, to, state, types.ChatPresenceMediaText) })
	if err != nil {
		return p.errorf(fmt.Sprintf("setting typing in %s", chat), err)
	}
	return nil
}
