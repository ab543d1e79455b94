package event

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/core/ids"
)

// Errors a subscription ends with.
var (
	// ErrSlowSubscriber: the subscriber's buffer filled up and it was dropped.
	ErrSlowSubscriber = errors.New("subscriber too slow: buffer full, events dropped")
	// ErrTooManySubscribers: Subscribe refused because the bus is at its subscriber limit.
	ErrTooManySubscribers = errors.New("too many subscribers")
	// ErrBusClosed: the bus shut down (gateway stopping).
	ErrBusClosed = errors.New("event bus closed")
	// ErrRevoked: the subscriber's API key was revoked or its tenant deleted.
	ErrRevoked = errors.New("subscriber's key revoked or tenant deleted")
)

// NewID returns a fresh event id.
func NewID() string { return ids.New(ids.Event) }

// Filter selects the events a subscriber receives. Zero fields match everything, except
// Tenant: a subscription always names its tenant, unless AllTenants is set (admin use).
type Filter struct {
	Tenant     string
	AllTenants bool
	// Sessions, when non-empty, keeps only events of these sessions.
	Sessions []string
	// Events, when non-empty, keeps only these names; "message.*" matches "message.ack"
	// and "message" itself; "*" matches all.
	Events []string
	// KeyID is the API key that opened the subscription (not used for matching):
	// Revoke ends the subscriptions of a revoked key.
	KeyID string
}

// Match reports whether the filter selects env.
func (f Filter) Match(env *Envelope) bool {
	if !f.AllTenants && env.Tenant != f.Tenant {
		return false
	}
	if len(f.Sessions) > 0 && !contains(f.Sessions, env.Session) {
		return false
	}
	if len(f.Events) == 0 {
		return true
	}
	for _, p := range f.Events {
		if MatchName(p, env.Event) {
			return true
		}
	}
	return false
}

