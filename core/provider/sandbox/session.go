package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// state is where a session is in its lifecycle. Connecting is not a state: the sandbox
// connects at once, so it only shows as a StatusEvent on the way to WORKING.
type state int

const (
	stateStopped   state = iota // never started, or stopped
	statePairing                // showing QR codes
	stateWorking                // linked and connected (reported FAILED while temp_ban is set)
	stateFailed                 // pairing gave up (qr_timeout); Start may follow
	stateLoggedOut              // unlinked; Start pairs again
)

// session is the provider of one sandbox session: one number on the network.
//
// Locks, in the order they may be taken: ops (a lifecycle operation: Start, Stop, Logout,
// Link, SetFaults), then mu (the fields below), then the network's lock, then leaf locks
// (event queue, random source). A session never holds another session's lock, and
// never calls its sink with any lock held.
type session struct {
	net    *Network
	key    sessionKey
	log    *slog.Logger
	events eventQueue
	// ops is a semaphore held by one lifecycle operation at a time; a channel so that
	// waiting for it respects the caller's context.
	ops chan struct{}

	mu    sync.Mutex
	state state
	// run is the current run: set by Start, cleared by Stop, Logout, a failure or
	// retirement. Timers and in-flight sends hold the run they began in and do nothing
	// once it is no longer current, so nothing fires after Stop.
	run *run
	// phone is the linked number while the session runs linked; "" otherwise.
	phone  string
	faults config.SandboxFaults
	// wrote holds the chats that wrote to the session (for reachout_timelock), at most
	// maxWrote; past it the oldest are not told apart from the rest: the set is reset.
	wrote map[string]struct{}
	// retired is set when the network closed or a newer provider replaced this one.
	retired bool
}

// run is one start-to-stop span of a session.
type run struct {
	// done is closed when the run ends; in-flight sends wait on it.
	done    chan struct{}
	timers  map[*timer]struct{}
	pairing *pairing // while pairing
}

// timer is an armed timer of a run.
type timer struct{ t clockwork.Timer }

func newSession(n *Network, key sessionKey, sink provider.Sink) *session {
	return &session{
		net:    n,
		key:    key,
		log:    n.log.With("tenant", key.tenant, "session", key.session),
		events: eventQueue{sink: sink, live: n.live},
		ops:    make(chan struct{}, 1),
	}
}

// Start implements provider.Provider. A session with a stored link reports CONNECTING
// then WORKING (FAILED "temporary_ban" while temp_ban is set); one without reports
// PAIRING and its first QR code. Start on a running session does nothing.
func (s *session) Start(ctx context.Context) error {
	if err := ctxDone(ctx); err != nil {
		return s.errorf("starting", err)
	}
	if err := s.acquire(ctx); err != nil {
		return s.errorf("starting", err)
	}
	err := s.start(ctx)
	s.release()
	s.events.drain()
	if err != nil {
		return s.errorf("starting", err)
	}
	return nil
}

