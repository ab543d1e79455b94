package steer

import (
	"context"
	"time"

	"github.com/wagate/wagate/core/provider"
)

// Typing decides how long to show "typing..." in the chat before a message is sent
// through a session of the provider kind given ("whatsmeow", ...); 0: not at all. The
// gateway's comes from the pacing configuration (plugins/antiban).
type Typing func(kind string, msg provider.Outbound) time.Duration

// typingCallTimeout bounds each SetTyping call.
const typingCallTimeout = 5 * time.Second

// BeforeSend imitates a person about to send msg through session: when Typing asks for
// it and the session's provider can show typing (provider.Typer), it shows the typing
// indicator in the chat, waits the time Typing decided, and hides it again (WAHA's
// startTyping, wait, stopTyping). The provider calls are bounded and their errors only
// counted: the send goes on without the indicator. It returns ctx's error if ctx ends
// during the wait, and nil otherwise.
//
// The dispatcher calls it (through the gateway's sender) right before the provider's
// Send, after the rate chain allowed the message: the time typed is part of the gap
// between the session's sends, not added to it.
func (s *Steer) BeforeSend(ctx context.Context, tenant, session string, msg provider.Outbound) error {
	if s.typing == nil || s.watch == nil {
		return nil
	}
	t, kind := s.watch.Typer(tenant, session)
	d := s.typing(kind, msg)
	if d <= 0 {
		return nil
	}
	if t == nil {
		s.watch.metrics.typed("unsupported", 0)
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, typingCallTimeout)
	err := t.SetTyping(cctx, msg.ChatID, true)
	cancel()
	if err != nil {
		s.watch.metrics.typed("failed", 0)
		return nil
	}
	werr := s.wait(ctx, d)
	cctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), typingCallTimeout)
	_ = t.SetTyping(cctx, msg.ChatID, false)
	cancel()
	s.watch.metrics.typed("shown", d)
	return werr
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
