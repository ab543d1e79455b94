// Package session manages sessions: one WhatsApp number of one tenant on one provider.
// It owns the lifecycle state machine (state.go), persists every session's record so a
// restart brings each back to where it was, runs every provider call under a deadline,
// and turns provider reports into events on the bus.
//
// Four mitigations live here, each with its knobs (Options, config sessions.*), its
// metrics (Collector) and a section in docs/operations.md: the health monitor
// (health.go: dead sessions found and reconnected with backoff), the timeout handler
// (timeout.go: no provider call outlives its deadline), the session pool (pool.go: caps
// on live sessions with an admission queue; restore.go staggers boot starts) and the QR
// limiter (qrlimit.go: pairing that loops is stopped).
//
//	m := session.NewManager(db, bus, session.Options{...}, sandboxNetwork)
//	if err := m.Restore(ctx, true); err != nil { ... } // at boot: restart what was running
//	info, err := m.Create(ctx, "acme", session.CreateInput{Name: "main", Start: true})
//	...
//	m.Close(shutdownCtx)                          // stop every provider, bounded
package session

import (
	"cmp"
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
	"github.com/jonboulle/clockwork"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// Record is what is persisted of a session at ses/<tenant>/<name>.
type Record struct {
	Name     string          `json:"name"`
	Provider string          `json:"provider"`
	Config   json.RawMessage `json:"config,omitempty"`
	State    State           `json:"state"`
	Reason   string          `json:"reason,omitempty"`
	// Message says, in words, what the reason means for the operator: why the session
	// is not retried, how the health monitor is reconnecting it, how to retry pairing.
	Message string            `json:"message,omitempty"`
	Me      *provider.Account `json:"me,omitempty"`
	// Running is the operator's intent: true after start/restart, false after stop,
	// logout, an unlink from the phone, or a provider that cannot even be built.
	// Failures the provider reports (qr_timeout, temporary_ban, ...) keep it: Restore
	// starts every session with Running set, so those are retried at the next boot.
	Running bool `json:"running"`
	// Fallback names another session of the tenant that takes this session's messages
	// when the failover policy judges this one lost (logged out, banned, disconnected
	// too long, provider auth failure). "" for none.
	Fallback string `json:"fallback,omitempty"`
	// Metadata is the tenant's string map of the session (WAHA's config.metadata),
	// carried by every event of the session (metadata.go).
	Metadata map[string]string `json:"metadata,omitempty"`
	// Calls is what the session does with incoming calls (calls.go); nil: nothing.
	Calls     *CallSettings `json:"calls,omitempty"`
	CreatedAt time.Time     `json:"createdAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
	// Version counts the record's changes; the store never takes an older one.
	Version uint64 `json:"version"`
}

var records = store.Table[Record]{Prefix: store.PrefixSession, Codec: store.JSONCodec[Record]{}}

// Info is a session as the API shows it. Config is the provider config, secrets
// redacted, with the metadata under "metadata" as WAHA shows it (config.metadata).
type Info struct {
	Name   string `json:"name"`
	Status State  `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Message explains the reason and what to do, when there is something to say.
	Message  string            `json:"message,omitempty"`
	Provider string            `json:"provider"`
	Config   json.RawMessage   `json:"config,omitempty"`
	Me       *provider.Account `json:"me,omitempty"`
	// Fallback is the session that takes this one's messages on failover, if any.
	Fallback  string    `json:"fallback,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (r Record) info() Info {
	return Info{Name: r.Name, Status: r.State, Reason: r.Reason, Message: r.Message, Provider: r.Provider, Config: withCalls(withMetadata(redactConfig(r.Config), r.Metadata), r.Calls),
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
	// StartTimeout, StopTimeout and SendTimeout bound the provider calls (0 means 30s,
	// 10s and 30s). Stop and logout share StopTimeout; the pairing code, webhook and
	// media calls share SendTimeout.
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
	// AckLookup, when set, finds the message id of a receipt the session's in-memory
	// index (the last sends, live.go) does not know: a late receipt. Called from the
	// session's event loop; it may read the store.
	AckLookup func(tenant, session, providerID string) (msgID string, ok bool)
	// OnMessage, when set, is told every message the session receives, those its own
	// phone sent (FromMe) included: the sticky route records who wrote to which
	// number, the queue keeps the chat's history. Called from the session's event
	// loop; it may write to the store but must not wait on anything else.
	OnMessage func(tenant, session string, msg provider.Inbound)
	// OnDelete, when set, is called after a session was deleted (the queue fails what
	// still waited for it).
	OnDelete func(tenant, session string)
	// OnCallRejected, when set, is called after a session set to reject calls with a
	// message rejected one (calls.go): it sends message to call.From, through the
	// queue. Called on a goroutine of the manager's.
	OnCallRejected func(tenant, session string, call provider.CallData, message string)
	// Version is the gateway's build version, in every session event's environment.
	Version string
	// Placement, when set, puts the manager in cluster mode (cluster.go): the cluster
	// decides which node runs each session; nil for a single node.
	Placement Placement
	// Logger; nil discards.
	Logger *slog.Logger
	// Now stamps records; nil means Clock.Now.
	Now func() time.Time
	// Clock drives the health monitor's checks and backoff, the restore stagger, the
	// admission timeout and the QR limiter's hour; nil means the real clock. Provider
	// call deadlines are real time: they bound real goroutines.
	Clock clockwork.Clock

	// Health configures the health monitor (health.go); the zero value turns it off.
	Health HealthOptions
	// Pool caps the live sessions (pool.go); the zero value caps nothing.
	Pool PoolOptions
	// QR caps QR pairing (qrlimit.go); the zero value caps nothing.
	QR QRLimits
	// RestoreConcurrency bounds the sessions Restore starts at once (0 means 8).
	// RestoreWindow spreads the starts beyond the first RestoreConcurrency over this
	// window, with jitter (0: as fast as the concurrency allows).
	RestoreConcurrency int
	RestoreWindow      time.Duration
}

// Manager runs every session of every tenant.
type Manager struct {
	db        *store.DB
	bus       *event.Bus
	opts      Options
	log       *slog.Logger
	factories map[string]provider.Factory
	// envs is the environment of each provider's events (stamp.go).
	envs map[string]*event.Environment

	clock   clockwork.Clock
	metrics *metrics
	pool    *pool
	// callGrace is how long past its deadline a provider call may take to return
	// before it is abandoned (timeout.go).
	callGrace time.Duration

	// ctx ends when Close begins: it stops the health monitor, pending reconnects,
	// restore waits and admission waits.
	ctx    context.Context
	cancel context.CancelFunc
	// bg counts the manager's own goroutines (monitor, pings, reconnects, background
	// stops), which Close waits for; bgDone is set once Close waits (see spawn).
	bg         sync.WaitGroup
	bgMu       sync.Mutex
	bgDone     bool
	healthOnce sync.Once

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
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Now == nil {
		o.Now = o.Clock.Now
	}
	for d, def := range map[*time.Duration]time.Duration{&o.StartTimeout: 30 * time.Second, &o.StopTimeout: 10 * time.Second, &o.SendTimeout: 30 * time.Second} {
		if *d <= 0 {
			*d = def
		}
	}
	if o.RestoreConcurrency <= 0 {
		o.RestoreConcurrency = 8
	}
	if h := &o.Health; h.Enabled {
		h.Interval = cmp.Or(h.Interval, 30*time.Second)
		h.UnresponsiveAfter = max(h.UnresponsiveAfter, h.Interval)
		h.PingTimeout = cmp.Or(h.PingTimeout, 10*time.Second)
		h.BackoffBase = cmp.Or(h.BackoffBase, 5*time.Second)
		h.BackoffMax = max(h.BackoffMax, h.BackoffBase)
	}
	fs := make(map[string]provider.Factory, len(factories))
	for _, f := range factories {
		fs[f.Name()] = f
	}
	mt := newMetrics()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{db: db, bus: bus, opts: o, log: o.Logger, factories: fs, lives: make(map[key]*live),
		clock: o.Clock, metrics: mt, pool: newPool(o.Pool, o.Clock, mt), callGrace: defaultCallGrace,
		ctx: ctx, cancel: cancel, envs: make(map[string]*event.Environment, len(fs))}
	for name := range fs {
		m.envs[name] = m.environment(name)
	}
	return m
}

// spawn runs fn in a goroutine that Close waits for. Once Close has begun waiting it
// runs nothing and returns false.
func (m *Manager) spawn(fn func()) bool {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.bgDone {
		return false
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		fn()
	}()
	return true
}

// allLives returns every session, in no order.
func (m *Manager) allLives() []*live {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*live, 0, len(m.lives))
	for _, l := range m.lives {
		out = append(out, l)
	}
	return out
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
	// Metadata is the session's metadata (CheckMetadata's bounds).
	Metadata map[string]string
	// Calls is what the session does with incoming calls (CheckCallSettings).
	Calls *CallSettings
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
	if err := CheckMetadata(in.Metadata); err != nil {
		return Info{}, err
	}
	if len(in.Metadata) == 0 {
		in.Metadata = nil
	}
	if err := CheckCallSettings(in.Calls); err != nil {
		return Info{}, err
	}
	if in.Calls != nil && !in.Calls.Reject {
		in.Calls = nil
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
	rec := Record{Name: in.Name, Provider: in.Provider, Config: in.Config, Fallback: in.Fallback, Metadata: in.Metadata,
		Calls: in.Calls, State: StateStopped, CreatedAt: now, UpdatedAt: now}
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
	m.placementChanged()
	if in.Start {
		// Not published STOPPED first: the first status of a session created to start
		// is STARTING. A start refused before it changed anything (pool full, QR limit)
		// leaves the session STOPPED, which is then told as a create without start is.
		info, err := m.Start(ctx, tenant, in.Name)
		if err != nil {
			l.mu.Lock()
			cur := l.rec
			l.mu.Unlock()
			if cur.State == StateStopped {
				m.publishStatus(l, cur)
			}
		}
		if errors.Is(err, ErrPoolFull) || errors.Is(err, ErrQRLimit) {
			// Created, but not started: the caller starts it later.
			return info, fmt.Errorf("%w: %w", ErrStartFailed, err)
		}
		return info, err
	}
	m.publishStatus(l, rec)
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
//
// Errors besides ErrNotFound: *PoolFullError when the session pool had no live slot
// within sessions.pool.admission_timeout; *QRLimitError when the session is not
// linked and made its hourly cap of pairing attempts; ErrStartFailed (wrapped) when
// the provider failed to start: the session is FAILED with the reason, and the health
// monitor retries it with backoff when the cause may pass.
func (m *Manager) Start(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	if m.remote(l) {
		return m.desire(l, true), nil
	}
	l.resetHealth()
	return m.startLocked(ctx, l, startOpts{})
}

// startOpts qualify a start.
type startOpts struct {
	// reason and message go with the STARTING status.
	reason, message string
	// noWait asks the pool without queueing, and records a refusal (pool full, QR
	// limit) in the session's state: for boot restores and reconnects, which no
	// caller waits for.
	noWait bool
}

func (m *Manager) startLocked(ctx context.Context, l *live, o startOpts) (Info, error) {
	l.mu.Lock()
	cur, running := l.rec, l.rec.State.running() && l.prov != nil
	qerr := m.qrPrecheckLocked(l)
	l.mu.Unlock()
	if running {
		return cur.info(), nil
	}
	f := m.factories[cur.Provider]
	if f == nil {
		return Info{}, fmt.Errorf("%w: %q is not enabled in this gateway", ErrUnknownProvider, cur.Provider)
	}
	if qerr != nil {
		if !o.noWait {
			return cur.info(), qerr
		}
		m.dropProvider(l)
		rec := l.update(func(r *Record) {
			r.State, r.Reason, r.Running = StateFailed, ReasonQRLimit, false
			r.Message = qrAttemptsMessage(qerr.Attempts, qerr.RetryAt)
		})
		m.persistAndPublish(l, rec)
		m.settleSlot(l)
		return rec.info(), qerr
	}
	if err := m.admit(ctx, l, o.noWait); err != nil {
		if !o.noWait || !errors.Is(err, ErrPoolFull) {
			return cur.info(), err
		}
		m.dropProvider(l)
		rec := l.update(func(r *Record) {
			r.State, r.Reason, r.Running = StateFailed, ReasonPoolFull, true
			r.Message = err.Error() + " (retried with backoff)"
		})
		m.persistAndPublish(l, rec)
		m.maybeRetry(l)
		return rec.info(), err
	}
	// A provider that reported FAILED (or LOGGED_OUT) may still hold a connection:
	// stop it, bounded and in the background, before building the next one.
	m.dropProvider(l)
	gen := l.currentGen()
	p, err := f.New(provider.Spec{Tenant: l.tenant, Session: l.name, Config: cur.Config}, l.sink(gen))
	if err != nil {
		rec := l.update(func(r *Record) { r.State, r.Reason, r.Running = StateFailed, "provider_error", false })
		m.persistAndPublish(l, rec)
		m.settleSlot(l)
		return rec.info(), fmt.Errorf("%w: provider_error: building %s provider for session %s: %v", ErrStartFailed, cur.Provider, l.name, err)
	}
	rec := l.update(func(r *Record) {
		r.State, r.Reason, r.Message, r.Running = StateStarting, o.reason, o.message, true
		l.prov, l.last = p, p
	})
	m.persistAndPublish(l, rec)

	err = callProviderErr(m, context.WithoutCancel(ctx), opStart, m.opts.StartTimeout, p.Start)
	if err != nil {
		reason := "start_failed"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "start_timeout"
		}
		m.abandon(l, p, gen)
		rec := l.update(func(r *Record) { r.State, r.Reason = StateFailed, reason })
		m.persistAndPublish(l, rec)
		m.settleSlot(l)
		m.maybeRetry(l)
		m.log.Warn("session start failed", "tenant", l.tenant, "session", l.name, "err", err)
		return rec.info(), fmt.Errorf("%w: %s: %v", ErrStartFailed, reason, err)
	}
	return l.snapshot().info(), nil
}

// ReasonPoolFull is the reason of a session that a boot restore or a reconnect could
// not start because the session pool was full; the health monitor retries it.
const ReasonPoolFull = "pool_full"

// admit gives l a live slot of the pool, if it has none: waiting in the admission
// queue, or, with noWait, only if one is free now.
func (m *Manager) admit(ctx context.Context, l *live, noWait bool) error {
	l.mu.Lock()
	has := l.slot
	l.mu.Unlock()
	if has {
		return nil
	}
	var err error
	if noWait {
		err = m.pool.tryAcquire(l.tenant)
	} else {
		// Close ends the wait too.
		actx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(m.ctx, cancel)
		err = m.pool.acquire(actx, l.tenant)
		stop()
		cancel()
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.slot = true
	l.mu.Unlock()
	return nil
}

// settleSlot makes l hold a live slot exactly when its state wants one (wantsSlot).
// A session that comes back to life by itself (a ban lifted) takes one whatever the
// caps.
func (m *Manager) settleSlot(l *live) {
	l.mu.Lock()
	want, has := m.wantsSlotLocked(l), l.slot
	l.slot = want
	l.mu.Unlock()
	switch {
	case has && !want:
		m.pool.release(l.tenant)
	case !has && want:
		m.pool.force(l.tenant)
	}
}

// wantsSlotLocked: a session is live while it runs, and while it is FAILED for a cause
// the health monitor will retry (its slot is kept for the reconnect). The caller holds
// l.mu.
func (m *Manager) wantsSlotLocked(l *live) bool {
	r := l.rec
	switch {
	case l.deleted:
		return false
	case r.State.running():
		return true
	}
	return r.State == StateFailed && r.Running && r.Reason != ReasonPoolFull && m.retryable(r.Reason) && !l.h.gaveUp
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
	m.stopInBackground(p)
}

// dropProvider lets go of l's provider, if any: reports it makes from now on are
// ignored, and it is stopped in the background, bounded.
func (m *Manager) dropProvider(l *live) {
	l.mu.Lock()
	p := l.prov
	l.prov = nil
	l.gen++
	l.qr = nil
	l.mu.Unlock()
	if p != nil {
		m.stopInBackground(p)
	}
}

// stopInBackground stops p under StopTimeout in a goroutine Close waits for.
func (m *Manager) stopInBackground(p provider.Provider) {
	fn := func() { _ = callProviderErr(m, context.Background(), opStop, m.opts.StopTimeout, p.Stop) }
	if !m.spawn(fn) {
		go fn() // Close is already waiting: still stop it, bounded
	}
}

// Stop stops a session and keeps its link.
func (m *Manager) Stop(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	if m.remote(l) {
		return m.desire(l, false), nil
	}
	l.resetHealth()
	rec := m.stopLocked(ctx, l, stopEnd{})
	m.placementChanged()
	return rec.info(), nil
}

// stopEnd is how a stop leaves the session.
type stopEnd struct {
	// state is StateStopped when empty. A stop that fails leaves a stopped session
	// FAILED stop_timeout or stop_failed instead; other states are kept.
	state           State
	reason, message string
	// keepRunning leaves the operator's intent set (gateway shutdown: the session comes
	// back at the next boot).
	keepRunning bool
}

// stopLocked stops the provider under StopTimeout and records end.
func (m *Manager) stopLocked(ctx context.Context, l *live, end stopEnd) Record {
	l.mu.Lock()
	p := l.prov
	l.prov = nil
	l.gen++ // reports of the old provider are ignored from here on
	l.qr = nil
	l.mu.Unlock()
	state, reason := cmp.Or(end.state, StateStopped), end.reason
	if p != nil {
		err := callProviderErr(m, context.WithoutCancel(ctx), opStop, m.opts.StopTimeout, p.Stop)
		if err != nil {
			m.log.Warn("session stop failed", "tenant", l.tenant, "session", l.name, "err", err)
			if state == StateStopped {
				state, reason = StateFailed, "stop_timeout"
				if !errors.Is(err, context.DeadlineExceeded) {
					reason = "stop_failed"
				}
			}
		}
	}
	rec := l.update(func(r *Record) {
		if r.State == StateLoggedOut && state == StateStopped {
			return // stopping a logged-out session leaves it LOGGED_OUT
		}
		r.State, r.Reason, r.Message = state, reason, end.message
		r.Running = end.keepRunning && r.Running
	})
	m.persistAndPublish(l, rec)
	m.settleSlot(l)
	return rec
}

// Restart stops then starts a session.
func (m *Manager) Restart(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	if m.remote(l) { // no node runs it (another one would have had the request): start it
		return m.desire(l, true), nil
	}
	l.resetHealth()
	m.stopLocked(ctx, l, stopEnd{})
	return m.startLocked(ctx, l, startOpts{})
}

// Logout unlinks the number: the provider forgets its credentials and the session goes
// LOGGED_OUT; start pairs again.
func (m *Manager) Logout(ctx context.Context, tenant, name string) (Info, error) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return Info{}, err
	}
	defer l.release()
	l.resetHealth()
	err = m.logoutLocked(ctx, l)
	m.settleSlot(l)
	if err != nil {
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
	err := callProviderErr(m, context.WithoutCancel(ctx), opLogout, m.opts.StopTimeout, p.Logout)
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
	l.resetHealth()
	if l.snapshot().State.running() {
		m.stopLocked(ctx, l, stopEnd{})
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
		m.settleSlot(l)
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
	m.settleSlot(l)
	m.mu.Lock()
	if m.lives[key{tenant, name}] == l {
		delete(m.lives, key{tenant, name})
	}
	m.mu.Unlock()
	l.close()
	m.placementChanged()
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
	code, err := callProvider(m, ctx, opPairCode, m.opts.SendTimeout, func(ctx context.Context) (string, error) {
		return p.RequestPairingCode(ctx, phone)
	})
	if errors.Is(err, provider.ErrNotPairing) {
		return "", fmt.Errorf("%w: %v", ErrNoQR, err)
	}
	return code, err
}

// Send sends one message through a WORKING session and publishes its "sent" ack. It
// returns *NotWorkingError, without calling the provider, when the session is in any
// other state. The call is bounded by SendTimeout; sends ending by that deadline
// count towards the health monitor's send_timeouts.
func (m *Manager) Send(ctx context.Context, tenant, name string, msg provider.Outbound) (provider.SendResult, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return provider.SendResult{}, err
	}
	l.mu.Lock()
	p, st, gen := l.prov, l.rec.State, l.gen
	l.mu.Unlock()
	if p == nil || st != StateWorking {
		return provider.SendResult{}, &NotWorkingError{State: st}
	}
	if m.remote(l) {
		// The fence of sends: a node whose lease ended (checked against its own clock,
		// so at once after a pause) does not send; the message waits and is handed to
		// the new owner when the session stops here.
		return provider.SendResult{}, &NotWorkingError{State: st, Fenced: true}
	}
	res, err := callProvider(m, ctx, opSend, m.opts.SendTimeout, func(ctx context.Context) (provider.SendResult, error) {
		return p.Send(ctx, msg)
	})
	m.sendOutcome(l, gen, ctx, err)
	if err != nil {
		if ctx.Err() == nil || errors.Is(err, context.DeadlineExceeded) { // not a caller that gave up
			l.mu.Lock()
			l.failLocked(Failure{Kind: FailureSend, Reason: sendReason(err), Message: msg.ID, Detail: err.Error()})
			l.mu.Unlock()
		}
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
	mine, running := rec, l.hasProvider()
	err := m.db.Update(func(txn *badger.Txn) error {
		rec = mine // fn runs again on a conflict
		stored, err := records.Get(txn, l.tenant, l.name)
		if errors.Is(err, store.ErrNotFound) {
			return nil // a deleted session must not be resurrected by a late report
		}
		if err == nil && m.opts.Placement != nil && stored.Version >= rec.Version {
			// Another node wrote the record meanwhile: the node running the session
			// keeps what the session does and takes what it should do; any other
			// node (which only changes what it should do) the other way round.
			if running {
				rec = mergeDesired(rec, stored)
			} else {
				rec = mergeDesired(stored, rec)
			}
		}
		return records.Put(txn, rec, l.tenant, l.name)
	})
	if err != nil {
		m.log.Error("persisting session state", "tenant", l.tenant, "session", l.name, "err", err)
		return
	}
	if rec.Version != mine.Version {
		l.mu.Lock()
		if l.rec.Version <= rec.Version {
			if running {
				l.rec = mergeDesired(l.rec, rec)
				l.rec.Version = rec.Version
			} else {
				l.rec = rec
			}
		}
		l.mu.Unlock()
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
	Status State  `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Message explains the reason and what to do (health monitor, QR limiter, causes
	// that are not retried).
	Message string            `json:"message,omitempty"`
	Me      *provider.Account `json:"me,omitempty"`
}

// QRPayload is the payload of session.qr.
type QRPayload struct {
	QR        string    `json:"qr"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// AckPayload is the payload of message.ack: our status and WAHA's ack number and name
// (NewAckPayload maps them; docs/api.md, "message.ack").
type AckPayload struct {
	// ID is the gateway's message id. Acks of messages sent outside the API (from the
	// phone) are not published yet.
	ID         string `json:"id"`
	ProviderID string `json:"providerId"`
	ChatID     string `json:"chatId"`
	// Status is the message's status: queued, sending, sent, delivered, read, played
	// or failed (GET /api/messages/{id} shows the same).
	Status string `json:"status"`
	// Ack is WAHA's WAMessageAck of Status: -1 ERROR, 0 PENDING, 1 SERVER, 2 DEVICE,
	// 3 READ, 4 PLAYED; AckName its name.
	Ack     int    `json:"ack"`
	AckName string `json:"ackName"`
	Error   string `json:"error,omitempty"`
}

// MessagePayload is the payload of message.
type MessagePayload struct {
	ID     string `json:"id"`
	ChatID string `json:"chatId"`
	From   string `json:"from"`
	// Participant is the author of a message in a group (chatId and from are the
	// group), as WAHA's; absent in a user chat.
	Participant string        `json:"participant,omitempty"`
	FromMe      bool          `json:"fromMe"`
	Type        provider.Kind `json:"type"`
	// Body is the text, or the caption of media.
	Body      string `json:"body"`
	Timestamp int64  `json:"timestamp"`
	// Media, Location, Contacts and Reaction are set for those kinds (media without
	// its bytes).
	Media    *provider.Media    `json:"media,omitempty"`
	Location *provider.Location `json:"location,omitempty"`
	Contacts []provider.Contact `json:"contacts,omitempty"`
	Reaction *ReactionPayload   `json:"reaction,omitempty"`
	Poll     *provider.Poll     `json:"poll,omitempty"`
	// Event is the invite of an event message.
	Event *provider.EventInvite `json:"event,omitempty"`
	// Mentions are the users the message mentions.
	Mentions []chatid.ID `json:"mentions,omitempty"`
	// Target is the provider id of the message an edit or revoke is about.
	Target string `json:"target,omitempty"`
	// Preview is the link preview card the message shows, when it has one.
	Preview *provider.LinkPreview `json:"preview,omitempty"`
}

// ReactionPayload is WAHA's WAReaction: the emoji (text; "" when the reaction was
// removed) and the message reacted to.
type ReactionPayload struct {
	Text      string `json:"text"`
	MessageID string `json:"messageId"`
}

// EditedPayload is the payload of message.edited (WAHA's WAMessageEditedBody): the
// edit as a message whose body is the new text, and the id of the message edited.
type EditedPayload struct {
	MessagePayload
	EditedMessageID string `json:"editedMessageId"`
}

// RevokedPayload is the payload of message.revoked (WAHA's WAMessageRevokedBody): the
// id of the message deleted, the revoke itself as a message (after), and the message
// as it was (before: null, the gateway does not keep inbound messages' content here).
type RevokedPayload struct {
	RevokedMessageID string          `json:"revokedMessageId"`
	After            *MessagePayload `json:"after"`
	Before           *MessagePayload `json:"before"`
}

// NewMessagePayload is the payload of message (and message.any) for msg.
func NewMessagePayload(msg provider.Inbound) MessagePayload {
	p := MessagePayload{ID: msg.ProviderID, ChatID: msg.ChatID.String(),
		From: msg.From.String(), Participant: participantOf(msg), FromMe: msg.FromMe, Type: msg.Kind, Body: msg.Text,
		Timestamp: msg.Timestamp.UnixMilli(), Media: msg.Media, Location: msg.Location,
		Contacts: msg.Contacts, Poll: msg.Poll, Event: msg.Event, Mentions: msg.Mentions, Target: msg.Target, Preview: msg.Preview}
	if r := msg.Reaction; r != nil {
		p.Reaction = &ReactionPayload{Text: r.Emoji, MessageID: r.MessageID}
	}
	return p
}

func (m *Manager) publishStatus(l *live, rec Record) {
	m.publish(l, event.SessionStatus, StatusPayload{Status: rec.State, Reason: rec.Reason, Message: rec.Message, Me: rec.Me})
	if m.opts.OnStatus != nil {
		m.opts.OnStatus(l.tenant, l.name, rec.State)
	}
}

func (m *Manager) publishAck(l *live, msgID string, a provider.AckEvent) {
	m.publish(l, event.MessageAck, NewAckPayload(msgID, a.ProviderID, a.ChatID.String(), string(a.Ack), a.Error))
	if m.opts.OnAck != nil && msgID != "" {
		m.opts.OnAck(l.tenant, l.name, msgID, a.Ack, a.Error)
	}
}

func (m *Manager) publish(l *live, name string, payload any) {
	env := event.New(name, l.tenant, l.name, payload)
	l.stampEnvelope(&env)
	m.bus.Publish(env)
}
