package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/core/backoff"
	"github.com/wagate/wagate/core/provider"
)

// The health monitor finds sessions that look alive but are not, and reconnects them.
//
// Signs of life of a session's current provider are its reports (status, QR, messages,
// acks), successful sends and successful pings. Every Interval the monitor looks at
// each running session (intent set, provider present):
//
//   - WORKING and quiet for an Interval, with a provider.Pinger: it is pinged (under
//     PingTimeout, in the background).
//   - WORKING, a provider.Pinger, and no sign of life for UnresponsiveAfter: declared
//     dead, cause "silence". Providers that cannot be pinged are never condemned for
//     silence alone: an idle number is silent.
//   - STARTING for UnresponsiveAfter (a provider reconnecting by itself for ever, a
//     connect that never ends): declared dead, cause "stuck_connecting".
//
// Besides, SendTimeouts sends in a row that end by sessions.send_timeout declare a
// WORKING session dead at once (cause "send_timeouts").
//
// A dead session is set STARTING with reason "unresponsive" (a session.status event),
// its provider is stopped (bounded, abandoned if it hangs), and after a backoff delay
// (BackoffBase doubled per attempt, capped at BackoffMax, with jitter: core/backoff)
// a new provider is started. A session FAILED for a cause that may pass (start_failed,
// start_timeout, connect_failure, pool_full, ...) with its intent set is reconnected
// the same way. Attempts count up until the session shows traffic again (a successful
// send or ping, an inbound message, an ack); MaxReconnects failed attempts in a row
// (when set) leave it FAILED until an operator starts it.
//
// Permanent causes are never retried: the session stays FAILED or LOGGED_OUT with
// its reason, and Info.Message says so and what to do (permanentCauses). Any operator
// action on the session (start, stop, restart, logout, delete) cancels a pending
// reconnect and resets the count.

// HealthOptions configure the health monitor (config sessions.health). The zero value
// turns it off.
type HealthOptions struct {
	Enabled bool
	// Interval is the period of the checks; UnresponsiveAfter the silence that
	// condemns a session; PingTimeout bounds one ping.
	Interval, UnresponsiveAfter, PingTimeout time.Duration
	// SendTimeouts in a row declare a session dead; 0 turns the check off.
	SendTimeouts int
	// BackoffBase and BackoffMax shape the reconnect delays.
	BackoffBase, BackoffMax time.Duration
	// MaxReconnects failed reconnects in a row give up; 0 never gives up.
	MaxReconnects int
}

// ReasonUnresponsive is the reason of a session the health monitor declared dead.
const ReasonUnresponsive = "unresponsive"

// Causes of a declared death (the cause label of wagate_session_health_unresponsive_total).
const (
	causeSilence      = "silence"
	causeSendTimeouts = "send_timeouts"
	causeStuck        = "stuck_connecting"
)

// permanentCauses are the reasons a FAILED or LOGGED_OUT session is not reconnected
// for, with what the operator should do; they come from the providers (whatsmeow,
// cloudapi, sandbox) and from the manager itself.
var permanentCauses = map[string]string{
	"logout":                "the session was logged out: start it to pair again",
	"logged_out_from_phone": "the number was unlinked from the phone: start the session and pair again",
	"main_device_gone":      "the phone's WhatsApp account is gone: start the session and pair again",
	"unknown_logout":        "WhatsApp logged the device out: start the session and pair again",
	"stream_replaced":       "another client connected with this session's device: stop it, then start this session",
	"temporary_ban":         "the number is temporarily banned: start the session again once the ban has ended",
	"banned":                "the number is banned: it cannot send until WhatsApp lifts the ban",
	"client_outdated":       "WhatsApp refuses this client version: upgrade wagate (docs/whatsmeow.md), then start the session",
	"auth_failed":           "the transport refused the session's credentials: fix the session config, then start it",
	"invalid_parameter":     "the transport refused the session's config: fix it, then start the session",
	"qr_timeout":            "nobody scanned the QR codes: start the session again to pair",
	"pair_error":            "pairing failed: start the session again to pair",
	ReasonQRLimit:           "the QR limiter stopped pairing: see the message",
	"provider_error":        "the provider could not be built: fix the session's provider or config, then start it",
	"logout_failed":         "the logout failed: log out again or delete the session",
	"stop_timeout":          "the provider did not stop in time: start or stop the session again",
	"stop_failed":           "the provider failed to stop: start or stop the session again",
}

