package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The QR limiter stops a session that pairs for ever: nobody scans its codes, or a
// transport loops on QR codes (the sandbox's endless_qr fault). It caps the QR codes
// of one pairing attempt (one start of an unlinked session) and the pairing attempts
// of a session in any hour. Past either cap the provider is stopped and the session
// is FAILED with reason "qr_limit", its running intent cleared (it is not restored at
// the next boot), and Info.Message says how to retry. While the hourly cap is reached,
// starting the unlinked session again is refused with a *QRLimitError (HTTP 429 with
// Retry-After). The hour is counted in memory: a restart forgets it.

// QRLimits configure the QR limiter (config sessions.qr). The zero value caps nothing.
type QRLimits struct {
	// MaxCodes caps the QR codes shown in one pairing attempt; 0 means unlimited.
	MaxCodes int
	// MaxAttemptsPerHour caps a session's pairing attempts in any hour; 0 means unlimited.
	MaxAttemptsPerHour int
}

// ReasonQRLimit is the reason of a session the QR limiter stopped.
const ReasonQRLimit = "qr_limit"

// qrWindow is the span MaxAttemptsPerHour counts over.
const qrWindow = time.Hour

// ErrQRLimit: the session reached a cap of the QR limiter. Returned wrapped in a
// *QRLimitError.
var ErrQRLimit = errors.New("QR pairing limit reached")

// QRLimitError: a start of an unlinked session was refused because it already made
// MaxAttemptsPerHour pairing attempts in the last hour.
type QRLimitError struct {
	Attempts int
	// RetryAt is when the oldest attempt leaves the hour.
	RetryAt time.Time
}

func (e *QRLimitError) Error() string {
	return fmt.Sprintf("QR pairing limit reached: %d pairing attempts in the last hour (sessions.qr.max_attempts_per_hour); start the session again after %s, or link it by pairing code",
		e.Attempts, e.RetryAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrQRLimit) true.
func (e *QRLimitError) Is(target error) bool { return target == ErrQRLimit }

// qrState is the QR limiter's view of one session (guarded by live.mu).
type qrState struct {
	// gen is the provider instance whose codes codes counts.
	gen   uint64
	codes int
	// attempts are the start times of the pairing attempts of the last hour.
	attempts []time.Time
	// stopping is set when the limiter decided to stop gen.
	stopping bool
}

// pruneLocked drops attempts older than the window.
func (q *qrState) pruneLocked(now time.Time) {
	i := 0
	for i < len(q.attempts) && now.Sub(q.attempts[i]) >= qrWindow {
		i++
	}
	q.attempts = q.attempts[i:]
}

// qrAllowLocked counts a QR code of provider instance gen and reports whether it may
// be shown; when not, limit says which cap ("codes" or "attempts") and message how to
// retry. The caller holds l.mu.
func (m *Manager) qrAllowLocked(l *live, gen uint64) (ok bool, limit, message string) {
	q := &l.qrl
	lim := m.opts.QR
	now := m.clock.Now()
	if q.gen != gen {
		q.gen, q.codes, q.stopping = gen, 0, false
		q.pruneLocked(now)
		if lim.MaxAttemptsPerHour > 0 && len(q.attempts) >= lim.MaxAttemptsPerHour {
			q.stopping = true
			return false, "attempts", qrAttemptsMessage(len(q.attempts), q.attempts[0].Add(qrWindow))
		}
		q.attempts = append(q.attempts, now)
		m.metrics.pairingAttempts.Inc()
	}
	if q.stopping {
		return false, "", ""
	}
	q.codes++
	if lim.MaxCodes > 0 && q.codes > lim.MaxCodes {
		q.stopping = true
		return false, "codes", fmt.Sprintf("pairing stopped after %d QR codes without a scan (sessions.qr.max_codes): "+
			"start the session again and scan a code within its validity, or link it by pairing code", lim.MaxCodes)
	}
	m.metrics.qrCodes.Inc()
	return true, "", ""
}

func qrAttemptsMessage(n int, retryAt time.Time) string {
	return fmt.Sprintf("pairing stopped: %d pairing attempts in the last hour (sessions.qr.max_attempts_per_hour): "+
		"start the session again after %s, or link it by pairing code", n, retryAt.UTC().Format(time.RFC3339))
}

// qrPrecheckLocked refuses to start an unlinked session (one that will pair) while
// its hourly cap of pairing attempts is reached. The caller holds l.mu.
func (m *Manager) qrPrecheckLocked(l *live) *QRLimitError {
	max := m.opts.QR.MaxAttemptsPerHour
	if max <= 0 || l.rec.Me != nil {
		return nil
	}
	q := &l.qrl
	q.pruneLocked(m.clock.Now())
	if len(q.attempts) < max {
		return nil
	}
	return &QRLimitError{Attempts: len(q.attempts), RetryAt: q.attempts[0].Add(qrWindow)}
}

// stopForQRLimit stops provider instance gen of l, which the limiter stopped showing
// codes for, and leaves the session FAILED qr_limit with message.
func (m *Manager) stopForQRLimit(l *live, gen uint64, limit, message string) {
	if err := l.acquire(m.ctx); err != nil {
		return
	}
	defer l.release()
	if l.currentGen() != gen {
		return // stopped, restarted or deleted meanwhile
	}
	m.metrics.qrLimited.WithLabelValues(limit).Inc()
	m.log.Warn("QR limit reached; session stops pairing", "tenant", l.tenant, "session", l.name, "limit", limit)
	m.stopLocked(context.Background(), l, stopEnd{state: StateFailed, reason: ReasonQRLimit, message: message})
}
