package session

import (
	"context"
	"errors"
	"time"

	"github.com/wagate/wagate/core/provider"
)

// What GET /api/sessions/{session}/health shows: the health monitor's view of one
// session (health.go) and its recent failures.

// maxFailures bounds the failures kept per session (memory only, newest kept).
const maxFailures = 20

// Failure kinds.
const (
	// FailureSend: a send through the provider returned an error.
	FailureSend = "send"
	// FailureMessage: the dispatcher failed a message for good (its reason: retries
	// exhausted, a pacing rejection, failover refused, expired ...).
	FailureMessage = "message"
	// FailureSession: the session went FAILED or LOGGED_OUT, or the health monitor
	// declared it unresponsive.
	FailureSession = "session"
)

// Failure is one recent failure of a session.
type Failure struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	// Reason is the error or reason code, e.g. "timeout", "banned", "daily_limit".
	Reason string `json:"reason"`
	// Message is the message id of a send or message failure.
	Message string `json:"messageId,omitempty"`
	// Detail is the error text or the session's message, when there is one.
	Detail string `json:"detail,omitempty"`
}

// Health verdicts (Health.Verdict).
const (
	VerdictHealthy      = "healthy"      // WORKING, no send timing out
	VerdictDegraded     = "degraded"     // WORKING, but sends time out in a row
	VerdictConnecting   = "connecting"   // STARTING
	VerdictReconnecting = "reconnecting" // the health monitor reconnects it
	VerdictPairing      = "pairing"      // SCAN_QR_CODE: waits for a scan or a code
	VerdictDown         = "down"         // FAILED or LOGGED_OUT
	VerdictStopped      = "stopped"      // STOPPED
)

// Health is a session's health now.
type Health struct {
	Status State  `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Verdict sums it up: healthy, degraded, connecting, reconnecting, pairing, down,
	// stopped.
	Verdict string `json:"verdict"`
	// Since is when the session entered its status (in this process: a restart starts
	// the clock again).
	Since time.Time `json:"since"`
	// Monitored tells whether the health monitor runs (sessions.health.enabled).
	Monitored bool `json:"monitored"`
	// LastAliveAt is the last sign of life of the session's provider: a report, a
	// successful send or ping.
	LastAliveAt time.Time `json:"lastAliveAt"`
	// SendTimeouts counts the sends in a row that ended by sessions.send_timeout
	// (sessions.health.send_timeouts of them declare the session dead).
	SendTimeouts int `json:"sendTimeouts"`
	// ReconnectAttempts counts the monitor's reconnects since the session last showed
	// traffic; Reconnecting is set while one is pending; GaveUp once
	// sessions.health.max_reconnects were reached.
	ReconnectAttempts int  `json:"reconnectAttempts"`
	Reconnecting      bool `json:"reconnecting"`
	GaveUp            bool `json:"gaveUp"`
	// Failures are the session's last failures, newest first (at most 20, kept in
	// memory: a restart forgets them).
	Failures []Failure `json:"failures"`
}

// Health returns a session's health; ErrNotFound for a session of another tenant.
func (m *Manager) Health(ctx context.Context, tenant, name string) (Health, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return Health{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := Health{Status: l.rec.State, Reason: l.rec.Reason, Since: l.h.since.UTC(), Monitored: m.opts.Health.Enabled,
		LastAliveAt: l.h.lastAlive.UTC(), SendTimeouts: l.h.sendTimeouts, ReconnectAttempts: l.h.attempts,
		Reconnecting: l.h.job != nil, GaveUp: l.h.gaveUp, Failures: make([]Failure, 0, len(l.fails))}
	for i := len(l.fails) - 1; i >= 0; i-- {
		h.Failures = append(h.Failures, l.fails[i])
	}
	switch {
	case h.Reconnecting || l.rec.Reason == ReasonUnresponsive && l.rec.State == StateStarting:
		h.Verdict = VerdictReconnecting
	case l.rec.State == StateWorking && h.SendTimeouts > 0:
		h.Verdict = VerdictDegraded
	case l.rec.State == StateWorking:
		h.Verdict = VerdictHealthy
	case l.rec.State == StateScanQR:
		h.Verdict = VerdictPairing
	case l.rec.State == StateFailed || l.rec.State == StateLoggedOut:
		h.Verdict = VerdictDown
	case l.rec.State == StateStopped:
		h.Verdict = VerdictStopped
	default:
		h.Verdict = VerdictConnecting
	}
	return h, nil
}

// RecordFailure adds a failure to a session's recent failures (the gateway tells the
// dispatcher's final failures this way); an unknown session is ignored.
func (m *Manager) RecordFailure(tenant, name string, f Failure) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.failLocked(f)
	l.mu.Unlock()
}

// failLocked keeps f among the last maxFailures failures.
func (l *live) failLocked(f Failure) {
	if f.At.IsZero() {
		f.At = l.m.opts.Now().UTC()
	}
	f.Reason, f.Detail = clip(f.Reason, 200), clip(f.Detail, 500)
	if len(l.fails) == maxFailures {
		copy(l.fails, l.fails[1:])
		l.fails = l.fails[:maxFailures-1]
	}
	l.fails = append(l.fails, f)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sendReason is the code of a failed send: the provider's *SendError code, else the
// provider sentinel it wraps, else provider_error (the codes of policy.ErrorOf).
func sendReason(err error) string {
	var se *provider.SendError
	if errors.As(err, &se) && se.Code != "" {
		return se.Code
	}
	for _, c := range []struct {
		err  error
		code string
	}{
		{provider.ErrAuth, "auth_failed"}, {provider.ErrBanned, "banned"}, {provider.ErrLoggedOut, "logged_out"},
		{provider.ErrInvalidRecipient, "invalid_recipient"}, {provider.ErrUnsupported, "unsupported"},
		{provider.ErrNotConnected, "not_connected"}, {context.DeadlineExceeded, "timeout"},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "provider_error"
}
