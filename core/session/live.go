package session

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
)

// live is the in-memory side of one session.
//
// Locks: ops (one lifecycle operation at a time; a channel so waiting respects ctx),
// then mu (the fields below). Provider reports are queued by the sink (which never
// blocks) and applied in order by the session's own goroutine (loop), so a provider
// never waits on our disk writes.
type live struct {
	m      *Manager
	tenant string
	name   string
	ops    chan struct{}

	mu   sync.Mutex
	rec  Record
	prov provider.Provider
	// gen numbers the provider instances; reports carrying an older gen are ignored,
	// so nothing a stopped provider says can change the session.
	gen uint64
	qr  *QR
	// last is the last provider instance, kept after stop or logout so that Delete can
	// release it (provider.Closer).
	last provider.Provider
	// deleted is set by Delete; acquire refuses from then on.
	deleted bool
	// slot is set while the session holds a live slot of the pool (pool.go).
	slot bool
	// h is the health monitor's view of the session (health.go).
	h healthState
	// qrl is the QR limiter's view of the session (qrlimit.go).
	qrl qrState
	// fails are the session's recent failures, oldest first (healthview.go).
	fails []Failure

	// pmu serializes persisting and publishing, so that the store always ends with the
	// newest record and status events never go backwards (see Manager.persistAndPublish).
	pmu              sync.Mutex
	persistedVersion uint64
	publishedVersion uint64

	acks  ackIndex
	inbox inbox
	// presence is the last presence known of each chat (presence.go).
	presence presenceCache
	done     chan struct{}

	// envCtx is what the session's events carry of it (stamp.go).
	envCtx atomic.Pointer[envContext]
}

func newLive(m *Manager, tenant string, rec Record) *live {
	l := &live{m: m, tenant: tenant, name: rec.Name, ops: make(chan struct{}, 1), rec: rec,
		done: make(chan struct{}), persistedVersion: rec.Version}
	now := m.clock.Now()
	l.h.lastAlive, l.h.since = now, now
	l.envCtx.Store(m.newEnvContext(rec))
	l.inbox.init()
	l.inbox.onDrop = func() {
		// Logged for the first drop and every 1000th after, so a flood cannot flood logs.
		if n := m.dropped.Add(1); n%1000 == 1 {
			m.log.Warn("provider reports dropped: session inbox full", "tenant", tenant, "session", rec.Name, "dropped_total", n)
		}
	}
	go l.loop()
	return l
}

// acquire takes the lifecycle semaphore. A session deleted while the caller waited is
// not found: nothing may run on it after Delete.
func (l *live) acquire(ctx context.Context) error {
	select {
	case l.ops <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.mu.Lock()
	deleted := l.deleted
	l.mu.Unlock()
	if deleted {
		<-l.ops
		return fmt.Errorf("%w: %s", ErrNotFound, l.name)
	}
	return nil
}

func (l *live) release() { <-l.ops }

func (l *live) snapshot() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec
}

// update applies fn to the record under the lock, stamps it, and returns a copy. A
// message fn leaves unchanged goes when the state or reason changes: it explained the
// old one.
func (l *live) update(fn func(r *Record)) Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.rec
	fn(&l.rec)
	l.stampLocked(old)
	return l.rec
}

// stampLocked finishes a change of the record from old: the message rule of update,
// the time of the last state change (health monitor), the version and time.
func (l *live) stampLocked(old Record) {
	r := &l.rec
	if (r.State != old.State || r.Reason != old.Reason) && r.Message == old.Message {
		r.Message = ""
	}
	if r.State != old.State {
		l.h.since = l.m.clock.Now()
	}
	if (r.State != old.State || r.Reason != old.Reason) && (r.State == StateFailed || r.State == StateLoggedOut ||
		r.Reason == ReasonUnresponsive && r.State == StateStarting) {
		l.failLocked(Failure{Kind: FailureSession, Reason: r.Reason, Detail: r.Message})
	}
	r.UpdatedAt = l.m.opts.Now().UTC()
	r.Version++
	l.refreshEnvContextLocked(old)
}

func (l *live) currentGen() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

func (l *live) nextGen() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	return l.gen
}

// sink returns the provider.Sink of provider instance gen.
func (l *live) sink(gen uint64) provider.Sink {
	return func(ev provider.Event) { l.inbox.push(report{gen: gen, ev: ev}) }
}

func (l *live) close() {
	l.inbox.close()
	<-l.done
}

// loop applies provider reports in order until the session is closed.
func (l *live) loop() {
	defer close(l.done)
	for {
		batch, ok := l.inbox.wait()
		if !ok {
			return
		}
		for _, r := range batch {
			l.apply(r)
		}
	}
}

