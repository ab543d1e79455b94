// Package session manages sessions: one WhatsApp number of one tenant on one provider.
// It owns the lifecycle state machine (state.go), persists every session's record so a
// restart brings each back to where it was, runs every provider call under a deadline,
// and turns provider reports into events on the bus.
//
//	m := session.NewManager(db, bus, session.Options{...}, sandboxNetwork)
//	if err := m.Restore(ctx, true); err != nil { ... } // at boot: restart what was running
//	info, err := m.Create(ctx, "acme", session.CreateInput{Name: "main", Start: true})
//	...
//	m.Close(shutdownCtx)                          // stop every provider, bounded
package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// Record is what is persisted of a session at ses/<tenant>/<name>.
type Record struct {
	Name     string            `json:"name"`
	Provider string            `json:"provider"`
	Config   json.RawMessage   `json:"config,omitempty"`
	State    State             `json:"state"`
	Reason   string            `json:"reason,omitempty"`
	Me       *provider.Account `json:"me,omitempty"`
	// Running is the operator's intent: true after start/restart, false after stop,
	// logout, an unlink from the phone, or a provider that cannot even be built.
	// Failures the provider reports (qr_timeout, temporary_ban, ...) keep it: Restore
	// starts every session with Running set, so those are retried at the next boot.
	Running bool `json:"running"`
	// Fallback names another session of the tenant that takes this session's messages
	// when the failover policy judges this one lost (logged out, banned, disconnected
	// too long, provider auth failure). "" for none.
	Fallback  string    `json:"fallback,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Version counts the record's changes; the store never takes an older one.
	Version uint64 `json:"version"`
}

var records = store.Table[Record]{Prefix: store.PrefixSession, Codec: store.JSONCodec[Record]{}}

// Info is a session as the API shows it.
type Info struct {
	Name     string            `json:"name"`
	Status   State             `json:"status"`
	Reason   string            `json:"reason,omitempty"`
	Provider string            `json:"provider"`
	Config   json.RawMessage   `json:"config,omitempty"`
	Me       *provider.Account `json:"me,omitempty"`
	// Fallback is the session that takes this one's messages on failover, if any.
	Fallback  string    `json:"fallback,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (r Record) info() Info {
	return Info{Name: r.Name, Status: r.State, Reason: r.Reason, Provider: r.Provider, Config: redactConfig(r.Config),
		Me: r.Me, Fallback: r.Fallback, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// redactConfig hides the secrets of a provider config as the API shows it: the string
// value of every key, at any depth, whose name contains token, secret, password or
// apikey (accessToken, appSecret, verifyToken, ...) becomes "[redacted]". The stored
// config is unchanged; a PUT must send the secrets again.
func redactConfig(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	changed := false
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				lk := strings.ToLower(k)
				if _, isString := e.(string); isString && (strings.Contains(lk, "token") || strings.Contains(lk, "secret") ||
					strings.Contains(lk, "password") || strings.Contains(lk, "apikey")) {
					x[k], changed = "[redacted]", true
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if !changed {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

// QR is the code a session in SCAN_QR_CODE currently shows.
type QR struct {
	Code      string    `json:"value"`
	ExpiresAt time.Time `json:"expiresAt"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidName reports whether name may name a session: 1-64 of letters, digits, '_' and
// '-', starting with a letter or digit.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// Options configure a Manager.
type Options struct {
	// StartTimeout, StopTimeout and SendTimeout bound the provider calls.
	StartTimeout, StopTimeout, SendTimeout time.Duration
	// DefaultProvider is used when CreateInput.Provider is empty.
	DefaultProvider string
	// MaxSessions returns the tenant's session limit (its plan).
	MaxSessions func(ctx context.Context, tenant string) (int, error)
	// OnStatus, when set, is told every status change published (the dispatcher starts
	// or pauses the session's worker). Called synchronously; it must not block.
	OnStatus func(tenant, session string, state State)
	// OnAck, when set, is told every receipt of a message sent with an id (sent,
	// delivered, read, failed). Called synchronously; it must not block.
	OnAck func(tenant, session, msgID string, ack provider.Ack, errText string)
	// OnMessage, when set, is told every inbound message (the sticky route records who
	// wrote to which number). Called from the session's event loop; it may write to the
	// store but must not wait on anything else.
	OnMessage func(tenant, session string, msg provider.Inbound)
	// OnDelete, when set, is called after a session was deleted (the queue fails what
	// still waited for it).
	OnDelete func(tenant, session string)
	// Logger; nil discards.
	Logger *slog.Logger
	// Now; nil means time.Now.
	Now func() time.Time
}

// Manager runs every session of every tenant.
type Manager struct {
	db        *store.DB
	bus       *event.Bus
	opts      Options
	log       *slog.Logger
	factories map[string]provider.Factory

	createMu sync.Mutex
	// dropped counts provider reports dropped because a session's inbox was full.
	dropped atomic.Uint64

	mu     sync.Mutex
	lives  map[key]*live
	closed bool
	ready  bool
}

type key struct{ tenant, name string }

// NewManager returns a manager over the given providers. It starts nothing; call Restore.
func NewManager(db *store.DB, bus *event.Bus, o Options, factories ...provider.Factory) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	fs := make(map[string]provider.Factory, len(factories))
	for _, f := range factories {
		fs[f.Name()] = f
	}
	return &Manager{db: db, bus: bus, opts: o, log: o.Logger, factories: fs, lives: make(map[key]*live)}
}

// Providers lists the enabled provider kinds, sorted.
func (m *Manager) Providers() []string {
	out := make([]string, 0, len(m.factories))
	for n := range m.factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Ready reports whether Restore has finished.
func (m *Manager) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}

// CreateInput is the body of a new session.
type CreateInput struct {
	Name     string
	Provider string
	Config   json.RawMessage
	// Fallback optionally names the session that takes this one's messages on
	// failover; it must exist.
	Fallback string
	// Start starts the session right after creating it.
	Start bool
}

// Create adds a session to a tenant, within the tenant's plan.
func (m *Manager) Create(ctx context.Context, tenant string, in CreateInput) (Info, error) {
	if !ValidName(in.Name) {
		return Info{}, fmt.Errorf("%w: %q must be 1-64 of A-Z, a-z, 0-9, '_' and '-'", ErrInvalidName, in.Name)
	}
	if in.Provider == "" {
		in.Provider = m.opts.DefaultProvider
	}
	if err := m.validateConfig(in.Provider, in.Config); err != nil {
		return Info{}, err
	}
	limit := 0
	if m.opts.MaxSessions != nil {
		var err error
		if limit, err = m.opts.MaxSessions(ctx, tenant); err != nil {
			return Info{}, err
		}
	}
	// Creates are serialized: the plan's count is a scan, which Badger's conflict
	// detection cannot protect against concurrent inserts.
	m.createMu.Lock()
	defer m.createMu.Unlock()
	now := m.opts.Now().UTC()
	rec := Record{Name: in.Name, Provider: in.Provider, Config: in.Config, Fallback: in.Fallback, State: StateStopped, CreatedAt: now, UpdatedAt: now}
	if in.Fallback != "" {
		if err := m.checkFallback(tenant, in.Name, in.Fallback); err != nil {
			return Info{}, err
		}
	}
	err := m.db.Update(func(txn *badger.Txn) error {
		if _, err := records.Get(txn, tenant, in.Name); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, in.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if limit > 0 {
			n := 0
			if err := records.Scan(txn, func([]string, Record) error { n++; return nil }, tenant); err != nil {
				return err
			}
			if n >= limit {
				return &LimitError{Limit: limit}
			}
		}
		return records.Put(txn, rec, tenant, in.Name)
	})
	if err != nil {
		return Info{}, err
	}
	m.mu.Lock()
	l := m.adoptLocked(tenant, rec)
	m.mu.Unlock()
	if l == nil {
		return Info{}, ErrClosed
	}
	m.publishStatus(l, rec)
	if in.Start {
		return m.Start(ctx, tenant, in.Name)
	}
	return rec.info(), nil
}

func (m *Manager) validateConfig(kind string, raw json.RawMessage) error {
	f, ok := m.factories[kind]
	if !ok {
		return fmt.Errorf("%w: %q (enabled: %v)", ErrUnknownProvider, kind, m.Providers())
	}
	if v, ok := f.(provider.ConfigValidator); ok {
		if err := v.ValidateConfig(raw); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	return nil
}

// Get returns one session of a tenant, or ErrNotFound.
func (m *Manager) Get(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return Info{}, err
	}
	return l.snapshot().info(), nil
}

// Secret is a session's provider config as stored, secrets included: for the gateway's
// own use (verifying a provider's webhooks), never for API answers (Info redacts it).
type Secret struct {
	Name, Provider string
	Config         json.RawMessage
}

// Secrets returns the stored provider configs of a tenant's sessions, by name.
func (m *Manager) Secrets(ctx context.Context, tenant string) ([]Secret, error) {
	m.mu.Lock()
	var ls []*live
	for k, l := range m.lives {
		if k.tenant == tenant {
			ls = append(ls, l)
		}
	}
	m.mu.Unlock()
	out := make([]Secret, 0, len(ls))
	for _, l := range ls {
		r := l.snapshot()
		out = append(out, Secret{Name: r.Name, Provider: r.Provider, Config: r.Config})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// List returns a tenant's sessions ordered by name.
func (m *Manager) List(ctx context.Context, tenant string) ([]Info, error) {
	m.mu.Lock()
	var ls []*live
	for k, l := range m.lives {
		if k.tenant == tenant {
			ls = append(ls, l)
		}
	}
	m.mu.Unlock()
	out := make([]Info, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.snapshot().info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Update replaces a session's provider config; a running session restarts with it.
func (m *Manager) Update(ctx context.Context, tenant, name string, config json.RawMessage) (Info, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return Info{}, err
	}
	if err := m.validateConfig(l.snapshot().Provider, config); err != nil {
		return Info{}, err
	}
	if err := l.acquire(ctx); err != nil {
		return Info{}, err
	}
	rec := l.update(func(r *Record) { r.Config = config })
	l.pmu.Lock()
	m.persist(l)
	l.pmu.Unlock()
	wasRunning := rec.State.running()
	l.release()
	if wasRunning {
		return m.Restart(ctx, tenant, name)
	}
	return rec.info(), nil
}

// SetFallback sets (or, with "", clears) the session that takes this one's messages
// on failover. It must be another existing session of the tenant. No restart.
func (m *Manager) SetFallback(ctx context.Context, tenant, name, fallback string) (Info, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return Info{}, err
	}
	if fallback != "" {
		if err := m.checkFallback(tenant, name, fallback); err != nil {
			return Info{}, err
		}
	}
	if err := l.acquire(ctx); err != nil {
		return Info{}, err
	}
	defer l.release()
	rec := l.update(func(r *Record) { r.Fallback = fallback })
	l.pmu.Lock()
	m.persist(l)
	l.pmu.Unlock()
	return rec.info(), nil
}

// checkFallback validates fallback as the failover target of name.
func (m *Manager) checkFallback(tenant, name, fallback string) error {
	if fallback == name {
		return fmt.Errorf("%w: a session cannot be its own fallback", ErrInvalidFallback)
	}
	if _, err := m.lookup(tenant, fallback); err != nil {
		return fmt.Errorf("%w: no session %q", ErrInvalidFallback, fallback)
	}
	return nil
}

// Start starts a session. Starting a running session returns it unchanged.
func (m *Manager) Start(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	return m.startLocked(ctx, l)
}

func (m *Manager) startLocked(ctx context.Context, l *live) (Info, error) {
	cur := l.snapshot()
	if cur.State.running() {
		return cur.info(), nil
	}
	f := m.factories[cur.Provider]
	if f == nil {
		return Info{}, fmt.Errorf("%w: %q is not enabled in this gateway", ErrUnknownProvider, cur.Provider)
	}
	// A provider that reported FAILED (or LOGGED_OUT) may still hold a connection:
	// stop it, bounded and in the background, before building the next one.
	l.mu.Lock()
	old := l.prov
	l.mu.Unlock()
	if old != nil {
		m.abandon(l, old, l.currentGen())
	}
	gen := l.nextGen()
	p, err := f.New(provider.Spec{Tenant: l.tenant, Session: l.name, Config: cur.Config}, l.sink(gen))
	if err != nil {
		rec := l.update(func(r *Record) { r.State, r.Reason, r.Running = StateFailed, "provider_error", false })
		m.persistAndPublish(l, rec)
		return rec.info(), fmt.Errorf("%w: provider_error: building %s provider for session %s: %v", ErrStartFailed, cur.Provider, l.name, err)
	}
	rec := l.update(func(r *Record) {
		r.State, r.Reason, r.Running = StateStarting, "", true
		l.prov, l.last = p, p
	})
	m.persistAndPublish(l, rec)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.StartTimeout)
	err = p.Start(sctx)
	cancel()
	if err != nil {
		reason := "start_failed"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "start_timeout"
		}
		m.abandon(l, p, gen)
		rec := l.update(func(r *Record) { r.State, r.Reason = StateFailed, reason })
		m.persistAndPublish(l, rec)
		m.log.Warn("session start failed", "tenant", l.tenant, "session", l.name, "err", err)
		return rec.info(), fmt.Errorf("%w: %s: %v", ErrStartFailed, reason, err)
	}
	return l.snapshot().info(), nil
}

// abandon stops a provider that failed to start, in the background and bounded, so
// that a provider that hangs never holds the session.
func (m *Manager) abandon(l *live, p provider.Provider, gen uint64) {
	l.mu.Lock()
	if l.gen == gen {
		l.gen++
		l.prov = nil
	}
	l.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), m.opts.StopTimeout)
		defer cancel()
		_ = p.Stop(ctx)
	}()
}

// Stop stops a session and keeps its link.
func (m *Manager) Stop(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	rec := m.stopLocked(ctx, l, "", false)
	return rec.info(), nil
}

// stopLocked stops the provider under StopTimeout. keepRunning leaves the operator's
// intent set (gateway shutdown: the session comes back at the next boot).
func (m *Manager) stopLocked(ctx context.Context, l *live, reason string, keepRunning bool) Record {
	l.mu.Lock()
	p := l.prov
	l.prov = nil
	l.gen++ // reports of the old provider are ignored from here on
	l.qr = nil
	l.mu.Unlock()
	state := StateStopped
	if p != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.StopTimeout)
		err := p.Stop(sctx)
		cancel()
		if err != nil {
			m.log.Warn("session stop failed", "tenant", l.tenant, "session", l.name, "err", err)
			state, reason = StateFailed, "stop_timeout"
			if !errors.Is(err, context.DeadlineExceeded) {
				reason = "stop_failed"
			}
		}
	}
	rec := l.update(func(r *Record) {
		if r.State == StateLoggedOut && state == StateStopped {
			return // stopping a logged-out session leaves it LOGGED_OUT
		}
		r.State, r.Reason = state, reason
		r.Running = keepRunning && r.Running
	})
	m.persistAndPublish(l, rec)
	return rec
}

// Restart stops then starts a session.
func (m *Manager) Restart(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	m.stopLocked(ctx, l, "", false)
	return m.startLocked(ctx, l)
}

// Logout unlinks the number: the provider forgets its credentials and the session goes
// LOGGED_OUT; start pairs again.
func (m *Manager) Logout(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	if err := m.logoutLocked(ctx, l); err != nil {
		return l.snapshot().info(), err
	}
	return l.snapshot().info(), nil
}

func (m *Manager) logoutLocked(ctx context.Context, l *live) error {
	l.mu.Lock()
	p := l.prov
	l.prov = nil
	l.gen++
	l.qr = nil
	cur := l.rec
	l.mu.Unlock()
	if p == nil {
		// Not running: build a provider only to remove its credentials.
		f := m.factories[cur.Provider]
		if f == nil {
			return fmt.Errorf("%w: %q", ErrUnknownProvider, cur.Provider)
		}
		// Its reports go nowhere: the outcome of Logout is recorded below, once.
		var err error
		if p, err = f.New(provider.Spec{Tenant: l.tenant, Session: l.name, Config: cur.Config}, func(provider.Event) {}); err != nil {
			return fmt.Errorf("building provider to log out session %s: %w", l.name, err)
		}
	}
	l.mu.Lock()
	l.last = p
	l.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.StopTimeout)
	err := p.Logout(sctx)
	cancel()
	if err != nil {
		rec := l.update(func(r *Record) { r.State, r.Reason, r.Running = StateFailed, "logout_failed", false })
		m.persistAndPublish(l, rec)
		return fmt.Errorf("%w: %v", ErrLogoutFailed, err)
	}
	rec := l.update(func(r *Record) { r.State, r.Reason, r.Running, r.Me = StateLoggedOut, "logout", false, nil })
	m.persistAndPublish(l, rec)
	return nil
}

// Delete stops and logs out a session, then removes it and everything it owns.
func (m *Manager) Delete(ctx context.Context, tenant, name string) error {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return err
	}
	defer l.release()
	if l.snapshot().State.running() {
		m.stopLocked(ctx, l, "", false)
	}
	if err := m.logoutLocked(ctx, l); err != nil {
		m.log.Warn("logout before delete failed; deleting anyway", "tenant", tenant, "session", name, "err", err)
	}
	// The record and every provider key of the session go in one transaction, whether
	// or not the provider's logout succeeded: nothing of it may survive for a new
	// session of the same name to inherit.
	err = m.db.Update(func(txn *badger.Txn) error {
		for _, p := range store.SessionPrefixes {
			if err := txn.Delete(store.Key(p, tenant, name)); err != nil {
				return err
			}
		}
		return records.Delete(txn, tenant, name)
	})
	if err != nil {
		return fmt.Errorf("deleting session %s: %w", name, err)
	}
	for _, p := range store.SessionPrefixes {
		if err := m.db.DeletePrefix(store.ScanPrefix(p, tenant, name)); err != nil {
			m.log.Warn("deleting provider data of session", "tenant", tenant, "session", name, "err", err)
		}
	}
	l.mu.Lock()
	last := l.last
	l.last = nil
	l.mu.Unlock()
	if c, ok := last.(provider.Closer); ok {
		c.Close()
	}
	l.mu.Lock()
	l.deleted = true
	l.mu.Unlock()
	m.mu.Lock()
	if m.lives[key{tenant, name}] == l {
		delete(m.lives, key{tenant, name})
	}
	m.mu.Unlock()
	l.close()
	if m.opts.OnDelete != nil {
		m.opts.OnDelete(tenant, name)
	}
	return nil
}

// DeleteTenant deletes every session of a tenant (before the tenant itself goes).
func (m *Manager) DeleteTenant(ctx context.Context, tenant string) error {
	infos, _ := m.List(ctx, tenant)
	for _, in := range infos {
		if err := m.Delete(ctx, tenant, in.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// QR returns the code a session in SCAN_QR_CODE shows now, or ErrNoQR.
func (m *Manager) QR(ctx context.Context, tenant, name string) (QR, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return QR{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.qr == nil || l.rec.State != StateScanQR {
		return QR{}, fmt.Errorf("%w: session is %s", ErrNoQR, l.rec.State)
	}
	return *l.qr, nil
}

// RequestCode asks for a pairing code for phone instead of a QR scan.
func (m *Manager) RequestCode(ctx context.Context, tenant, name, phone string) (string, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	p, st := l.prov, l.rec.State
	l.mu.Unlock()
	if p == nil || st != StateScanQR {
		return "", fmt.Errorf("%w: session is %s", ErrNoQR, st)
	}
	cctx, cancel := context.WithTimeout(ctx, m.opts.StartTimeout)
	defer cancel()
	code, err := p.RequestPairingCode(cctx, phone)
	if errors.Is(err, provider.ErrNotPairing) {
		return "", fmt.Errorf("%w: %v", ErrNoQR, err)
	}
	return code, err
}

// Send sends one message through a WORKING session and publishes its "sent" ack. It
// returns ErrNotWorking, without calling the provider, when the session is in any other
// state.
func (m *Manager) Send(ctx context.Context, tenant, name string, msg provider.Outbound) (provider.SendResult, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return provider.SendResult{}, err
	}
	l.mu.Lock()
	p, st := l.prov, l.rec.State
	l.mu.Unlock()
	if p == nil || st != StateWorking {
		return provider.SendResult{}, &NotWorkingError{State: st}
	}
	sctx, cancel := context.WithTimeout(ctx, m.opts.SendTimeout)
	res, err := p.Send(sctx, msg)
	cancel()
	if err != nil {
		return provider.SendResult{}, err
	}
	m.publishAck(l, msg.ID, provider.AckEvent{ProviderID: res.ProviderID, ChatID: msg.ChatID, Ack: provider.AckSent})
	for _, a := range l.acks.record(res.ProviderID, msg.ID) {
		m.publishAck(l, msg.ID, a)
	}
	return res, nil
}

// hold finds a session and takes its lifecycle semaphore; the caller releases it.
func (m *Manager) hold(ctx context.Context, tenant, name string) (*live, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return nil, err
	}
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (m *Manager) lookup(tenant, name string) (*live, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	l, ok := m.lives[key{tenant, name}]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return l, nil
}

// adoptLocked makes the live object of a record; nil once the manager is closed.
func (m *Manager) adoptLocked(tenant string, rec Record) *live {
	if m.closed {
		return nil
	}
	l := newLive(m, tenant, rec)
	m.lives[key{tenant, rec.Name}] = l
	return l
}

// persist writes the session's current record (not an older copy a slow caller holds).
// Callers hold l.pmu.
func (m *Manager) persist(l *live) {
	l.mu.Lock()
	rec, deleted := l.rec, l.deleted
	l.mu.Unlock()
	if deleted || rec.Version <= l.persistedVersion {
		return
	}
	err := m.db.Update(func(txn *badger.Txn) error {
		// A deleted session must not be resurrected by a late report.
		if _, err := records.Get(txn, l.tenant, l.name); errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return records.Put(txn, rec, l.tenant, l.name)
	})
	if err != nil {
		m.log.Error("persisting session state", "tenant", l.tenant, "session", l.name, "err", err)
		return
	}
	l.persistedVersion = rec.Version
}

// persistAndPublish stores the session's newest record and publishes rec's status,
// unless a newer status was already published: concurrent transitions never leave an
// older record in the store or an older status last on the bus.
func (m *Manager) persistAndPublish(l *live, rec Record) {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	m.persist(l)
	if rec.Version > l.publishedVersion {
		l.publishedVersion = rec.Version
		m.publishStatus(l, rec)
	}
}

// StatusPayload is the payload of session.status.
type StatusPayload struct {
	Status State             `json:"status"`
	Reason string            `json:"reason,omitempty"`
	Me     *provider.Account `json:"me,omitempty"`
}

// QRPayload is the payload of session.qr.
type QRPayload struct {
	QR        string    `json:"qr"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// AckPayload is the payload of message.ack.
type AckPayload struct {
	// ID is the gateway's message id. Acks of messages sent outside the API (from the
	// phone) are not published yet.
	ID         string       `json:"id"`
	ProviderID string       `json:"providerId"`
	ChatID     string       `json:"chatId"`
	Ack        provider.Ack `json:"ack"`
	Error      string       `json:"error,omitempty"`
}

// MessagePayload is the payload of message.
type MessagePayload struct {
	ID     string        `json:"id"`
	ChatID string        `json:"chatId"`
	From   string        `json:"from"`
	FromMe bool          `json:"fromMe"`
	Type   provider.Kind `json:"type"`
	// Body is the text, or the caption of media.
	Body      string `json:"body"`
	Timestamp int64  `json:"timestamp"`
	// Media, Location, Contacts and Reaction are set for those kinds (media without
	// its bytes).
	Media    *provider.Media    `json:"media,omitempty"`
	Location *provider.Location `json:"location,omitempty"`
	Contacts []provider.Contact `json:"contacts,omitempty"`
	Reaction *provider.Reaction `json:"reaction,omitempty"`
	// Target is the provider id of the message an edit or revoke is about.
	Target string `json:"target,omitempty"`
}

func (m *Manager) publishStatus(l *live, rec Record) {
	m.publish(l, event.SessionStatus, StatusPayload{Status: rec.State, Reason: rec.Reason, Me: rec.Me})
	if m.opts.OnStatus != nil {
		m.opts.OnStatus(l.tenant, l.name, rec.State)
	}
}

func (m *Manager) publishAck(l *live, msgID string, a provider.AckEvent) {
	m.publish(l, event.MessageAck, AckPayload{ID: msgID, ProviderID: a.ProviderID, ChatID: a.ChatID.String(), Ack: a.Ack, Error: a.Error})
	if m.opts.OnAck != nil && msgID != "" {
		m.opts.OnAck(l.tenant, l.name, msgID, a.Ack, a.Error)
	}
}

func (m *Manager) publish(l *live, name string, payload any) {
	m.bus.Publish(event.New(name, l.tenant, l.name, payload))
}
