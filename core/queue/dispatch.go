package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/wagate/wagate/core/backoff"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// Sender sends one message through a session: the session manager.
type Sender interface {
	Send(ctx context.Context, tenant, session string, msg provider.Outbound) (provider.SendResult, error)
}

// NotWorking tells the dispatcher an error means "the session is not WORKING": the
// message waits, unchanged, for the session to come back. (The session manager's
// *session.NotWorkingError; a func keeps this package free of it.)
type NotWorking func(err error) bool

// DispatchOptions configure a Dispatcher.
type DispatchOptions struct {
	// Rate is each session's steady send rate, messages per second; 0 means unlimited.
	Rate float64
	// Burst is how many messages may go at once after a pause; 0 means 1.
	Burst int
	// MaxAttempts is the retry budget: provider calls per message before it fails with
	// reason retries_exhausted. 0 means 5.
	MaxAttempts int
	// BackoffBase and BackoffMax bound the retry delay: base·2^(attempt-1) with full
	// jitter, capped at max. 0 means 1s and 5m.
	BackoffBase, BackoffMax time.Duration
	// IsNotWorking classifies send errors; nil treats none as "not working".
	IsNotWorking NotWorking
	// MaxConcurrent bounds provider calls in flight across all sessions; 0 means 256.
	MaxConcurrent int
	// MaxWait fails a message still waiting this long after it was accepted (its session
	// not WORKING, or behind a long queue), reason expired; 0 means never.
	MaxWait time.Duration
	// OnTransition, when set, is told each status the dispatcher records, once it is
	// durable: sending, queued (waiting again: retry or session not WORKING) and failed
	// (sent, delivered and read come from the provider's acks). The gateway publishes
	// them as message.ack events. Called synchronously; it must not block.
	OnTransition func(tenant string, m Message)
	// OnSent, when set, writes into the transaction that records a message sent (the
	// sticky route: contact -> session).
	OnSent func(txn *badger.Txn, tenant string, m Message) error
	// OnSentDurable, when set, is told each message whose sent status is durable
	// (OnTransition is not: its sent comes from the provider's ack). Cluster mode
	// acknowledges the message on the cluster's send stream then. It must not block.
	OnSentDurable func(tenant string, m Message)
	// Pace, when set, is asked before every provider call (after the token bucket):
	// a delay makes the message wait that long (head of line, attempt not counted), a
	// reason fails it. The tenant's rate policy chain.
	Pace func(tenant string, m Message, session string) (delay time.Duration, reject string)
	// Failover, when set, decides about failed sends and lost sessions (failover.go).
	Failover Failover
	// Handoff, when set, carries reroutes to sessions another node runs (cluster mode).
	Handoff Handoff
	// FailoverAfter hands the messages of a session not WORKING for this long to
	// Failover (cause ErrDownTooLong); 0 never does.
	FailoverAfter time.Duration
	// OnFailover, when set, is told each failover carried out (the gateway publishes
	// message.failover). Called synchronously; it must not block.
	OnFailover func(tenant string, ev FailoverEvent)
	// Registerer receives the dispatcher's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Dispatcher runs one worker per session that has messages waiting and is WORKING.
// Each worker sends its session's queue in order, one message at a time, paced by the
// session's token bucket; a message waiting for a retry holds back the ones behind it,
// so that a chat's messages are never reordered.
type Dispatcher struct {
	q    *Queue
	s    Sender
	o    DispatchOptions
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	sem     chan struct{} // MaxConcurrent provider calls
	metrics *dispatchMetrics

	mu      sync.Mutex
	workers map[sessionKey]*worker
	closed  bool
}

type worker struct {
	key     sessionKey
	wake    chan struct{}
	quit    chan struct{} // closed when the session is deleted
	limiter *rate.Limiter

	mu      sync.Mutex
	working bool
	// statusGen counts SessionStatus calls: a worker that saw "not working" from a send
	// pauses only if no newer status arrived meanwhile.
	statusGen uint64
	// rewind is the smallest id put in the queue behind the worker's cursor since it
	// last looked ("" none); rescan asks for a read from the start.
	rewind string
	rescan bool
	// floor is the smallest id that may still have an entry, as far as the worker knows:
	// its cursor, lowered at once by every lookBack. The oldest-age metric and Backlog
	// seek from it, so that they do not walk over the deleted entries of sent messages.
	floor string
	// downSince is when the session stopped being WORKING (zero while it is);
	// lostAt when its messages were last handed to failover for that.
	downSince, lostAt time.Time
	// lost is why the session was reported lost (SessionLost), nil while it is not: a
	// message that comes back from an interrupted send then goes to failover at once.
	lost error

	// Used by the worker's goroutine alone:
	// sent is the record of the last message sent, handed to the committer without
	// waiting (see dispatch); settle waits for it.
	sent *pendingSent
	// gone holds the ids whose queue entry the worker removed since it last read its
	// queue: firstPresent need not read them.
	gone map[string]bool
	// claims holds the entries with a claim among those the worker last read (nil:
	// none). Only the worker claims its session's messages, and it reads its queue
	// after its last claim is settled, so an entry not in it holds no claim when the
	// worker claims it (see claimOp.known).
	claims map[string]entry
}

// pendingSent is a "sent" record on its way to the disk and what to do once it is.
type pendingSent struct {
	u     *update
	after func(err error)
}

// settle waits until the worker's pending "sent" record is durable (or failed) and
// does what follows it. Called before the worker reads its queue, waits, or stops.
func (d *Dispatcher) settle(w *worker) {
	p := w.sent
	if p == nil {
		return
	}
	w.sent = nil
	err := d.q.await(p.u.done)
	if err == nil {
		err = p.u.err
	}
	p.after(err)
}

// lookBack records that an entry with id was put in the worker's queue.
func (w *worker) lookBack(id string) {
	w.mu.Lock()
	if id == "" {
		w.rescan = true
	} else if w.rewind == "" || id < w.rewind {
		w.rewind = id
	}
	if id < w.floor {
		w.floor = id
	}
	w.mu.Unlock()
	w.poke()
}

// behind reports whether an entry was put in the worker's queue before id since the
// worker last looked (an interactive send arriving while campaign messages, whose
// NewLow ids sort last, are being sent): the worker reads its queue again from there
// instead of finishing the batch it holds.
func (w *worker) behind(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rescan || (w.rewind != "" && w.rewind < id)
}

// cursor applies the pending look-backs to from, the id the worker reads its queue
// from ("" the start).
func (w *worker) cursor(from string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.rescan:
		from = ""
	case w.rewind != "" && from != "" && w.rewind < from:
		from = w.rewind
	}
	w.rescan, w.rewind = false, ""
	w.floor = from
	return from
}

