package session

import "github.com/wagate/wagate/core/provider"

// State is where a session is in its lifecycle. The names are WAHA's, so its users find
// the states they know.
//
//	            start                pairing             linked
//	STOPPED ──────────► STARTING ───────────► SCAN_QR_CODE ──────► WORKING
//	   ▲                  │  ▲                    │                  │
//	   │ stop (from any)  │  └── reconnecting ────┼──────────────────┘
//	   │                  ▼                       ▼
//	   └──────────────  FAILED  ◄─── provider error, qr_timeout, ban, stop timeout
//	                       LOGGED_OUT ◄── logout, or unlinked from the phone
//
// start is accepted from STOPPED, FAILED and LOGGED_OUT (a logged-out session pairs
// again); restart from any state; stop from any state; logout from any state but
// LOGGED_OUT. Provider reports move a running session between STARTING, SCAN_QR_CODE,
// WORKING, FAILED and LOGGED_OUT; reports that arrive after stop are ignored.
type State string

// The session states.
const (
	// StateStopped: not running, by request (or never started). The link, if any, is kept.
	StateStopped State = "STOPPED"
	// StateStarting: the provider is connecting (or reconnecting).
	StateStarting State = "STARTING"
	// StateScanQR: waiting for the user to scan a QR code or enter a pairing code.
	StateScanQR State = "SCAN_QR_CODE"
	// StateWorking: linked and connected; messages can be sent.
	StateWorking State = "WORKING"
	// StateFailed: stopped by an error; the reason says which. start retries.
	StateFailed State = "FAILED"
	// StateLoggedOut: the number is unlinked; start pairs again.
	StateLoggedOut State = "LOGGED_OUT"
)

// States lists every state, for metrics and docs.
var States = []State{StateStopped, StateStarting, StateScanQR, StateWorking, StateFailed, StateLoggedOut}

// canStart reports whether start is accepted from s.
func (s State) canStart() bool {
	return s == StateStopped || s == StateFailed || s == StateLoggedOut
}

// running reports whether a provider is live in state s.
func (s State) running() bool {
	return s == StateStarting || s == StateScanQR || s == StateWorking
}

// fromProvider maps a provider status onto a session state.
func fromProvider(st provider.Status) (State, bool) {
	switch st {
	case provider.StatusConnecting:
		return StateStarting, true
	case provider.StatusPairing:
		return StateScanQR, true
	case provider.StatusWorking:
		return StateWorking, true
	case provider.StatusFailed:
		return StateFailed, true
	case provider.StatusLoggedOut:
		return StateLoggedOut, true
	case provider.StatusStopped:
		return StateStopped, true
	}
	return "", false
}