// MatchName reports whether the event name matches pattern: an exact name, "*", or a
// prefix wildcard "a.*" (which also matches "a").
func MatchName(pattern, name string) bool {
	if pattern == "*" || pattern == name {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, ".*"); ok {
		return name == base || strings.HasPrefix(name, base+".")
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Options configure a Bus.
type Options struct {
	// MaxSubscribers bounds concurrent subscriptions; 0 means 1000.
	MaxSubscribers int
	// Buffer is the per-subscriber buffer; 0 means 256.
	Buffer int
	// Registerer receives the bus metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Bus fans events out to subscribers. The zero value is not usable; call NewBus.
type Bus struct {
	max    int
	buffer int

	mu     sync.RWMutex
	subs   map[*Subscription]struct{}
	closed bool

	tap   atomic.Pointer[func(Envelope)]
	stamp atomic.Pointer[func(Envelope) Envelope]

	published   *prometheus.CounterVec
	dropped     prometheus.Counter
	subscribers prometheus.Gauge
}

// NewBus returns a bus with the given bounds.
func NewBus(o Options) *Bus {
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = 1000
	}
	if o.Buffer <= 0 {
		o.Buffer = 256
	}
	b := &Bus{
		max:    o.MaxSubscribers,
		buffer: o.Buffer,
		subs:   make(map[*Subscription]struct{}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "events", Name: "published_total",
			Help: "Events published on the bus, by event name.",
		}, []string{"event"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "events", Name: "slow_subscribers_dropped_total",
			Help: "Subscribers dropped because their buffer was full.",
		}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "events", Name: "subscribers",
			Help: "Current SSE and WebSocket subscribers.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(b.published, b.dropped, b.subscribers)
	}
	return b
}

// Subscribe registers a subscriber. Close it when done.
func (b *Bus) Subscribe(f Filter) (*Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBusClosed
	}
	if len(b.subs) >= b.max {
		return nil, ErrTooManySubscribers
	}
	s := &Subscription{bus: b, filter: f, ch: make(chan Envelope, b.buffer)}
	b.subs[s] = struct{}{}
	b.subscribers.Set(float64(len(b.subs)))
	return s, nil
}

// SetTap installs fn, which Publish calls synchronously with every event before fanning
// it out: the webhook outbox's entrance. Unlike a subscriber it sees every event and
// may block the publisher (backpressure) but never drops one. nil removes it.
func (b *Bus) SetTap(fn func(Envelope)) {
	if fn == nil {
		b.tap.Store(nil)
		return
	}
	b.tap.Store(&fn)
}

// SetStamp sets fn to fill the session context (Me, Engine, Environment, Metadata) of
// every published event that names a session and has no Engine yet: Publish sends what
// fn returns; nil removes it. fn runs on the publisher's goroutine for every such
// event: it must be cheap and must not publish. (It takes and returns the envelope by
// value: a pointer to Publish's argument would move every envelope to the heap.)
func (b *Bus) SetStamp(fn func(Envelope) Envelope) {
	if fn == nil {
		b.stamp.Store(nil)
		return
	}
	b.stamp.Store(&fn)
}

// Publish stamps env (SetStamp), hands it to the tap, then to every matching
// subscriber without blocking.
func (b *Bus) Publish(env Envelope) {
	if stamp := b.stamp.Load(); stamp != nil && env.Session != "" && env.Engine == "" {
		env = (*stamp)(env)
	}
	b.published.WithLabelValues(env.Event).Inc()
	if tap := b.tap.Load(); tap != nil {
		(*tap)(env)
	}
	b.fanout(env)
}

// Deliver hands env, an event another node published (cluster mode, core/cluster/
// eventfan), to the matching subscribers only: it was stamped and handed to the webhook
// outbox where it happened, so neither the stamp nor the tap runs again here.
func (b *Bus) Deliver(env Envelope) {
	b.fanout(env)
}

func (b *Bus) fanout(env Envelope) {
	var slow []*Subscription
	b.mu.RLock()
	for s := range b.subs {
		if s.filter.Match(&env) && !s.offer(env) {
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range slow {
		b.dropped.Inc()
		s.end(ErrSlowSubscriber)
	}
}

// Close ends every subscription with ErrBusClosed and refuses new ones.
func (b *Bus) Close() {
	b.mu.Lock()
	b.closed = true
	subs := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.end(ErrBusClosed)
	}
}

// Revoke ends, with ErrRevoked, every subscription of tenant opened with keyID, or all
// of the tenant's subscriptions when keyID is "" (tenant deleted). A subscription must
// not outlive the right that opened it.
func (b *Bus) Revoke(tenant, keyID string) {
	b.mu.RLock()
	var ended []*Subscription
	for s := range b.subs {
		if s.filter.Tenant == tenant && (keyID == "" || s.filter.KeyID == keyID) {
			ended = append(ended, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range ended {
		s.end(ErrRevoked)
	}
}

// Subscribers returns the current number of subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}

func (b *Bus) remove(s *Subscription) {
	b.mu.Lock()
	delete(b.subs, s)
	b.subscribers.Set(float64(len(b.subs)))
	b.mu.Unlock()
}

// Subscription is one subscriber's view of the bus.
type Subscription struct {
	bus    *Bus
	filter Filter

	mu   sync.Mutex
	ch   chan Envelope
	done bool
	err  error
}

// C returns the channel of events. It is closed when the subscription ends; Err says why.
func (s *Subscription) C() <-chan Envelope { return s.ch }

// Err returns why the subscription ended: ErrSlowSubscriber, ErrBusClosed, or nil when
// it was closed by its owner or is still open.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription. Safe to call more than once.
func (s *Subscription) Close() { s.end(nil) }

// offer sends env without blocking; false means the buffer is full.
func (s *Subscription) offer(env Envelope) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return true
	}
	select {
	case s.ch <- env:
		return true
	default:
		return false
	}
}

func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done, s.err = true, err
	close(s.ch)
	s.mu.Unlock()
	s.bus.remove(s)
}
