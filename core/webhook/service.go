package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/coalesce"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/store"
)

var (
	endpoints  = store.Table[Endpoint]{Prefix: store.PrefixWebhookEndpoint, Codec: store.JSONCodec[Endpoint]{}}
	deliveries = store.Table[Delivery]{Prefix: store.PrefixWebhookDelivery, Codec: store.JSONCodec[Delivery]{}}
	pendings   = store.Table[pendingEntry]{Prefix: store.PrefixWebhookPending, Codec: store.JSONCodec[pendingEntry]{}}
)

// Transform rewrites or drops an event before it is written to a tenant's outbox (the
// tenant's transform policy chain). keep false drops it for every endpoint.
type Transform func(ctx context.Context, tenant string, env event.Envelope) (out event.Envelope, keep bool)

// Deps are what the service uses from the rest of the gateway.
type Deps struct {
	DB *store.DB
	// Publish announces the service's own events (webhook.disabled); nil publishes
	// nothing.
	Publish func(event.Envelope)
	// Transform, nil for none, runs before an event is stored and signed.
	Transform Transform
	Logger    *slog.Logger
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Service owns the tenants' endpoints, the outbox and the deliverers. Create it with
// New, feed it every event through Tap (the bus's tap), and Close it on shutdown;
// pending deliveries stay in the store and resume at the next New.
type Service struct {
	o       Options
	d       Deps
	log     *slog.Logger
	client  *fasthttp.Client
	metrics *metrics

	in   chan event.Envelope // events to write to the outbox
	recs chan *recordOp      // attempt outcomes to write (recorder)
	// recStop stops the recorder, after the workers (whose attempts it serves).
	recStop, recDone chan struct{}
	sem              chan struct{} // deliveries in flight, all endpoints
	stop             chan struct{}
	wg               sync.WaitGroup // writer, workers, sweeper
	shut             atomic.Bool
	paused           atomic.Bool // Options.Paused until Resume

	mu      sync.RWMutex // guards tenants and every endpoint in it
	tenants map[string]map[string]*endpointState

	forget *coalesce.Worker[[2]string, struct{}] // endpoints another node changed, to reload (forget.go)
}

// endpointState is an endpoint in memory: its record (the stored copy, kept in step)
// and, while it is enabled, its worker.
type endpointState struct {
	ep     Endpoint
	tenant string
	w      *worker
}

// New loads every endpoint, starts the outbox writer and a worker per enabled endpoint.
func New(d Deps, o Options) (*Service, error) {
	o.defaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		o: o, d: d, log: d.Logger,
		in:      make(chan event.Envelope, o.Buffer),
		recs:    make(chan *recordOp, 256),
		recStop: make(chan struct{}),
		recDone: make(chan struct{}),
		sem:     make(chan struct{}, o.MaxConcurrent),
		stop:    make(chan struct{}),
		tenants: map[string]map[string]*endpointState{},
		metrics: newMetrics(d.Registerer),
		client: &fasthttp.Client{
			Name:                     "wagate-webhooks/1",
			Dial:                     o.URLPolicy.Dial,
			MaxConnsPerHost:          max(o.MaxInFlightPerEndpoint*4, 16),
			ReadTimeout:              o.Timeout,
			WriteTimeout:             o.Timeout,
			MaxIdleConnDuration:      time.Minute,
			MaxResponseBodySize:      o.MaxResponseBytes,
			DisablePathNormalizing:   true,
			NoDefaultUserAgentHeader: false,
		},
	}
	s.forget = coalesce.New(s.reloadOne)

	s.paused.Store(o.Paused)
	err := d.DB.View(func(txn *badger.Txn) error {
		return endpoints.Scan(txn, func(rest []string, ep Endpoint) error {
			s.put(rest[0], ep)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("webhook: loading endpoints: %w", err)
	}
	s.mu.Lock()
	for _, eps := range s.tenants {
		for _, st := range eps {
			s.startLocked(st)
			s.metrics.endpoints.Inc()
		}
	}
	s.mu.Unlock()
	s.wg.Add(2)
	go s.writer()
	go s.sweeper()
	go s.recorder()
	return s, nil
}

// Close stops accepting events, writes those already handed over, waits for the
// deliveries in flight (each bounded by Options.Timeout) and stops the workers.
func (s *Service) Close() {
	if s.shut.Swap(true) {
		return
	}
	close(s.stop)
	s.forget.Close() // later Forgets are no-ops; the reload under way finishes
	s.mu.Lock()
	for _, eps := range s.tenants {
		for _, st := range eps {
			s.stopLocked(st)
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	close(s.recStop)
	<-s.recDone
}

// Paused reports whether deliveries are paused (Options.Paused, until Resume).
func (s *Service) Paused() bool { return s.paused.Load() }

// Resume starts the deliveries of a service created paused, and reports whether it
// was paused. The outbox written meanwhile is delivered in order.
func (s *Service) Resume() bool {
	if !s.paused.Swap(false) {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, eps := range s.tenants {
		for _, st := range eps {
			if st.w != nil {
				st.w.kick()
			}
		}
	}
	return true
}

// put records ep in memory (no worker change). Callers hold s.mu or own s alone.
func (s *Service) put(tenant string, ep Endpoint) *endpointState {
	eps := s.tenants[tenant]
	if eps == nil {
		eps = map[string]*endpointState{}
		s.tenants[tenant] = eps
	}
	st := eps[ep.ID]
	if st == nil {
		st = &endpointState{tenant: tenant}
		eps[ep.ID] = st
	}
	st.ep = ep
	return st
}

// startLocked starts st's worker if it is enabled and has none.
func (s *Service) startLocked(st *endpointState) {
	if st.ep.Enabled && st.w == nil && !s.shut.Load() {
		st.w = newWorker(s, st.tenant, st.ep.ID)
		s.wg.Add(1)
		go st.w.run()
	}
}

// stopLocked tells st's worker to stop (it finishes its deliveries in flight).
func (s *Service) stopLocked(st *endpointState) {
	if st.w != nil {
		st.w.quit()
		st.w = nil
	}
}

// endpoint returns a copy of an endpoint in memory.
func (s *Service) endpoint(tenant, id string) (Endpoint, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.tenants[tenant][id]
	if st == nil {
		return Endpoint{}, false
	}
	return st.ep, true
}

// Input is what a tenant sets on an endpoint (create and full replace).
type Input struct {
	URL          string
	Events       []string
	Sessions     []string
	Headers      map[string]string
	Description  string
	Enabled      bool
	Unordered    bool
	RetryHorizon time.Duration
	WAHAHmacKey  string
	// Secret, when set on create, is used instead of a generated one (migrations from
	// another gateway); it must be a valid "whsec_" secret.
	Secret string
}

// reservedHeaders cannot be set as custom headers: they carry the signature, or
// belong to the transport.
var reservedHeaders = []string{
	HeaderID, HeaderTimestamp, HeaderSignature, HeaderWAHAHmac, HeaderWAHAHmacAlgorithm,
	"content-type", "content-length", "host", "transfer-encoding", "connection",
}

// Validate checks an endpoint's settings as Create would, URL policy included.
func (s *Service) Validate(ctx context.Context, in Input) error { return s.validate(ctx, in) }

// validate checks in.
func (s *Service) validate(ctx context.Context, in Input) error {
	if _, err := s.o.URLPolicy.Check(ctx, in.URL); err != nil {
		return err
	}
	if len(in.Events) == 0 {
		return &FieldError{"events", `at least one event name or pattern is required, e.g. ["message", "message.*"] or ["*"]`}
	}
	if len(in.Events) > 50 {
		return &FieldError{"events", "at most 50 patterns"}
	}
	for _, e := range in.Events {
		if !validPattern(e) {
			return &FieldError{"events", fmt.Sprintf("%q is not an event name or pattern (lowercase dotted names, '*' as the last part)", e)}
		}
	}
	if len(in.Sessions) > 100 {
		return &FieldError{"sessions", "at most 100 sessions"}
	}
	for _, name := range in.Sessions {
		if name == "" || len(name) > 64 {
			return &FieldError{"sessions", fmt.Sprintf("%q is not a session name", name)}
		}
	}
	if len(in.Headers) > 20 {
		return &FieldError{"headers", "at most 20 custom headers"}
	}
	for k, v := range in.Headers {
		if !validHeaderName(k) || len(v) > 4096 || strings.ContainsAny(v, "\r\n\x00") {
			return &FieldError{"headers", fmt.Sprintf("%q is not a valid header name and value", k)}
		}
		if slices.Contains(reservedHeaders, strings.ToLower(k)) {
			return &FieldError{"headers", fmt.Sprintf("%s is set by the gateway and cannot be overridden", k)}
		}
	}
	if len(in.Description) > 500 {
		return &FieldError{"description", "at most 500 characters"}
	}
	if in.RetryHorizon < 0 || in.RetryHorizon > 7*24*time.Hour {
		return &FieldError{"retryHorizon", "between 0 (the gateway's default) and 168h"}
	}
	if len(in.WAHAHmacKey) > 256 {
		return &FieldError{"wahaHmacKey", "at most 256 characters"}
	}
	if in.Secret != "" && !ValidSecret(in.Secret) {
		return &FieldError{"secret", `must be "whsec_" followed by the base64 of 24 to 64 bytes`}
	}
	return nil
}

func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	if p == "" || len(p) > 64 {
		return false
	}
	parts := strings.Split(p, ".")
	for i, part := range parts {
		if part == "*" && i == len(parts)-1 && i > 0 {
			continue
		}
		if part == "" {
			return false
		}
		for _, r := range part {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
				return false
			}
		}
	}
	return true
}

func validHeaderName(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for _, r := range k {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// Create adds an endpoint with a fresh secret (returned in the endpoint).
func (s *Service) Create(ctx context.Context, tenant string, in Input) (Endpoint, error) {
	if err := s.validate(ctx, in); err != nil {
		return Endpoint{}, err
	}
	return s.create(ctx, tenant, in, "")
}

// create adds a validated endpoint, owned by session when not "".
func (s *Service) create(ctx context.Context, tenant string, in Input, session string) (Endpoint, error) {
	now := s.o.Now().UTC()
	ep := Endpoint{ID: ids.New(ids.Webhook), CreatedAt: now, UpdatedAt: now, Secret: in.Secret, Session: session}
	if ep.Secret == "" {
		ep.Secret = NewSecret()
	}
	apply(&ep, in)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut.Load() {
		return Endpoint{}, ErrClosed
	}
	if n := len(s.tenants[tenant]); n >= s.o.MaxPerTenant {
		return Endpoint{}, fmt.Errorf("%w: the limit is %d per tenant", ErrTooMany, s.o.MaxPerTenant)
	}
	if err := s.d.DB.Update(func(txn *badger.Txn) error { return endpoints.Put(txn, ep, tenant, ep.ID) }); err != nil {
		return Endpoint{}, err
	}
	s.startLocked(s.put(tenant, ep))
	s.metrics.endpoints.Inc()
	return ep, nil
}

func apply(ep *Endpoint, in Input) {
	ep.URL, ep.Events, ep.Sessions, ep.Headers = in.URL, in.Events, in.Sessions, in.Headers
	ep.Description, ep.Enabled, ep.Unordered = in.Description, in.Enabled, in.Unordered
	ep.RetryHorizon, ep.WAHAHmacKey = in.RetryHorizon, in.WAHAHmacKey
	if in.Enabled {
		ep.DisabledReason, ep.FailingSince = "", nil
	}
}

// Get returns an endpoint of the tenant.
func (s *Service) Get(tenant, id string) (Endpoint, error) {
	ep, ok := s.endpoint(tenant, id)
	if !ok {
		return Endpoint{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return ep, nil
}

// List returns the tenant's endpoints, oldest first.
func (s *Service) List(tenant string) []Endpoint {
	s.mu.RLock()
	out := make([]Endpoint, 0, len(s.tenants[tenant]))
	for _, st := range s.tenants[tenant] {
		out = append(out, st.ep)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Endpoint) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// ErrSessionOwned: the endpoint belongs to a session's config; change that instead.
var ErrSessionOwned = errors.New("webhook is declared in a session's config")

// Update replaces an endpoint's settings (secrets are kept; see RotateSecret).
// Enabling an endpoint the gateway disabled clears the reason and the failure run.
// Endpoints declared in a session's config are changed through the session.
func (s *Service) Update(ctx context.Context, tenant, id string, in Input) (Endpoint, error) {
	if ep, ok := s.endpoint(tenant, id); ok && ep.Session != "" {
		return Endpoint{}, fmt.Errorf("%w %s: update the session", ErrSessionOwned, ep.Session)
	}
	if in.Secret != "" {
		return Endpoint{}, &FieldError{"secret", "cannot be changed by an update; use rotate-secret"}
	}
	if err := s.validate(ctx, in); err != nil {
		return Endpoint{}, err
	}
	return s.modify(tenant, id, func(ep *Endpoint) { apply(ep, in) })
}

// RotateSecret gives the endpoint a new secret (or the one given); the old one keeps
// signing, beside the new one, for grace.
func (s *Service) RotateSecret(tenant, id, secret string, grace time.Duration) (Endpoint, error) {
	if secret != "" && !ValidSecret(secret) {
		return Endpoint{}, &FieldError{"secret", `must be "whsec_" followed by the base64 of 24 to 64 bytes`}
	}
	if grace < 0 || grace > 7*24*time.Hour {
		return Endpoint{}, &FieldError{"gracePeriod", "between 0 and 168h"}
	}
	if secret == "" {
		secret = NewSecret()
	}
	now := s.o.Now().UTC()
	return s.modify(tenant, id, func(ep *Endpoint) {
		ep.PreviousSecret, ep.PreviousUntil = ep.Secret, now.Add(grace)
		if grace == 0 {
			ep.PreviousSecret, ep.PreviousUntil = "", time.Time{}
		}
		ep.Secret = secret
	})
}

// modify changes an endpoint in the store and in memory, and starts or stops its
// worker to match Enabled.
func (s *Service) modify(tenant, id string, fn func(ep *Endpoint)) (Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.tenants[tenant][id]
	if st == nil {
		return Endpoint{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	ep := st.ep
	ep.Events = slices.Clone(ep.Events)
	fn(&ep)
	ep.UpdatedAt = s.o.Now().UTC()
	if err := s.d.DB.Update(func(txn *badger.Txn) error { return endpoints.Put(txn, ep, tenant, id) }); err != nil {
		return Endpoint{}, err
	}
	st.ep = ep
	if ep.Enabled {
		s.startLocked(st)
		if st.w != nil {
			st.w.kick()
		}
	} else {
		s.stopLocked(st)
	}
	return ep, nil
}

// Delete removes an endpoint with its outbox and delivery log.
func (s *Service) Delete(tenant, id string) error {
	s.mu.Lock()
	st := s.tenants[tenant][id]
	if st == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	w := st.w
	s.stopLocked(st)
	delete(s.tenants[tenant], id)
	if len(s.tenants[tenant]) == 0 {
		delete(s.tenants, tenant)
	}
	s.mu.Unlock()
	s.metrics.endpoints.Dec()
	if w != nil {
		<-w.done // no delivery of it writes after the delete
	}
	if err := s.d.DB.Update(func(txn *badger.Txn) error { return endpoints.Delete(txn, tenant, id) }); err != nil {
		return err
	}
	if err := s.d.DB.DeletePrefix(store.ScanPrefix(store.PrefixWebhookPending, tenant, id)); err != nil {
		return err
	}
	return s.d.DB.DeletePrefix(store.ScanPrefix(store.PrefixWebhookDelivery, tenant, id))
}

// SetSessionWebhooks makes the endpoints declared in a session's config (WAHA style)
// exactly ins: endpoints of the session whose URL is still listed are updated in place
// (keeping their secret and pending deliveries), new URLs are created, the others are
// deleted. Each is limited to the session's events. nil deletes them all (the session
// was deleted). Every input is validated before anything changes.
func (s *Service) SetSessionWebhooks(ctx context.Context, tenant, session string, ins []Input) error {
	byURL := map[string]Input{}
	for i := range ins {
		ins[i].Sessions = []string{session}
		if err := s.validate(ctx, ins[i]); err != nil {
			return fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		if _, dup := byURL[ins[i].URL]; dup {
			return &FieldError{fmt.Sprintf("webhooks[%d].url", i), "listed twice"}
		}
		byURL[ins[i].URL] = ins[i]
	}
	s.mu.RLock()
	owned := map[string]string{} // url -> id
	total := len(s.tenants[tenant])
	for id, st := range s.tenants[tenant] {
		if st.ep.Session == session {
			owned[st.ep.URL] = id
		}
	}
	s.mu.RUnlock()
	added := 0
	for url := range byURL {
		if _, ok := owned[url]; !ok {
			added++
		}
	}
	removed := 0
	for url := range owned {
		if _, ok := byURL[url]; !ok {
			removed++
		}
	}
	if total-removed+added > s.o.MaxPerTenant {
		return fmt.Errorf("%w: the limit is %d per tenant", ErrTooMany, s.o.MaxPerTenant)
	}
	for url, id := range owned {
		if _, keep := byURL[url]; !keep {
			if err := s.Delete(tenant, id); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	for url, in := range byURL {
		if id, ok := owned[url]; ok {
			if _, err := s.modify(tenant, id, func(ep *Endpoint) { apply(ep, in) }); err != nil {
				return err
			}
			continue
		}
		in.Secret = ""
		if _, err := s.create(ctx, tenant, in, session); err != nil {
			return err
		}
	}
	return nil
}

// DeleteTenant forgets a tenant's endpoints in memory and stops their workers; the
// store's tenant delete removes their keys.
func (s *Service) DeleteTenant(tenant string) {
	s.mu.Lock()
	var ws []*worker
	for _, st := range s.tenants[tenant] {
		if st.w != nil {
			ws = append(ws, st.w)
		}
		s.stopLocked(st)
		s.metrics.endpoints.Dec()
	}
	delete(s.tenants, tenant)
	s.mu.Unlock()
	for _, w := range ws {
		<-w.done
	}
}

// failed records a failed attempt on the endpoint's health: it starts the failure run,
// or disables the endpoint when the run has lasted Options.DisableAfter.
func (s *Service) failed(tenant, id string, now time.Time, why string) {
	s.mu.RLock()
	st := s.tenants[tenant][id]
	var since *time.Time
	if st != nil {
		since = st.ep.FailingSince
	}
	s.mu.RUnlock()
	switch {
	case st == nil:
		return
	case since == nil:
		t := now.UTC()
		s.modify(tenant, id, func(ep *Endpoint) {
			if ep.FailingSince == nil {
				ep.FailingSince = &t
			}
		})
	case now.Sub(*since) >= s.o.DisableAfter:
		reason := fmt.Sprintf("every delivery attempt failed since %s (more than %s); last error: %s",
			since.Format(time.RFC3339), s.o.DisableAfter, why)
		ep, err := s.modify(tenant, id, func(ep *Endpoint) {
			ep.Enabled, ep.DisabledReason = false, reason
		})
		if err != nil {
			return
		}
		s.metrics.disabled.Inc()
		s.log.Warn("webhook endpoint disabled", "tenant", tenant, "endpoint", id, "reason", reason)
		if s.d.Publish != nil {
			s.d.Publish(event.New(EventDisabled, tenant, "", disabledPayload{ID: ep.ID, URL: ep.URL, Reason: reason}))
		}
	}
}

// succeeded ends the endpoint's failure run, if any.
func (s *Service) succeeded(tenant, id string) {
	s.mu.RLock()
	st := s.tenants[tenant][id]
	failing := st != nil && st.ep.FailingSince != nil
	s.mu.RUnlock()
	if failing {
		s.modify(tenant, id, func(ep *Endpoint) { ep.FailingSince = nil })
	}
}

// EventDisabled is published when the gateway disables a failing endpoint.
const EventDisabled = "webhook.disabled"

type disabledPayload struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Reason string `json:"reason"`
}

// matches reports whether env goes to ep.
func matches(ep *Endpoint, env *event.Envelope) bool {
	if !ep.Enabled {
		return false
	}
	if len(ep.Sessions) > 0 && !slices.Contains(ep.Sessions, env.Session) {
		return false
	}
	// An endpoint is never sent news of its own disabling: it is disabled.
	for _, p := range ep.Events {
		if event.MatchName(p, env.Event) {
			return true
		}
	}
	return false
}

// statusText is a short text for an HTTP status in logs.
func statusText(code int) string { return fmt.Sprintf("HTTP %d %s", code, http.StatusText(code)) }

// errStop ends a scan early.
var errStop = errors.New("stop")