// operatorCauses are permanent causes that come from the operator's own stop or logout
// going wrong, not from the number: a session left by them is not lost.
var operatorCauses = map[string]bool{"logout_failed": true, "stop_timeout": true, "stop_failed": true}

// Lost reports whether a session that reports st for reason cannot send until an
// operator acts — LOGGED_OUT, or FAILED for a permanent cause of the number or its
// credentials (banned, stream replaced, auth failed, ...): what failover acts on.
func Lost(st State, reason string) bool {
	if st == StateLoggedOut {
		return true
	}
	_, permanent := permanentCauses[reason]
	return st == StateFailed && permanent && !operatorCauses[reason]
}

// retryable reports whether the health monitor reconnects a session FAILED for reason.
func (m *Manager) retryable(reason string) bool {
	_, permanent := permanentCauses[reason]
	return m.opts.Health.Enabled && !permanent
}

// healthState is the monitor's view of one session (guarded by live.mu).
type healthState struct {
	// lastAlive is the last sign of life of the current provider; since is when the
	// session's state last changed.
	lastAlive, since time.Time
	pinging          bool
	sendTimeouts     int
	// attempts counts reconnects since the session last showed traffic.
	attempts int
	// gaveUp is set when MaxReconnects was reached; an operator action clears it.
	gaveUp bool
	// job is the pending reconnect, if any.
	job *reconnectJob
}

type reconnectJob struct {
	cancel context.CancelFunc
}

// aliveLocked records a sign of life of provider instance gen; traffic (a send, a
// ping, an inbound message or ack, as opposed to a status report, which a dead
// connection's own restart also produces) resets the reconnect count.
func (l *live) aliveLocked(gen uint64, traffic bool) {
	if gen != l.gen {
		return
	}
	l.h.lastAlive = l.m.clock.Now()
	if traffic {
		l.h.attempts, l.h.sendTimeouts = 0, 0
	}
}

// resetHealth is called by every operator action on the session, under ops: a pending
// reconnect is cancelled and the counts start afresh.
func (l *live) resetHealth() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if j := l.h.job; j != nil {
		j.cancel()
		l.h.job = nil
	}
	l.h.attempts, l.h.sendTimeouts, l.h.gaveUp = 0, 0, false
	l.h.lastAlive = l.m.clock.Now()
}

// startHealth starts the monitor's loop once, if it is enabled.
func (m *Manager) startHealth() {
	if !m.opts.Health.Enabled {
		return
	}
	m.healthOnce.Do(func() { m.spawn(m.runHealth) })
}

// runHealth is the monitor's loop, until the manager closes.
func (m *Manager) runHealth() {
	t := m.clock.NewTicker(m.opts.Health.Interval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.Chan():
			m.checkHealth()
		}
	}
}

// checkHealth runs one pass of the monitor over every session.
func (m *Manager) checkHealth() {
	h := m.opts.Health
	now := m.clock.Now()
	for _, l := range m.allLives() {
		if m.remote(l) {
			continue // another node runs it, and watches it
		}
		l.mu.Lock()
		p, gen, rec := l.prov, l.gen, l.rec
		if l.deleted || !rec.Running || l.h.job != nil || l.h.gaveUp {
			l.mu.Unlock()
			continue
		}
		cause, retry := "", false
		switch rec.State {
		case StateWorking:
			pinger, ok := p.(provider.Pinger)
			if !ok {
				break
			}
			idle := now.Sub(l.h.lastAlive)
			switch {
			case idle >= h.UnresponsiveAfter:
				cause = causeSilence
			case idle >= h.Interval && !l.h.pinging:
				l.h.pinging = true
				if !m.spawn(func() { m.ping(l, gen, pinger) }) {
					l.h.pinging = false
				}
			}
		case StateStarting:
			if p != nil && now.Sub(l.h.since) >= h.UnresponsiveAfter {
				cause = causeStuck
			}
		case StateFailed:
			// Normally scheduled as the failure was recorded; this catches one recorded
			// while another reconnect was still pending.
			retry = true
		}
		l.mu.Unlock()
		switch {
		case cause != "":
			m.declareDead(l, gen, cause)
		case retry:
			m.maybeRetry(l)
		}
	}
}