func (l *live) apply(r report) {
	m := l.m
	l.mu.Lock()
	if r.gen != l.gen {
		l.mu.Unlock()
		return
	}
	traffic := isTraffic(r.ev)
	l.aliveLocked(r.gen, traffic)
	switch ev := r.ev.(type) {
	case provider.StatusEvent:
		st, ok := fromProvider(ev.Status)
		if !ok {
			l.mu.Unlock()
			m.log.Warn("unknown provider status", "tenant", l.tenant, "session", l.name, "status", ev.Status)
			return
		}
		if st == StateStopped {
			// The manager sets STOPPED itself when it stops a provider; a provider
			// stopping on its own is a failure.
			st = StateFailed
		}
		if st != StateScanQR {
			l.qr = nil
		}
		old := l.rec
		l.rec.State, l.rec.Reason, l.rec.Message = st, ev.Reason, ""
		advice, permanent := permanentCauses[ev.Reason]
		permanent = permanent && (st == StateFailed || st == StateLoggedOut)
		if permanent {
			l.rec.Message = "not reconnecting: " + advice
		}
		if ev.Me != nil {
			l.rec.Me = ev.Me
		}
		if st == StateLoggedOut {
			l.rec.Me, l.rec.Running = nil, false
		}
		l.stampLocked(old)
		rec := l.rec
		l.mu.Unlock()
		m.persistAndPublish(l, rec)
		m.settleSlot(l)
		if permanent {
			m.metrics.notRetried.WithLabelValues(ev.Reason).Inc()
			m.log.Warn("session failed for a cause that is not retried", "tenant", l.tenant, "session", l.name,
				"status", st, "reason", ev.Reason)
		}
		if st == StateFailed {
			m.maybeRetry(l)
		}
	case provider.QREvent:
		if ok, limit, message := m.qrAllowLocked(l, r.gen); !ok {
			l.qr = nil
			l.mu.Unlock()
			if limit != "" {
				gen := r.gen
				m.spawn(func() { m.stopForQRLimit(l, gen, limit, message) })
			}
			return
		}
		l.qr = &QR{Code: ev.Code, ExpiresAt: ev.ExpiresAt}
		moved := l.rec.State != StateScanQR
		if moved {
			old := l.rec
			l.rec.State, l.rec.Reason = StateScanQR, ""
			l.stampLocked(old)
		}
		rec := l.rec
		l.mu.Unlock()
		if moved {
			m.persistAndPublish(l, rec)
		}
		m.publish(l, event.SessionQR, QRPayload{QR: ev.Code, ExpiresAt: ev.ExpiresAt})
	case provider.MessageEvent:
		l.mu.Unlock()
		msg := ev.Message
		if m.opts.OnMessage != nil {
			m.opts.OnMessage(l.tenant, l.name, msg)
		}
		m.publishMessage(l, msg)
	case provider.AckEvent:
		l.mu.Unlock()
		if id, ok := l.ackID(ev); ok {
			m.publishAck(l, id, ev)
		}
	case provider.Notification:
		l.mu.Unlock()
		if u, ok := ev.(provider.PresenceUpdate); ok {
			l.presence.update(u)
		}
		m.publish(l, ev.EventName(), ev)
		if c, ok := ev.(provider.CallReceived); ok {
			m.autoReject(l, c) // calls.go
		}
	default:
		l.mu.Unlock()
	}
}

// publishMessage publishes a received message as WAHA does: reactions as
// message.reaction, edits as message.edited, revokes as message.revoked, everything
// else as message; and every one of them as message.any too.
func (m *Manager) publishMessage(l *live, msg provider.Inbound) {
	p := NewMessagePayload(msg)
	switch msg.Kind {
	case provider.KindReaction:
		m.publish(l, event.MessageReaction, p)
	case provider.KindEdit:
		m.publish(l, event.MessageEdited, EditedPayload{MessagePayload: p, EditedMessageID: msg.Target})
	case provider.KindRevoke:
		m.publish(l, event.MessageRevoked, RevokedPayload{RevokedMessageID: msg.Target, After: &p})
	default:
		m.publish(l, event.Message, p)
	}
	m.publish(l, event.MessageAny, p)
}

// participantOf is the participant field of a message's payload: its author in a
// group, "" elsewhere.
func participantOf(msg provider.Inbound) string {
	if msg.Participant.IsZero() {
		return ""
	}
	return msg.Participant.String()
}

// isTraffic reports whether ev is a report of traffic (a message, an ack, a
// notification) rather than of the session's state: traffic shows the session alive
// and is what a full inbox drops.
func isTraffic(ev provider.Event) bool {
	switch ev.(type) {
	case provider.MessageEvent, provider.AckEvent, provider.Notification:
		return true
	}
	return false
}

