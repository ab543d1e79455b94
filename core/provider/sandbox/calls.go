package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Calls to sandbox numbers (provider.Calls). A call is placed with Network.Call (the
// API's POST /api/sandbox/{session}/call): the called session gets call.received and
// the call rings until the session rejects it (RejectCall), which reports
// call.rejected to it and, when the caller is a running sandbox number, to the caller
// too. Calls ringing are bounded (maxSandboxCalls across the network; past it the
// oldest is forgotten, as if it had rung out).

const maxSandboxCalls = 10_000

// callBook is the calls ringing in a Network. Its lock is a leaf.
type callBook struct {
	mu    sync.Mutex
	calls map[string]ringing
	order []string
}

// ringing is a call waiting for an answer.
type ringing struct {
	callee string // the called number
	data   provider.CallData
}

// Call places a call from an external contact (or another sandbox number) to the
// session: it gets call.received. Like Inbound, a blocked caller is dropped.
func (n *Network) Call(tenant, session string, from chatid.ID, video bool) (provider.CallData, error) {
	if from.IsZero() || (from.Server != chatid.User && from.Server != chatid.LID) {
		return provider.CallData{}, fmt.Errorf("sandbox %s/%s: call: caller %q: %w", tenant, session, from, chatid.ErrInvalid)
	}
	s, err := n.lookup(tenant, session)
	if err != nil {
		return provider.CallData{}, err
	}
	me, err := s.self("receiving a call")
	if err != nil {
		return provider.CallData{}, ErrNotWorking
	}
	data := provider.CallData{ID: strings.Replace(n.phoneMessageID(), "3A", "CA", 1), From: from,
		Timestamp: n.clock.Now().Unix(), IsVideo: video}
	if s.blockedSender(from) {
		return data, nil
	}
	b := &n.calls
	b.mu.Lock()
	if b.calls == nil {
		b.calls = map[string]ringing{}
	}
	if len(b.order) >= maxSandboxCalls {
		delete(b.calls, b.order[0])
		b.order = b.order[1:]
	}
	b.calls[data.ID] = ringing{callee: me, data: data}
	b.order = append(b.order, data.ID)
	b.mu.Unlock()
	s.report(provider.CallReceived{CallData: data})
	return data, nil
}

// RejectCall implements provider.Calls.
func (s *session) RejectCall(ctx context.Context, caller chatid.ID, callID string) error {
	const op = "rejecting a call"
	me, err := s.self(op)
	if err != nil {
		return err
	}
	b := &s.net.calls
	b.mu.Lock()
	c, ok := b.calls[callID]
	if !ok || c.callee != me || c.data.From != caller {
		b.mu.Unlock()
		return s.errorf(op, fmt.Errorf("no call %q from %s ringing: %w", callID, caller, provider.ErrNotFound))
	}
	delete(b.calls, callID)
	if i := slices.Index(b.order, callID); i >= 0 {
		b.order = slices.Delete(b.order, i, i+1)
	}
	b.mu.Unlock()
	s.report(provider.CallRejected{CallData: c.data})
	if caller.Server == chatid.User {
		if from := s.net.byPhone(caller.Local); from != nil {
			from.report(provider.CallRejected{CallData: c.data})
		}
	}
	return nil
}

var _ provider.Calls = (*session)(nil)