// ping pings provider instance gen of l and records the answer.
func (m *Manager) ping(l *live, gen uint64, p provider.Pinger) {
	err := callProviderErr(m, m.ctx, opPing, m.opts.Health.PingTimeout, p.Ping)
	l.mu.Lock()
	l.h.pinging = false
	if err == nil {
		l.aliveLocked(gen, true)
	}
	l.mu.Unlock()
	if err != nil {
		m.metrics.pings.WithLabelValues("failed").Inc()
		m.log.Debug("session ping failed", "tenant", l.tenant, "session", l.name, "err", err)
		return
	}
	m.metrics.pings.WithLabelValues("ok").Inc()
}

// sendOutcome feeds the result of a send through provider instance gen to the monitor.
func (m *Manager) sendOutcome(l *live, gen uint64, callerCtx context.Context, err error) {
	l.mu.Lock()
	if gen != l.gen {
		l.mu.Unlock()
		return
	}
	if err == nil {
		l.aliveLocked(gen, true)
		l.mu.Unlock()
		return
	}
	// Only our deadline counts: a caller that gave up says nothing of the session.
	if !errors.Is(err, context.DeadlineExceeded) || callerCtx.Err() != nil {
		l.mu.Unlock()
		return
	}
	l.h.sendTimeouts++
	h := m.opts.Health
	dead := h.Enabled && h.SendTimeouts > 0 && l.h.sendTimeouts >= h.SendTimeouts && l.rec.State == StateWorking
	l.mu.Unlock()
	if dead {
		m.declareDead(l, gen, causeSendTimeouts)
	}
}

// declareDead marks provider instance gen of l dead and reconnects the session.
func (m *Manager) declareDead(l *live, gen uint64, cause string) {
	if m.scheduleReconnect(l, gen, cause) {
		m.metrics.unresponsive.WithLabelValues(cause).Inc()
		m.log.Warn("session unresponsive; reconnecting", "tenant", l.tenant, "session", l.name, "cause", cause)
	}
}

// maybeRetry schedules a reconnect of a session FAILED for a cause that may pass,
// with its intent set.
func (m *Manager) maybeRetry(l *live) {
	l.mu.Lock()
	rec, gen := l.rec, l.gen
	l.mu.Unlock()
	if rec.State != StateFailed || !rec.Running || !m.retryable(rec.Reason) || m.remote(l) {
		return
	}
	m.scheduleReconnect(l, gen, "")
}

// scheduleReconnect starts a reconnect of l, unless one is pending, the monitor gave
// up on it, or gen is no longer its provider instance. cause is the declared death,
// "" for a FAILED session. It reports whether a reconnect was started.
func (m *Manager) scheduleReconnect(l *live, gen uint64, cause string) bool {
	if !m.opts.Health.Enabled {
		return false
	}
	l.mu.Lock()
	if l.gen != gen || l.h.job != nil || l.h.gaveUp || !l.rec.Running || l.deleted || m.ctx.Err() != nil {
		l.mu.Unlock()
		return false
	}
	l.h.attempts++
	attempt := l.h.attempts
	if max := m.opts.Health.MaxReconnects; max > 0 && attempt > max {
		l.h.gaveUp = true
		l.mu.Unlock()
		m.spawn(func() { m.giveUp(l, gen, max) })
		return false
	}
	ctx, cancel := context.WithCancel(m.ctx)
	job := &reconnectJob{cancel: cancel}
	l.h.job = job
	l.mu.Unlock()
	if !m.spawn(func() { m.reconnect(ctx, l, job, gen, attempt, cause) }) {
		l.finish(job)
		return false
	}
	return true
}

