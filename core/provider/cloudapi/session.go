package cloudapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// state is where a session is in its lifecycle.
type state int

const (
	stateStopped    state = iota // never started, or stopped
	stateConnecting              // started; the credential check has not succeeded yet
	stateWorking                 // credentials checked; sends go out
	stateFailed                  // the account refused (auth, ban); Start again to retry
	stateLoggedOut               // Logout was called; Start again resumes
)

// Provider is the provider of one cloudapi session: one business number. Factory.New
// returns it as a provider.Provider; besides that contract it offers MarkMessageRead,
// LastInbound, HandleWebhook (provider.WebhookReceiver), DownloadMedia
// (provider.MediaDownloader), provider.Chats and provider.Presencer (chats.go):
//
//	if cp, ok := p.(*cloudapi.Provider); ok {
//		err = cp.MarkMessageRead(ctx, inbound.ProviderID)
//	}
//
// Locks: mu guards the fields below it; events.mu is a leaf lock. Events are queued
// under mu, in the same critical section as the state change they report, and
// delivered to the sink by drain with no lock held.
type Provider struct {
	f       *Factory
	tenant  string
	name    string
	cfg     SessionConfig // resolved: defaults applied
	base    string        // <baseUrl>/<apiVersion>/<phoneNumberId>
	limiter *rate.Limiter
	log     *slog.Logger
	events  emitter
	media   mediaIndex
	// lastIn is each chat's last inbound message, for MarkRead and typing (chats.go).
	lastIn lastInbound

	mu     sync.Mutex
	state  state
	run    *run // current run: set by Start, ended by Stop, Logout, a fatal error, Close
	closed bool
}

// run is one start-to-stop span; its context ends the background credential check.
type run struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newSession(f *Factory, spec provider.Spec, sc SessionConfig, sink provider.Sink) *Provider {
	return &Provider{
		f: f, tenant: spec.Tenant, name: spec.Session, cfg: sc,
		base:    sc.BaseURL + "/" + sc.APIVersion + "/" + url.PathEscape(sc.PhoneNumberID),
		limiter: newLimiter(sc.Throughput),
		log:     f.log.With("tenant", spec.Tenant, "session", spec.Session),
		events:  emitter{sink: sink},
		media:   mediaIndex{max: rememberedMedia},
	}
}

// Start implements provider.Provider. It reports CONNECTING, then checks the
// credentials with one cheap call (GET /<version>/<phone number id>?fields=
// display_phone_number,verified_name) and reports WORKING with the account: the
// display number as id, the verified business name as push name.
//
// A refusal is reported as FAILED with the code of the check's *provider.SendError as
// reason (auth_failed for an expired token, a missing permission or a deleted number;
// banned; invalid_parameter for a wrong phone number id), and Start returns nil: the
// session started and learnt its account is refused, as a phone learns it is banned. A
// transient failure (network, 5xx, rate limit, deadline) is retried in the background
// with backoff until the check succeeds (WORKING), is refused (FAILED as above), or the
// session stops. Start returns an error only once the provider is closed. Starting a running
// session does nothing. There is no QR code and no pairing: the number is registered
// in WhatsApp Manager.
func (s *Provider) Start(ctx context.Context) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return s.errorf("starting", ErrClosed)
	case s.run != nil:
		s.mu.Unlock()
		return nil
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &run{ctx: rctx, cancel: cancel}
	s.run, s.state = r, stateConnecting
	s.events.push(provider.StatusEvent{Status: provider.StatusConnecting})
	s.mu.Unlock()
	s.events.drain()

	me, err := s.check(ctx)
	switch {
	case err == nil:
		s.working(r, me)
		return nil
	case !provider.Retryable(err):
		s.fail(r, err)
		return nil
	}
	s.log.Warn("cloudapi credential check failed; retrying in the background", "err", err)
	go s.retryCheck(r)
	return nil
}

// account is the answer of GET /<phone number id>?fields=display_phone_number,verified_name.
type account struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number"`
	VerifiedName       string `json:"verified_name"`
}

// check asks the Graph API who the number is; an error is a *provider.SendError.
func (s *Provider) check(ctx context.Context) (*provider.Account, error) {
	var a account
	err := s.f.graph.call(ctx, request{method: "GET", url: s.base + "?fields=display_phone_number,verified_name",
		token: s.cfg.AccessToken}, &a)
	if err != nil {
		return nil, err
	}
	me := &provider.Account{PushName: a.VerifiedName}
	if id, err := chatid.Parse(digitsOf(a.DisplayPhoneNumber)); err == nil {
		me.ID = id
	}
	return me, nil
}

// retryCheck repeats the credential check of run r with backoff until it settles.
func (s *Provider) retryCheck(r *run) {
	wait := s.f.retryBase
	for {
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		me, err := s.check(r.ctx)
		switch {
		case err == nil:
			s.working(r, me)
			return
		case !provider.Retryable(err):
			s.fail(r, err)
			return
		case r.ctx.Err() != nil:
			return
		}
		s.log.Warn("cloudapi credential check failed; retrying", "err", err, "in", wait*2)
		wait = min(wait*2, s.f.retryMax)
	}
}