func (s *session) start(ctx context.Context) error {
	s.mu.Lock()
	retired, running := s.retired, s.run != nil
	s.mu.Unlock()
	switch {
	case retired:
		return ErrClosed
	case running:
		return nil
	}

	phone, linked, err := s.net.links.LoadLink(ctx, s.key.tenant, s.key.session)
	if err != nil {
		return fmt.Errorf("loading link: %w", err)
	}
	if linked {
		return s.resume(ctx, phone)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired {
		return ErrClosed
	}
	r := s.newRunLocked()
	s.state = statePairing
	s.answerLocked(provider.StatusEvent{Status: provider.StatusPairing})
	s.beginPairingLocked(r)
	s.log.Debug("sandbox session pairing")
	return nil
}

// resume connects a session that has a stored link.
func (s *session) resume(ctx context.Context, phone string) error {
	s.mu.Lock()
	loggedOut := s.faults.LoggedOut
	s.mu.Unlock()
	if loggedOut {
		// The phone removed this device while the session was away: connecting finds out.
		if err := s.net.links.DeleteLink(ctx, s.key.tenant, s.key.session); err != nil {
			return fmt.Errorf("deleting link: %w", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.answerLocked(provider.StatusEvent{Status: provider.StatusConnecting})
		s.state = stateLoggedOut
		s.emitLocked(provider.StatusEvent{Status: provider.StatusLoggedOut, Reason: reasonLoggedOutFromPhone})
		return nil
	}

	if err := s.net.claim(phone, s); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retired {
		s.net.release(phone, s)
		return ErrClosed
	}
	s.newRunLocked()
	s.phone = phone
	s.state = stateWorking
	s.answerLocked(provider.StatusEvent{Status: provider.StatusConnecting})
	s.reportLinkedLocked(true)
	s.log.Debug("sandbox session resumed", "phone", phone)
	return nil
}

// Stop implements provider.Provider: it ends the run (timers, pairing, in-flight sends)
// and reports STOPPED; the link is kept. Stopping a stopped or logged-out session does
// nothing. With hang_on_stop set it blocks until ctx ends instead, and stops nothing.
func (s *session) Stop(ctx context.Context) error {
	if err := s.hang(ctx); err != nil {
		return s.errorf("stopping", err)
	}
	if err := s.acquire(ctx); err != nil {
		return s.errorf("stopping", err)
	}
	s.mu.Lock()
	if s.state != stateStopped && s.state != stateLoggedOut && !s.retired {
		s.endRunLocked()
		s.state = stateStopped
		s.answerLocked(provider.StatusEvent{Status: provider.StatusStopped})
		s.log.Debug("sandbox session stopped")
	}
	s.mu.Unlock()
	s.release()
	s.events.drain()
	return nil
}

// Logout implements provider.Provider: it deletes the stored link, ends the run and
// reports LOGGED_OUT with reason "logout" (once: a second Logout only deletes again).
// With hang_on_stop set it blocks until ctx ends instead, and unlinks nothing.
func (s *session) Logout(ctx context.Context) error {
	if err := s.hang(ctx); err != nil {
		return s.errorf("logging out", err)
	}
	if err := s.acquire(ctx); err != nil {
		return s.errorf("logging out", err)
	}
	err := s.logout(ctx)
	s.release()
	s.events.drain()
	if err != nil {
		return s.errorf("logging out", err)
	}
	return nil
}

func (s *session) logout(ctx context.Context) error {
	s.mu.Lock()
	retired := s.retired
	s.mu.Unlock()
	if retired {
		return ErrClosed
	}
	if err := s.net.links.DeleteLink(ctx, s.key.tenant, s.key.session); err != nil {
		return fmt.Errorf("deleting link: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateLoggedOut && !s.retired {
		s.endRunLocked()
		s.state = stateLoggedOut
		s.answerLocked(provider.StatusEvent{Status: provider.StatusLoggedOut, Reason: reasonLogout})
		s.log.Debug("sandbox session logged out")
	}
	return nil
}

// hang blocks until ctx ends when the hang_on_stop fault is set, and returns why.
func (s *session) hang(ctx context.Context) error {
	s.mu.Lock()
	hang := s.faults.HangOnStop && !s.retired
	s.mu.Unlock()
	if !hang {
		return nil
	}
	s.log.Debug("sandbox hang_on_stop: blocking until the context ends")
	select {
	case <-ctx.Done():
		return fmt.Errorf("hang_on_stop fault: %w", ctx.Err())
	case <-s.net.ctx.Done():
		return fmt.Errorf("hang_on_stop fault: %w", ErrClosed)
	}
}

// retire ends the session for good, reporting nothing, and returns its faults.
func (s *session) retire() config.SandboxFaults {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endRunLocked()
	s.retired = true
	if s.state != stateLoggedOut {
		s.state = stateStopped
	}
	return s.faults
}

// acquire takes the lifecycle semaphore, unless ctx or the network ends first.
func (s *session) acquire(ctx context.Context) error {
	select {
	case s.ops <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.net.ctx.Done():
		return ErrClosed
	}
}

func (s *session) release() { <-s.ops }

func (s *session) newRunLocked() *run {
	r := &run{done: make(chan struct{}), timers: make(map[*timer]struct{})}
	s.run = r
	return r
}

// endRunLocked stops the current run's timers, wakes its in-flight sends and gives its
// phone number back to the network.
func (s *session) endRunLocked() {
	r := s.run
	if r == nil {
		return
	}
	s.run = nil
	for tm := range r.timers {
		if tm.t.Stop() {
			s.net.live.done()
		}
	}
	r.timers = nil
	r.pairing = nil
	close(r.done)
	if s.phone != "" {
		s.net.release(s.phone, s)
		s.phone = ""
	}
}

// afterLocked arms fn to run with s.mu held after d, unless the run ends first. The
// caller holds s.mu and r is the current run.
func (s *session) afterLocked(r *run, d time.Duration, fn func()) *timer {
	return s.arm(r, d, fn, nil)
}

// afterUnlocked arms fn to run without any lock after d, if r is still the current run
// by then. The caller holds s.mu and r is the current run.
func (s *session) afterUnlocked(r *run, d time.Duration, fn func()) *timer {
	return s.arm(r, d, nil, fn)
}

func (s *session) arm(r *run, d time.Duration, locked, unlocked func()) *timer {
	tm := &timer{}
	r.timers[tm] = struct{}{}
	s.net.live.add()
	// The callback takes s.mu, which the caller holds, so it sees tm.t set.
	tm.t = s.net.clock.AfterFunc(d, func() {
		defer s.net.live.done()
		s.mu.Lock()
		if _, armed := r.timers[tm]; !armed || s.run != r {
			s.mu.Unlock()
			return
		}
		delete(r.timers, tm)
		if locked != nil {
			locked()
		}
		s.mu.Unlock()
		s.events.drain()
		if unlocked != nil {
			unlocked()
		}
	})
	return tm
}

// cancelLocked disarms tm if it is still armed.
func (s *session) cancelLocked(r *run, tm *timer) {
	if tm == nil {
		return
	}
	if _, armed := r.timers[tm]; !armed {
		return
	}
	delete(r.timers, tm)
	if tm.t.Stop() {
		s.net.live.done()
	}
}

// answerLocked queues an event that answers a call of the gateway (Start, Stop, Logout):
// it is reported even under silent_disconnect.
func (s *session) answerLocked(ev provider.Event) {
	if !s.retired {
		s.events.push(ev)
	}
}

// emitLocked queues an event the simulated network originates (QR codes, linking, acks,
// inbound messages, faults): silent_disconnect drops it.
func (s *session) emitLocked(ev provider.Event) {
	if !s.retired && !s.faults.SilentDisconnect {
		s.events.push(ev)
	}
}

// reportLinkedLocked reports the linked session as WORKING, or FAILED while banned.
func (s *session) reportLinkedLocked(answer bool) {
	if s.faults.TempBan {
		s.emitLocked(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: true})
	}
	if s.faults.ReachoutTimelock {
		s.emitLocked(provider.RestrictionEvent{Reason: provider.RestrictionReachout, Active: true})
	}
	ev := provider.StatusEvent{Status: provider.StatusWorking, Me: s.meLocked()}
	if s.faults.TempBan {
		ev = provider.StatusEvent{Status: provider.StatusFailed, Reason: reasonTempBan}
	}
	if answer {
		s.answerLocked(ev)
	} else {
		s.emitLocked(ev)
	}
}

func (s *session) meLocked() *provider.Account {
	return &provider.Account{
		ID:       chatid.ID{Local: s.phone, Server: chatid.User},
		PushName: s.net.pushName(s.phone),
	}
}

// errorf wraps err with the session and the operation.
func (s *session) errorf(op string, err error) error {
	return fmt.Errorf("sandbox %s/%s: %s: %w", s.key.tenant, s.key.session, op, err)
}

// Reasons of the StatusEvents the sandbox reports.
const (
	reasonQRTimeout          = "qr_timeout"
	reasonTempBan            = "temporary_ban"
	reasonLogout             = "logout"
	reasonLoggedOutFromPhone = "logged_out_from_phone"
)

// isQuiet reports errors that are an expected outcome of a race with Stop or Close.
func isQuiet(err error) bool {
	return errors.Is(err, ErrNotPairing) || errors.Is(err, ErrClosed)
}

var _ provider.Provider = (*session)(nil)

// Close implements provider.Closer: the session is retired and leaves the network, so a
// new session of the same name starts from nothing (no faults, no state).
func (s *session) Close() {
	s.retire()
	s.net.mu.Lock()
	if s.net.sessions[s.key] == s {
		delete(s.net.sessions, s.key)
	}
	s.net.mu.Unlock()
}

var _ provider.Closer = (*session)(nil)