// scanFloor is where a read of session k's queue entries may start: its worker's floor,
// "" (the start) when it has no worker. An entry committed and not yet reported by
// lookBack (the moment between Enqueue's commit and its OnEnqueue callback) may lie
// below it: readers of the floor are metrics and status pages, not the dispatcher.
func (d *Dispatcher) scanFloor(k sessionKey) string {
	w := d.worker(k, false)
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.floor
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) isWorking() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.working
}

// NewDispatcher returns a dispatcher; it starts workers as sessions report WORKING
// (SessionStatus) and messages arrive (Wake).
func NewDispatcher(q *Queue, s Sender, o DispatchOptions) *Dispatcher {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.Burst <= 0 {
		o.Burst = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.IsNotWorking == nil {
		o.IsNotWorking = func(error) bool { return false }
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 256
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{q: q, s: s, o: o, log: o.Logger, ctx: ctx, stop: cancel,
		workers: make(map[sessionKey]*worker), sem: make(chan struct{}, o.MaxConcurrent),
		metrics: newDispatchMetrics(o.Registerer)}
	q.OnEnqueue(d.enqueued)
	floor := d.scanFloor
	q.scanFloor.Store(&floor)
	if o.MaxWait > 0 {
		d.wg.Add(1)
		go d.sweep()
	}
	if o.FailoverAfter > 0 && o.Failover != nil {
		d.wg.Add(1)
		go d.failoverSweep()
	}
	return d
}

// failoverSweep hands the messages of sessions down longer than FailoverAfter to
// failover, once per FailoverAfter while they stay down.
func (d *Dispatcher) failoverSweep() {
	defer d.wg.Done()
	t := time.NewTicker(max(min(d.o.FailoverAfter/4, 30*time.Second), time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var lost []sessionKey
		d.mu.Lock()
		for k, w := range d.workers {
			w.mu.Lock()
			if !w.working && !w.downSince.IsZero() && now.Sub(w.downSince) >= d.o.FailoverAfter &&
				(w.lostAt.IsZero() || now.Sub(w.lostAt) >= d.o.FailoverAfter) {
				w.lostAt = now
				lost = append(lost, k)
			}
			w.mu.Unlock()
		}
		d.mu.Unlock()
		for _, k := range lost {
			if n, _ := d.q.Depth(k.tenant, k.session); n > 0 {
				d.SessionLost(k.tenant, k.session, ErrDownTooLong)
			}
		}
	}
}

// SessionStatus tells the dispatcher whether a session can send. Called by the session
// manager on every status change.
func (d *Dispatcher) SessionStatus(tenant, session string, working bool) {
	w := d.worker(sessionKey{tenant, session}, working || d.o.FailoverAfter > 0)
	if w == nil {
		return
	}
	w.mu.Lock()
	switch {
	case working:
		w.downSince, w.lostAt, w.lost = time.Time{}, time.Time{}, nil
	case w.downSince.IsZero():
		w.downSince = time.Now()
	}
	w.working = working
	w.statusGen++
	w.mu.Unlock()
	w.poke()
}

// Wake tells the worker of a session to read its whole queue again.
func (d *Dispatcher) Wake(tenant, session string) {
	if w := d.worker(sessionKey{tenant, session}, false); w != nil {
		w.lookBack("")
	}
}

// enqueued tells the worker of a session that entries from minID on were put.
func (d *Dispatcher) enqueued(tenant, session, minID string) {
	if w := d.worker(sessionKey{tenant, session}, false); w != nil {
		w.mu.Lock()
		lost := w.lost
		w.mu.Unlock()
		if lost != nil {
			d.lateForLost(w.key, minID, lost) // failover.go
			return
		}
		w.lookBack(minID)
	}
}

// worker returns the session's worker, creating (and starting) it when create is set.
func (d *Dispatcher) worker(k sessionKey, create bool) *worker {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	w := d.workers[k]
	if w == nil && create {
		lim := rate.NewLimiter(rate.Inf, d.o.Burst)
		if d.o.Rate > 0 {
			lim = rate.NewLimiter(rate.Limit(d.o.Rate), d.o.Burst)
		}
		w = &worker{key: k, wake: make(chan struct{}, 1), quit: make(chan struct{}), limiter: lim}
		d.workers[k] = w
		d.wg.Add(1)
		go d.run(w)
	}
	return w
}

// Close stops every worker; a send in flight is abandoned to its context and the
// message, still "sending", is recovered at the next Open as a possible duplicate.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.stop()
	d.wg.Wait()
}

// Ack records a receipt reported for a message (delivered, read, failed). Statuses never
// move backwards.
func (d *Dispatcher) Ack(tenant, msgID string, ack provider.Ack, reason string) {
	var st Status
	switch ack {
	case provider.AckDelivered:
		st = StatusDelivered
	case provider.AckRead:
		st = StatusRead
	case provider.AckFailed:
		st = StatusFailed
	default:
		return // "sent" is recorded by the worker itself
	}
	now := time.Now().UTC()
	d.q.changeAsync(tenant, msgID, func(m *Message) (bool, error) {
		// An ack can overtake the worker's own "sent" record (a fast transport): it
		// applies to a message still "sending" too.
		if m.Status.rank() >= st.rank() || m.Status == StatusQueued {
			return false, errSkip
		}
		m.Status, m.Reason = st, reason
		m.History = append(m.History, Change{Status: st, At: now, Reason: reason})
		return false, nil
	})
}

// run is a session's worker. It reads its queue from a cursor, the smallest id that
// may still have an entry, rather than from the start: the entries of sent messages are
// deleted keys that Badger would otherwise walk over on every read until compaction,
// which made draining a long queue quadratic. Entries put behind the cursor (a late
// commit of a smaller id, a retried or rerouted message) move it back (lookBack).
func (d *Dispatcher) run(w *worker) {
	defer d.wg.Done()
	defer d.settle(w)
	w.gone = map[string]bool{}
	from := ""
	for {
		d.settle(w)
		from = w.cursor(from)
		if !w.isWorking() {
			if !d.wait(w, nil) {
				return
			}
			continue
		}
		ids, claims, err := d.q.head(w.key, from, 64)
		w.claims = claims
		if err != nil {
			d.log.Error("reading queue", "tenant", w.key.tenant, "session", w.key.session, "err", err)
		}
		if len(ids) == 0 {
			if !d.wait(w, nil) {
				return
			}
			continue
		}
		done := 0
		for _, id := range ids {
			next, ok := d.dispatch(w, id)
			if !ok {
				return
			}
			done++
			if !next.IsZero() {
				// Head of line waits for its retry: so does everything behind it.
				d.settle(w)
				from = d.q.firstPresent(w.key, ids[:done], ids[done:], w.gone)
				clear(w.gone)
				t := time.NewTimer(time.Until(next))
				ok := d.wait(w, t.C)
				t.Stop()
				if !ok {
					return
				}
				break
			}
			if !w.isWorking() || (done < len(ids) && w.behind(ids[done])) {
				break
			}
		}
		d.settle(w)
		from = d.q.firstPresent(w.key, ids[:done], ids[done:], w.gone)
		clear(w.gone)
	}
}

// wait blocks until the worker is poked, timer fires, or the dispatcher stops or the
// session is deleted (false).
func (d *Dispatcher) wait(w *worker, timer <-chan time.Time) bool {
	d.settle(w)
	select {
	case <-w.wake:
		return true
	case <-timer:
		return true
	case <-w.quit:
		return false
	case <-d.ctx.Done():
		return false
	}
}

// dispatch sends one message. It returns a non-zero time when the worker must wait
// until then before going on (a retry is due then, or a store error is backed off), and
// false only when the dispatcher is stopping: a worker never dies of an error.
func (d *Dispatcher) dispatch(w *worker, id string) (time.Time, bool) {
	t, k := w.key.tenant, w.key
	pause := func(err error) (time.Time, bool) {
		if d.ctx.Err() != nil {
			return time.Time{}, false
		}
		d.log.Error("dispatch: store error; retrying in 1s", "tenant", t, "session", k.session, "message", id, "err", err)
		return time.Now().Add(time.Second), true
	}
	m, err := d.q.record(t, id) // as stored: the claim below reads the entry
	if errors.Is(err, ErrNotFound) {
		d.q.dropEntry(k, id) // a queue entry without its message
		return time.Time{}, true
	}
	if err != nil {
		return pause(err)
	}
	if m.Status == StatusSending {
		// Caught in flight by a stop this worker did not see (recovery missed its
		// entry mark): send again, flagged, never silently drop.
		now := time.Now().UTC()
		if err := d.q.change(t, id, func(m *Message) (bool, error) {
			if m.Status != StatusSending {
				return false, errSkip
			}
			m.Status, m.Reason, m.PossibleDuplicate = StatusQueued, "interrupted_in_flight", true
			m.History = append(m.History, Change{Status: StatusQueued, At: now, Reason: "interrupted_in_flight"})
			return false, nil
		}); err != nil {
			return pause(err)
		}
		return time.Time{}, true // read it again
	}
	if m.Status != StatusQueued {
		// Final already (an ack, or a recovered entry): dequeue, if it still is.
		return d.dequeueFinal(w, id)
	}
	if now := time.Now(); m.NextAttemptAt.After(now) {
		return m.NextAttemptAt, true
	}
	if d.o.Rate > 0 {
		d.settle(w) // the limiter may hold the worker: finish the last send first
	}
	if err := w.limiter.Wait(d.ctx); err != nil {
		return time.Time{}, false
	}
	if d.o.Pace != nil {
		if next, ok, handled := d.pace(w, m); handled {
			return next, ok
		}
	}
	// The claim: the message may have changed while the limiter waited (expired, failed
	// by a deleted session, retried): only a message still due is claimed. It is
	// written into the queue entry alone (see entry): the crash-safety proof.
	now := time.Now().UTC()
	claimedAt := now
	known := w.claims[id] // the zero entry: no claim
	sending, err := d.q.claim(t, k.session, id, claimedAt, &known)
	claimed := sending.ID != ""
	// The previous message's "sent" record, handed over before this claim, is durable
	// now that the claim is (or failed with it): what follows it can be done.
	d.settle(w)
	if err != nil {
		return pause(err)
	}
	if !claimed {
		return time.Time{}, true
	}
	if d.o.OnTransition != nil {
		d.o.OnTransition(t, sending)
	}
	chat, _ := chatid.Parse(m.ChatID)
	w.mu.Lock()
	gen := w.statusGen
	w.mu.Unlock()
	select {
	case d.sem <- struct{}{}:
	case <-d.ctx.Done():
		return time.Time{}, false
	}
	res, sendErr := d.s.Send(d.ctx, t, k.session, sending.outbound(chat))
	<-d.sem
	if d.ctx.Err() != nil {
		return time.Time{}, false // stopping: recovered as in flight at the next start
	}
	now = time.Now().UTC()
	// Cluster mode: a call that returned after this node's lease of the session ended
	// (the node was frozen or cut off during it) raced the session's new owner, which
	// gets the message again from the stream: this copy says so too.
	stale := sendErr == nil && d.o.Handoff != nil && d.o.Handoff.Lapsed(t, k.session)
	var fo Decision
	if sendErr != nil && d.o.Failover != nil && !d.o.IsNotWorking(sendErr) {
		target := d.o.Failover.Target(t, k.session)
		if target == k.session {
			target = ""
		}
		fo = d.o.Failover.Decide(t, sending, sendErr, target)
	}
	var retryAt time.Time
	dequeued := false
	var final Message
	var outcome string
	also := func(txn *badger.Txn, m Message) error {
		if m.Status == StatusQueued { // waits again: no longer in flight
			return entries.Put(txn, entry{}, t, k.session, m.ID)
		}
		if sendErr == nil {
			if err := putProviderID(txn, t, m); err != nil { // late receipts find it (providerid.go)
				return err
			}
		}
		if sendErr == nil && d.o.OnSent != nil {
			return d.o.OnSent(txn, t, m)
		}
		return nil
	}
	claim := &entry{Sending: true, Attempts: sending.Attempts, At: claimedAt}
	record := func(m *Message) (bool, error) {
		dequeued, outcome = false, ""
		switch {
		case m.Status != StatusSending:
			// An ack moved it while the call was out (delivered, read, or the
			// provider's own failed): the provider has it; record the send, keep the
			// newer status, never send it again.
			outcome = "sent"
			if sendErr == nil {
				m.ProviderID = res.ProviderID
			}
			m.PossibleDuplicate = m.PossibleDuplicate || stale
			m.NextAttemptAt = time.Time{}
			m.History = append(m.History, Change{Status: StatusSent, At: now})
			dequeued = true
		case fo.Retry > 0 && m.Attempts < d.o.MaxAttempts:
			outcome = "retry"
			retryAt = now.Add(fo.Retry)
			m.Status, m.Reason, m.NextAttemptAt = StatusQueued, reason(sendErr), retryAt
			m.History = append(m.History, Change{Status: StatusQueued, At: now, Reason: m.Reason})
		case fo.Reroute != "" || fo.Fail != "":
			// Failover takes it (carried out below): queued again, attempt not counted.
			outcome = "failover"
			m.Status, m.Attempts, m.Reason = StatusQueued, m.Attempts-1, reason(sendErr)
			m.History = append(m.History, Change{Status: StatusQueued, At: now, Reason: m.Reason})
		case sendErr == nil:
			outcome = "sent"
			m.Status, m.ProviderID, m.NextAttemptAt, m.Reason = StatusSent, res.ProviderID, time.Time{}, ""
			m.PossibleDuplicate = m.PossibleDuplicate || stale
			m.History = append(m.History, Change{Status: StatusSent, At: now})
			dequeued = true
		case d.o.IsNotWorking(sendErr):
			outcome = "waiting"
			// Not the message's fault: it waits for the session, attempt not counted.
			m.Status, m.Attempts, m.Reason = StatusQueued, m.Attempts-1, "session_not_working"
			m.History = append(m.History, Change{Status: StatusQueued, At: now, Reason: "session_not_working"})
		case provider.Retryable(sendErr) && m.Attempts < d.o.MaxAttempts:
			outcome = "retry"
			retryAt = now.Add(d.backoff(m.Attempts))
			m.Status, m.Reason, m.NextAttemptAt = StatusQueued, reason(sendErr), retryAt
			m.History = append(m.History, Change{Status: StatusQueued, At: now, Reason: m.Reason})
		default:
			outcome = "failed"
			why := reason(sendErr)
			if provider.Retryable(sendErr) {
				why = "retries_exhausted: " + why
			}
			m.Status, m.Reason, m.NextAttemptAt = StatusFailed, why, time.Time{}
			m.History = append(m.History, Change{Status: StatusFailed, At: now, Reason: why})
			dequeued = true
		}
		final = *m
		return dequeued, nil
	}
	if sendErr == nil {
		// Sent: the record goes to the committer without waiting for it, and the worker
		// goes on to claim the next message, whose "sending" record, handed over after
		// it, commits in the same group or a later one: one wait on the disk per message
		// instead of two, and never a claim durable before the previous send's record.
		// A crash before it lands leaves the message "sending": sent again, flagged
		// possibleDuplicate, as a crash during the provider call does.
		u, err := d.q.changeLater(t, id, record, also, claim)
		if err != nil {
			return pause(err)
		}
		w.sent = &pendingSent{u: u, after: func(err error) {
			if err != nil {
				// Not recorded: the message stays "sending" and is sent again, flagged,
				// when the worker reads its queue again — never lost.
				d.log.Error("dispatch: recording a message sent", "tenant", t, "session", k.session, "message", id, "err", err)
				return
			}
			if dequeued {
				d.q.unreserve(t, k.session, 1)
				w.gone[id] = true
			}
			if outcome != "" {
				d.metrics.outcomes.WithLabelValues(outcome).Inc()
			}
			sent := final.Status == StatusSent || final.Status == StatusDelivered || final.Status == StatusRead
			if final.ID != "" && !sent && d.o.OnTransition != nil {
				d.o.OnTransition(t, final)
			}
			if final.ID != "" && sent && d.o.OnSentDurable != nil {
				d.o.OnSentDurable(t, final)
			}
		}}
		return time.Time{}, true
	}
	u, err := d.q.changeLater(t, id, record, also, claim)
	if err == nil {
		if err = d.q.await(u.done); err == nil {
			err = u.err
		}
	}
	if err != nil {
		// The outcome is not recorded: the message stays "sending" and is resent,
		// flagged, when read again — never lost.
		return pause(err)
	}
	if dequeued {
		d.q.unreserve(t, k.session, 1)
	}
	if outcome != "" {
		d.metrics.outcomes.WithLabelValues(outcome).Inc()
	}
	sent := final.Status == StatusSent || final.Status == StatusDelivered || final.Status == StatusRead
	if !sent && d.o.OnTransition != nil {
		d.o.OnTransition(t, final)
	}
	if sent && d.o.OnSentDurable != nil {
		d.o.OnSentDurable(t, final)
	}
	if sendErr != nil && d.o.IsNotWorking(sendErr) {
		w.mu.Lock()
		if w.statusGen == gen { // else the session reported since: trust that report
			w.working = false
		}
		w.mu.Unlock()
	}
	if outcome == "failover" {
		d.carryOut(t, k.session, id, fo, sendErr)
	}
	if outcome == "waiting" {
		// Sent while the session was being declared lost: SessionLost skipped it (in
		// flight), so it goes to failover now rather than wait for failover_after.
		w.mu.Lock()
		lost := w.lost
		w.mu.Unlock()
		if lost != nil {
			d.failover(t, k.session, id, lost)
		}
	}
	return retryAt, true
}

// pace asks Pace about m; handled is true when it delayed or failed the message (then
// next and ok are dispatch's answer).
func (d *Dispatcher) pace(w *worker, m Message) (next time.Time, ok, handled bool) {
	t, k := w.key.tenant, w.key
	delay, reject := d.o.Pace(t, m, k.session)
	if delay <= 0 && reject == "" {
		return time.Time{}, true, false
	}
	now := time.Now().UTC()
	var final Message
	err := d.q.change(t, m.ID, func(m *Message) (bool, error) {
		final = Message{}
		if m.Status != StatusQueued {
			return false, errSkip
		}
		if reject != "" {
			m.Status, m.Reason, m.NextAttemptAt = StatusFailed, reject, time.Time{}
			m.History = append(m.History, Change{Status: StatusFailed, At: now, Reason: reject})
			final = *m
			return true, nil
		}
		m.NextAttemptAt = now.Add(delay)
		return false, nil
	})
	if err != nil {
		if d.ctx.Err() != nil {
			return time.Time{}, false, true
		}
		return time.Now().Add(time.Second), true, true
	}
	if reject != "" {
		if final.ID != "" {
			d.q.unreserve(t, k.session, 1)
			d.metrics.outcomes.WithLabelValues("rejected").Inc()
			if d.o.OnTransition != nil {
				d.o.OnTransition(t, final)
			}
		}
		return time.Time{}, true, true
	}
	d.metrics.outcomes.WithLabelValues("paced").Inc()
	return now.Add(delay), true, true
}

// dequeueFinal removes the queue entry of a message whose status is final, checking
// that it still is (a retry request may have queued it again meanwhile).
func (d *Dispatcher) dequeueFinal(w *worker, id string) (time.Time, bool) {
	dequeued := false
	err := d.q.change(w.key.tenant, id, func(m *Message) (bool, error) {
		if m.Status == StatusQueued || m.Status == StatusSending {
			return false, errSkip
		}
		dequeued = true
		return true, nil
	})
	if err != nil {
		if d.ctx.Err() != nil {
			return time.Time{}, false
		}
		return time.Now().Add(time.Second), true
	}
	if dequeued {
		d.q.unreserve(w.key.tenant, w.key.session, 1)
	}
	return time.Time{}, true
}

// backoff is base·2^(attempt-1), capped, with full jitter.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	return backoff.Delay(d.o.BackoffBase, d.o.BackoffMax, attempt)
}

// reason is the snake_case cause of a send error.
func reason(err error) string {
	var se *provider.SendError
	switch {
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, provider.ErrBanned):
		return "banned"
	case errors.Is(err, provider.ErrLoggedOut):
		return "logged_out"
	case errors.Is(err, provider.ErrInvalidRecipient):
		return "invalid_recipient"
	case errors.Is(err, provider.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "send_error"
}

// headFrom returns up to n message ids waiting for a session, in send order, from the
// id from on ("" from the start).
func (q *Queue) headFrom(k sessionKey, from string, n int) ([]string, error) {
	ids, _, err := q.head(k, from, n)
	return ids, err
}

// head is headFrom that also returns the entries among them holding a claim (nil when
// none: the common case). The entries' values are read with their keys (they are a
// few bytes, kept in the LSM tree beside them), so that a claim need not read the
// entry again in the committer.
func (q *Queue) head(k sessionKey, from string, n int) ([]string, map[string]entry, error) {
	var ids []string
	var claims map[string]entry
	err := q.db.View(func(txn *badger.Txn) error {
		prefix := store.ScanPrefix(store.PrefixQueue, k.tenant, k.session)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(append(append([]byte{}, prefix...), from...)); it.ValidForPrefix(prefix) && len(ids) < n; it.Next() {
			id := string(it.Item().Key()[len(prefix):])
			ids = append(ids, id)
			if err := it.Item().Value(func(b []byte) error {
				if string(b) == string(entryQueued) {
					return nil
				}
				e, err := entries.Codec.Decode(b)
				if err != nil {
					return err
				}
				if e.Sending {
					if claims == nil {
						claims = map[string]entry{}
					}
					claims[id] = e
				}
				return nil
			}); err != nil {
				return fmt.Errorf("reading queue entry %s: %w", id, err)
			}
		}
		return nil
	})
	return ids, claims, err
}

// firstPresent returns where a worker reads its queue next, after it handled done (in
// order) and left rest: the first of done whose entry is still there (waiting for a
// retry, or for the session), else the first of rest, else just past the last of done.
// The entries of ids in gone, removed by the worker itself, are not read (an entry put
// back since, by a retry request, is the worker's lookBack's to find).
func (q *Queue) firstPresent(k sessionKey, done, rest []string, gone map[string]bool) string {
	var first string
	err := q.db.View(func(txn *badger.Txn) error {
		for _, id := range done {
			if gone[id] {
				continue // the worker removed its entry
			}
			_, err := txn.Get(store.Key(store.PrefixQueue, k.tenant, k.session, id))
			if err == nil {
				first = id
				return nil
			}
			if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return done[0] // read again from where this batch began
	case first != "":
		return first
	case len(rest) > 0:
		return rest[0]
	case len(done) > 0:
		return done[len(done)-1] + "\x00" // just past it: ids never contain NUL
	}
	return ""
}

// headAfter is head starting after the id after ("" from the start).
func (q *Queue) headAfter(k sessionKey, after string, n int) ([]string, error) {
	var ids []string
	err := q.db.View(func(txn *badger.Txn) error {
		prefix := store.ScanPrefix(store.PrefixQueue, k.tenant, k.session)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		start := prefix
		if after != "" {
			start = append(append(append([]byte{}, prefix...), after...), 0)
		}
		for it.Seek(start); it.ValidForPrefix(prefix) && len(ids) < n; it.Next() {
			key := it.Item().Key()
			ids = append(ids, string(key[len(prefix):]))
		}
		return nil
	})
	return ids, err
}

func (q *Queue) dropEntry(k sessionKey, id string) {
	_ = q.db.Update(func(txn *badger.Txn) error { return entries.Delete(txn, k.tenant, k.session, id) })
	q.unreserve(k.tenant, k.session, 1)
}

// retire stops the session's worker and forgets it; the next status report of the
// session starts a new one.
func (d *Dispatcher) retire(k sessionKey) {
	d.mu.Lock()
	w := d.workers[k]
	delete(d.workers, k)
	d.mu.Unlock()
	if w != nil {
		w.mu.Lock()
		w.working = false
		w.statusGen++
		w.mu.Unlock()
		close(w.quit)
	}
}

// SessionDeleted fails every message still waiting for a deleted session (reason
// session_deleted) and stops its worker. A message in flight is left to its send.
func (d *Dispatcher) SessionDeleted(tenant, session string) {
	k := sessionKey{tenant, session}
	d.retire(k)
	now := time.Now().UTC()
	after := ""
	for {
		ids, err := d.q.headAfter(k, after, 256)
		if err != nil || len(ids) == 0 {
			return
		}
		for _, id := range ids {
			if !d.expire(k, id, "session_deleted", now) {
				return
			}
		}
		after = ids[len(ids)-1]
	}
}

// expire fails a waiting message with reason and removes its queue entry in the same
// transaction; it returns false when the queue is closed. A message in flight (sending)
// is left to its send; with olderThan set, so is a message queued (or requeued) more
// recently than that. An entry whose message is final or gone is dropped.
func (d *Dispatcher) expire(k sessionKey, id, reason string, now time.Time, olderThan ...time.Time) bool {
	var final Message
	seen, dequeued := false, false
	err := d.q.change(k.tenant, id, func(m *Message) (bool, error) {
		seen, dequeued = true, false
		switch {
		case m.Status == StatusSending:
			return false, errSkip
		case m.Status != StatusQueued:
			dequeued = true // final already: only the entry is left to drop
			return true, nil
		case len(olderThan) > 0 && m.QueuedAt.After(olderThan[0]):
			return false, errSkip
		}
		m.Status, m.Reason, m.NextAttemptAt = StatusFailed, reason, time.Time{}
		m.History = append(m.History, Change{Status: StatusFailed, At: now, Reason: reason})
		final, dequeued = *m, true
		return true, nil
	})
	if errors.Is(err, ErrClosed) {
		return false
	}
	if err != nil {
		d.log.Error("expiring message", "tenant", k.tenant, "message", id, "err", err)
		return true
	}
	if !seen {
		d.q.dropEntry(k, id) // the message record itself is gone
		return true
	}
	if dequeued {
		d.q.unreserve(k.tenant, k.session, 1)
	}
	if final.ID != "" && d.o.OnTransition != nil {
		d.o.OnTransition(k.tenant, final)
	}
	return true
}

// Cancel fails a message still waiting in a session's queue with reason (a cancelled
// campaign's: campaign_cancelled) and removes its entry, as an expiry does; a message in
// flight is left to its send, a final one only loses its entry. It returns false when
// the dispatcher is stopping.
func (d *Dispatcher) Cancel(tenant, session, id, reason string) bool {
	return d.expire(sessionKey{tenant, session}, id, reason, time.Now().UTC())
}

// sweep fails, every MaxWait/10 (at most a minute), the messages waiting longer than
// MaxWait. A message's age is read from its id (a ULID carries its creation time), so
// the sweep reads keys only.
func (d *Dispatcher) sweep() {
	defer d.wg.Done()
	every := min(d.o.MaxWait/10, time.Minute)
	t := time.NewTicker(max(every, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		cutoff := now.Add(-d.o.MaxWait)
		for _, x := range d.q.olderThan(cutoff) {
			if !d.expire(x.k, x.id, "expired", now.UTC(), cutoff) {
				return
			}
		}
	}
}
