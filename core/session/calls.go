package session

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/wagate/wagate/core/provider"
)

// CallSettings is what a session does with incoming calls (config.calls in the API).
// The gateway cannot take a call; with Reject it rejects every call as it rings, and
// with Message it then writes to the caller, as Evolution API's reject_call and
// msg_call do.
type CallSettings struct {
	// Reject rejects every incoming call at once (after call.received is published).
	Reject bool `json:"reject"`
	// Message, when set, is sent to the caller as a text after each rejection, through
	// the session's queue like any send (Options.OnCallRejected). Needs Reject.
	Message string `json:"message,omitempty"`
}

// MaxCallMessage bounds CallSettings.Message, in characters.
const MaxCallMessage = 4096

// CheckCallSettings validates a session's call settings: ErrInvalidCallSettings for a
// message without reject, or one that is not 1 to MaxCallMessage characters of UTF-8.
func CheckCallSettings(c *CallSettings) error {
	if c == nil {
		return nil
	}
	if c.Message != "" && !c.Reject {
		return fmt.Errorf("%w: a message needs reject: true", ErrInvalidCallSettings)
	}
	if !utf8.ValidString(c.Message) || utf8.RuneCountInString(c.Message) > MaxCallMessage {
		return fmt.Errorf("%w: the message must be valid UTF-8 of at most %d characters", ErrInvalidCallSettings, MaxCallMessage)
	}
	return nil
}

// SetCalls replaces the session's call settings (nil: calls ring, nothing is done),
// without a restart.
func (m *Manager) SetCalls(ctx context.Context, tenant, name string, c *CallSettings) (Info, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return Info{}, err
	}
	if err := CheckCallSettings(c); err != nil {
		return Info{}, err
	}
	if c != nil && !c.Reject {
		c = nil
	}
	if err := l.acquire(ctx); err != nil {
		return Info{}, err
	}
	defer l.release()
	rec := l.update(func(r *Record) { r.Calls = c })
	l.pmu.Lock()
	m.persist(l)
	l.pmu.Unlock()
	return rec.info(), nil
}

// autoReject rejects a call that rings a session set to reject calls, in the
// background: the event loop does not wait for WhatsApp. A rejection that fails is
// logged (the call keeps ringing until the caller gives up); one that succeeds hands
// the session's message to Options.OnCallRejected.
func (m *Manager) autoReject(l *live, call provider.CallReceived) {
	l.mu.Lock()
	settings, p := l.rec.Calls, l.prov
	l.mu.Unlock()
	if settings == nil || !settings.Reject || p == nil {
		return
	}
	calls, ok := p.(provider.Calls)
	if !ok {
		return
	}
	m.spawn(func() {
		err := callProviderErr(m, m.ctx, provider.CapCalls, m.opts.SendTimeout, func(ctx context.Context) error {
			return calls.RejectCall(ctx, call.From, call.ID)
		})
		if err != nil {
			m.log.Warn("rejecting a call", "tenant", l.tenant, "session", l.name, "call", call.ID, "err", err)
			return
		}
		if settings.Message != "" && m.opts.OnCallRejected != nil {
			m.opts.OnCallRejected(l.tenant, l.name, call.CallData, settings.Message)
		}
	})
}

// withCalls shows the call settings inside the config, as config.calls.
func withCalls(cfg json.RawMessage, c *CallSettings) json.RawMessage {
	if c == nil {
		return cfg
	}
	return withConfigKey(cfg, "calls", c)
}