// working reports WORKING if r is still the current run.
func (s *Provider) working(r *run, me *provider.Account) {
	s.mu.Lock()
	if s.run == r && s.state != stateWorking {
		s.state = stateWorking
		s.events.push(provider.StatusEvent{Status: provider.StatusWorking, Me: me})
	}
	s.mu.Unlock()
	s.events.drain()
}

// fail ends run r and reports FAILED, with the error's code as reason, for an error of
// a check that retrying cannot cure, or a fatal error of a send (auth_failed, banned),
// unless r is no longer current. r nil means the current run.
func (s *Provider) fail(r *run, err error) {
	reason := "start_failed"
	var se *provider.SendError
	if errors.As(err, &se) {
		reason = se.Code
	}
	s.mu.Lock()
	if s.run != nil && (r == nil || s.run == r) {
		s.endRunLocked()
		s.state = stateFailed
		s.events.push(provider.StatusEvent{Status: provider.StatusFailed, Reason: reason})
		s.log.Warn("cloudapi session failed", "reason", reason, "err", err)
	}
	s.mu.Unlock()
	s.events.drain()
}

// Stop implements provider.Provider: it ends the run (a background credential check
// included) and reports STOPPED. Nothing is sent to Meta: a Cloud API number has no
// connection to close. Stopping a stopped session does nothing.
func (s *Provider) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateStopped && s.state != stateLoggedOut {
		s.endRunLocked()
		s.state = stateStopped
		s.events.push(provider.StatusEvent{Status: provider.StatusStopped})
	}
	s.mu.Unlock()
	s.events.drain()
	return nil
}

// Logout implements provider.Provider, locally: it stops the session and reports
// LOGGED_OUT with reason "logout". Nothing is unregistered at Meta and no credential is
// forgotten (they are the session's config): the number keeps working for other apps,
// and Start resumes it. To cut the gateway off for good, delete the session and revoke
// its System User token in Business Settings.
func (s *Provider) Logout(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateLoggedOut {
		s.endRunLocked()
		s.state = stateLoggedOut
		s.events.push(provider.StatusEvent{Status: provider.StatusLoggedOut, Reason: "logout"})
	}
	s.mu.Unlock()
	s.events.drain()
	return nil
}

// RequestPairingCode implements provider.Provider: Cloud API numbers are never paired;
// it returns ErrNoPairing (which wraps provider.ErrUnsupported).
func (s *Provider) RequestPairingCode(ctx context.Context, phone string) (string, error) {
	return "", s.errorf("requesting a pairing code", ErrNoPairing)
}

// Close implements provider.Closer: the session ends for good without reporting.
func (s *Provider) Close() {
	s.mu.Lock()
	s.endRunLocked()
	s.closed = true
	s.state = stateStopped
	s.mu.Unlock()
}

func (s *Provider) endRunLocked() {
	if s.run != nil {
		s.run.cancel()
		s.run = nil
	}
}

// sendable returns nil when the session may send, else the error Send returns.
func (s *Provider) sendable() error {
	s.mu.Lock()
	st, closed := s.state, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return s.errorf("sending", fmt.Errorf("%w (%w)", provider.ErrNotConnected, ErrClosed))
	case st == stateLoggedOut:
		return s.errorf("sending", provider.ErrLoggedOut)
	case st != stateWorking:
		return s.errorf("sending", provider.ErrNotConnected)
	}
	return nil
}

// LastInbound returns when chat last wrote to this session: the start of its 24-hour
// customer-service window (WindowOpen tells whether it is still open). The zero time
// means never, as far as the gateway has seen.
func (s *Provider) LastInbound(ctx context.Context, chat chatid.ID) (time.Time, error) {
	return s.f.LastInbound(ctx, s.tenant, s.name, chat)
}

func (s *Provider) errorf(op string, err error) error {
	return fmt.Errorf("cloudapi %s/%s: %s: %w", s.tenant, s.name, op, err)
}

// digitsOf keeps the digits of a display number ("+1 555-078-3881" -> "15550783881").
func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// emitter orders a session's events and delivers them to its sink without any lock
// held: events are pushed under the session lock, with the state change they report,
// then drained by whichever goroutine finds the queue idle, one at a time.
type emitter struct {
	sink provider.Sink

	mu       sync.Mutex
	pending  []provider.Event
	draining bool
}

func (e *emitter) push(evs ...provider.Event) {
	e.mu.Lock()
	e.pending = append(e.pending, evs...)
	e.mu.Unlock()
}

func (e *emitter) drain() {
	e.mu.Lock()
	if e.draining {
		e.mu.Unlock()
		return
	}
	e.draining = true
	for len(e.pending) > 0 {
		batch := e.pending
		e.pending = nil
		e.mu.Unlock()
		for _, ev := range batch {
			e.sink(ev)
		}
		e.mu.Lock()
	}
	e.draining = false
	e.mu.Unlock()
}

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Closer   = (*Provider)(nil)
)
