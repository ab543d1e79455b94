package provider

import (
	"context"

	"github.com/wagate/wagate/core/chatid"
)

// Calls is the capability CapCalls: incoming WhatsApp calls. The gateway cannot take a
// call (no audio path); it reports calls as Notifications and can reject them, by hand
// (POST /api/{session}/calls/reject) or automatically (the session's calls.reject).
//
// A call arrives as CallReceived; it ends as CallAccepted (another of the account's
// devices took it), CallRejected (rejected here, on another device, or by the caller
// hanging up before anyone answered) — WAHA's call.received, call.accepted and
// call.rejected.
type Calls interface {
	// RejectCall rejects the call id from caller. A call that is over or unknown is
	// ErrNotFound, wrapped, where the transport can tell.
	RejectCall(ctx context.Context, caller chatid.ID, callID string) error
}

// CallData is WAHA's CallData: a call, in every call event.
type CallData struct {
	ID   string    `json:"id"`
	From chatid.ID `json:"from"`
	// Timestamp is when the call was offered, Unix seconds.
	Timestamp int64 `json:"timestamp"`
	IsVideo   bool  `json:"isVideo"`
	IsGroup   bool  `json:"isGroup"`
}

// CallReceived is the Notification "call.received": someone is calling the session.
type CallReceived struct{ CallData }

// CallAccepted is the Notification "call.accepted": the call was answered on another
// of the account's devices.
type CallAccepted struct{ CallData }

// CallRejected is the Notification "call.rejected": the call was rejected or ended
// before it was answered.
type CallRejected struct{ CallData }

// EventName implements Notification.
func (CallReceived) EventName() string { return "call.received" }

// EventName implements Notification.
func (CallAccepted) EventName() string { return "call.accepted" }

// EventName implements Notification.
func (CallRejected) EventName() string { return "call.rejected" }

func (CallReceived) providerEvent() {}
func (CallAccepted) providerEvent() {}
func (CallRejected) providerEvent() {}