// giveUp leaves a session FAILED once MaxReconnects reconnects in a row failed: its
// provider is stopped, its intent kept (the next boot tries again).
func (m *Manager) giveUp(l *live, gen uint64, max int) {
	if err := l.acquire(m.ctx); err != nil {
		return
	}
	defer l.release()
	if l.currentGen() != gen {
		return
	}
	m.metrics.reconnects.WithLabelValues("gave_up").Inc()
	m.log.Warn("session not reconnected any more: too many failed reconnects", "tenant", l.tenant, "session", l.name, "max", max)
	cur := l.snapshot()
	reason := cur.Reason
	if cur.State != StateFailed || reason == "" {
		reason = ReasonUnresponsive
	}
	m.stopLocked(context.Background(), l, stopEnd{state: StateFailed, reason: reason, keepRunning: true,
		message: fmt.Sprintf("gave up after %d failed reconnects (sessions.health.max_reconnects): start the session to try again", max)})
}

// finish ends job, if it is still l's pending reconnect.
func (l *live) finish(job *reconnectJob) {
	l.mu.Lock()
	if l.h.job == job {
		l.h.job = nil
	}
	l.mu.Unlock()
	job.cancel()
}

// reconnect is one reconnect of l: mark the session and stop its dead provider, wait
// the backoff delay, start a new provider.
func (m *Manager) reconnect(ctx context.Context, l *live, job *reconnectJob, gen uint64, attempt int, cause string) {
	defer l.finish(job)
	h := m.opts.Health
	delay := backoff.Delay(h.BackoffBase, h.BackoffMax, attempt)

	// Mark the session and let go of the dead provider at once: the dispatcher pauses
	// and nothing more is sent into the void.
	if err := l.acquire(ctx); err != nil {
		return
	}
	if l.currentGen() != gen || ctx.Err() != nil {
		l.release()
		return
	}
	if cause != "" {
		rec := l.update(func(r *Record) {
			r.State, r.Reason = StateStarting, ReasonUnresponsive
			r.Message = fmt.Sprintf("%s; reconnecting in %s (attempt %d)", causeText(cause, h), delay.Round(time.Millisecond), attempt)
		})
		m.persistAndPublish(l, rec)
	}
	l.mu.Lock()
	p := l.prov
	l.prov = nil
	l.gen++
	l.qr = nil
	gen = l.gen
	l.mu.Unlock()
	if p != nil {
		// Synchronously, so that the old connection is gone before the new one starts
		// (a WhatsApp device connected twice is "stream_replaced"); bounded.
		if err := callProviderErr(m, context.WithoutCancel(ctx), opStop, m.opts.StopTimeout, p.Stop); err != nil {
			m.log.Warn("stopping an unresponsive session's provider", "tenant", l.tenant, "session", l.name, "err", err)
		}
	}
	l.release()

	t := m.clock.NewTimer(delay)
	select {
	case <-t.Chan():
	case <-ctx.Done():
		t.Stop()
		return
	}

	if err := l.acquire(ctx); err != nil {
		return
	}
	if l.currentGen() != gen || ctx.Err() != nil || !l.snapshot().Running {
		l.release()
		return
	}
	reason := ReasonUnresponsive
	if cause == "" {
		reason = "reconnecting"
	}
	_, err := m.startLocked(ctx, l, startOpts{reason: reason, noWait: true, message: fmt.Sprintf("reconnect attempt %d", attempt)})
	l.release()
	l.finish(job)
	if err != nil {
		m.metrics.reconnects.WithLabelValues("failed").Inc()
		m.log.Warn("session reconnect failed", "tenant", l.tenant, "session", l.name, "attempt", attempt, "err", err)
		m.maybeRetry(l)
		return
	}
	m.metrics.reconnects.WithLabelValues("started").Inc()
	m.log.Info("session reconnected", "tenant", l.tenant, "session", l.name, "attempt", attempt)
}

// causeText says why a session was declared dead.
func causeText(cause string, h HealthOptions) string {
	switch cause {
	case causeSilence:
		return fmt.Sprintf("no sign of life for %s (sessions.health.unresponsive_after)", h.UnresponsiveAfter)
	case causeSendTimeouts:
		return fmt.Sprintf("%d sends in a row timed out (sessions.health.send_timeouts)", h.SendTimeouts)
	case causeStuck:
		return fmt.Sprintf("still connecting after %s (sessions.health.unresponsive_after)", h.UnresponsiveAfter)
	}
	return cause
}