type report struct {
	gen uint64
	ev  provider.Event
}

// maxInbox bounds queued provider reports per session. Past it, traffic (isTraffic)
// reports are dropped (and logged); status and QR reports are always kept, they are
// few and the state machine depends on them.
const maxInbox = 10000

// inbox is the unbounded-for-status, bounded-for-traffic queue between a provider's
// sink and the session loop.
type inbox struct {
	mu     sync.Mutex
	items  []report
	signal chan struct{}
	closed bool
	// onDrop is called (outside the lock) for each report dropped.
	onDrop func()
}

func (q *inbox) init() { q.signal = make(chan struct{}, 1) }

func (q *inbox) push(r report) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if isTraffic(r.ev) && len(q.items) >= maxInbox {
		q.mu.Unlock()
		if q.onDrop != nil {
			q.onDrop()
		}
		return
	}
	q.items = append(q.items, r)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// wait returns the queued reports, blocking until there are some; ok is false once the
// inbox is closed.
func (q *inbox) wait() ([]report, bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.items) > 0 {
			batch := q.items
			q.items = nil
			q.mu.Unlock()
			return batch, true
		}
		q.mu.Unlock()
		<-q.signal
	}
}

func (q *inbox) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// ackID returns the gateway id of an ack's message: from the session's last sends
// (acks), else from the store (Options.AckLookup: a late receipt), else the ack waits
// in acks' pending for the send to be recorded (an early receipt) and ok is false.
// The store is read outside the index's lock, so sends recording their ids never wait
// on it; lookup checks the index again, so a send recorded meanwhile is not missed.
func (l *live) ackID(ev provider.AckEvent) (string, bool) {
	if id, ok := l.acks.known(ev.ProviderID); ok {
		return id, true
	}
	if find := l.m.opts.AckLookup; find != nil && ev.ProviderID != "" {
		if id, ok := find(l.tenant, l.name, ev.ProviderID); ok {
			return id, true
		}
	}
	return l.acks.lookup(ev)
}

// ackIndex maps provider message ids to gateway message ids, so acks carry the id the
// API returned. It remembers the last maxAckIDs sends of a session (the receipts of a
// send nearly always come within seconds; older ones are found in the store through
// Options.AckLookup); acks that arrive before Send returned (a fast transport) wait in
// pending until record is called.
type ackIndex struct {
	mu      sync.Mutex
	ids     map[string]string
	order   []string
	pending map[string][]provider.AckEvent
	// pendingOrder evicts the oldest early acks first, so acks of messages that will
	// never be recorded (sent from the phone) cannot fill pending for good.
	pendingOrder []string
}

const (
	// maxAckIDs was 10,000: 73 MiB over 50 sessions in the million-recipient campaign
	// (docs/benchmarks.md); the store's provider id index made that unnecessary.
	maxAckIDs     = 1000
	maxAckPending = 1000
)

// record maps providerID to msgID and returns the acks that arrived before it.
func (a *ackIndex) record(providerID, msgID string) []provider.AckEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = make(map[string]string)
		a.pending = make(map[string][]provider.AckEvent)
	}
	if len(a.order) >= maxAckIDs {
		delete(a.ids, a.order[0])
		a.order = a.order[1:]
	}
	// Copies: the ids may be substrings of a whole decoded record (core/queue's codec
	// decodes a message into one string), which kept here would pin every record of
	// the last maxAckIDs sends in memory.
	providerID, msgID = strings.Clone(providerID), strings.Clone(msgID)
	a.ids[providerID] = msgID
	a.order = append(a.order, providerID)
	early := a.pending[providerID]
	delete(a.pending, providerID)
	return early
}

// known returns the gateway id recorded for providerID, if the index still has it.
func (a *ackIndex) known(providerID string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.ids[providerID]
	return id, ok
}

// lookup returns the gateway id of an ack's message. Unknown ids are held back (up to
// maxAckPending) for record; ok is false then.
func (a *ackIndex) lookup(ev provider.AckEvent) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.ids[ev.ProviderID]; ok {
		return id, true
	}
	if a.pending == nil {
		a.ids = make(map[string]string)
		a.pending = make(map[string][]provider.AckEvent)
	}
	if _, ok := a.pending[ev.ProviderID]; !ok {
		if len(a.pendingOrder) >= maxAckPending {
			delete(a.pending, a.pendingOrder[0])
			a.pendingOrder = a.pendingOrder[1:]
		}
		a.pendingOrder = append(a.pendingOrder, ev.ProviderID)
	}
	a.pending[ev.ProviderID] = append(a.pending[ev.ProviderID], ev)
	return "", false
}

// hasProvider reports whether a provider instance is current.
func (l *live) hasProvider() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.prov != nil
}
