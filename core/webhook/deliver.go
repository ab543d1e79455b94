package webhook

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/backoff"
	"github.com/wagate/wagate/core/store"
)

// Worker memory bounds: the pending deliveries a worker holds in memory (the rest wait
// in the store's pending index and are loaded as these drain), and how far it reads
// ahead when everything it holds is held back (an ordered session stuck on a retry).
const (
	window  = 4096
	hardCap = 65536
)

// worker delivers one endpoint's pending deliveries. It keeps a window of the pending
// index in memory, in order (loading more from the store, after the last key it
// loaded, as the window drains: never re-reading the deleted keys of delivered
// deliveries), starts every delivery that is due — at most
// Options.MaxInFlightPerEndpoint at once, and for an ordered endpoint only the oldest
// pending delivery of each session — and sleeps until a delivery finishes, new ones
// are written, or the next retry is due.
type worker struct {
	s                *Service
	tenant, endpoint string
	wake             chan struct{} // kick: something changed
	finished         chan outcome  // a delivery goroutine is done
	stop             chan struct{}
	stopOnce         sync.Once
	done             chan struct{} // closed when run has returned
	added            atomic.Bool   // new deliveries were written after the window

	inboxMu sync.Mutex
	inbox   []pendingItem // deliveries made pending again (Retry), to merge into mem

	// Owned by run.
	mem    []pendingItem // pending deliveries loaded, by id
	cursor string        // the last id loaded; the store may hold more after it
	more   bool          // whether it may
}

// pendingItem is a pending delivery in a worker's window.
type pendingItem struct {
	id, session string
	next        time.Time
	busy        bool // an attempt is running
}

// outcome is what an attempt tells its worker.
type outcome struct {
	id   string
	done bool      // delivered, failed or gone: leaves the window
	next time.Time // when not done: the next attempt
}

func newWorker(s *Service, tenant, endpoint string) *worker {
	return &worker{
		s: s, tenant: tenant, endpoint: endpoint, more: true,
		wake:     make(chan struct{}, 1),
		finished: make(chan outcome, s.o.MaxInFlightPerEndpoint),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// kick makes the worker look again soon. Never blocks.
func (w *worker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// appended tells the worker that deliveries were written after everything it loaded.
func (w *worker) appended() {
	w.added.Store(true)
	w.kick()
}

// requeue tells the worker that an existing delivery is pending again.
func (w *worker) requeue(id, session string, next time.Time) {
	w.inboxMu.Lock()
	w.inbox = append(w.inbox, pendingItem{id: id, session: session, next: next})
	w.inboxMu.Unlock()
	w.kick()
}

// quit asks the worker to stop; it returns once its deliveries in flight are done.
func (w *worker) quit() { w.stopOnce.Do(func() { close(w.stop) }) }

func (w *worker) run() {
	defer w.s.wg.Done()
	defer close(w.done)
	inflight := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		w.merge()
		if w.added.Swap(false) {
			w.more = true
		}
		if w.more && len(w.mem) < window/2 {
			w.load(window - len(w.mem))
		}
		next, started := w.pass(&inflight)
		if started == 0 && next.IsZero() && inflight < w.s.o.MaxInFlightPerEndpoint && w.more &&
			len(w.mem) < hardCap && !w.stopping() && !w.s.paused.Load() {
			// Everything in the window is held back: read further ahead.
			if w.load(window) > 0 {
				continue
			}
		}
		timer.Stop()
		var due <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), time.Millisecond))
			due = timer.C
		}
		select {
		case <-w.stop:
			for ; inflight > 0; inflight-- {
				<-w.finished
			}
			return
		case o := <-w.finished:
			inflight--
			w.settle(o)
		case <-w.wake:
		case <-due:
		}
	}
}

// settle applies an attempt's outcome to the window.
func (w *worker) settle(o outcome) {
	i, ok := w.find(o.id)
	if !ok {
		return
	}
	if o.done {
		w.mem = append(w.mem[:i], w.mem[i+1:]...)
		return
	}
	w.mem[i].busy, w.mem[i].next = false, o.next
}

func (w *worker) find(id string) (int, bool) {
	return slices.BinarySearchFunc(w.mem, id, func(it pendingItem, id string) int { return strings.Compare(it.id, id) })
}

// merge moves requeued deliveries into the window (those after the cursor will be
// loaded from the store in their turn).
func (w *worker) merge() {
	w.inboxMu.Lock()
	in := w.inbox
	w.inbox = nil
	w.inboxMu.Unlock()
	for _, it := range in {
		if w.more && it.id > w.cursor {
			continue
		}
		if i, ok := w.find(it.id); ok {
			if !w.mem[i].busy {
				w.mem[i].next = it.next
			}
			continue
		} else {
			w.mem = slices.Insert(w.mem, i, it)
		}
	}
}

func (w *worker) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// load reads up to n pending entries after the cursor into the window and returns how
// many it read.
func (w *worker) load(n int) int {
	prefix := store.ScanPrefix(store.PrefixWebhookPending, w.tenant, w.endpoint)
	seek := prefix
	if w.cursor != "" {
		seek = store.Key(store.PrefixWebhookPending, w.tenant, w.endpoint, w.cursor)
	}
	loaded := 0
	err := w.s.d.DB.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: prefix})
		defer it.Close()
		for it.Seek(seek); it.ValidForPrefix(prefix) && loaded < n; it.Next() {
			id := string(it.Item().Key()[len(prefix):])
			if id == w.cursor {
				continue
			}
			var pe pendingEntry
			if err := it.Item().Value(func(b []byte) error {
				var err error
				pe, err = pendings.Codec.Decode(b)
				return err
			}); err != nil {
				return err
			}
			w.cursor = id
			if _, dup := w.find(id); !dup {
				w.mem = append(w.mem, pendingItem{id: id, session: pe.Session, next: pe.Next})
			}
			loaded++
		}
		return nil
	})
	if err != nil {
		w.s.log.Error("webhook: loading outbox", "tenant", w.tenant, "endpoint", w.endpoint, "err", err)
		return loaded // more stays true: tried again at the next wake
	}
	w.more = loaded == n
	return loaded
}

// pass starts what is due and returns when the earliest waiting delivery becomes due
// (zero: nothing waits on time) and how many it started.
func (w *worker) pass(inflight *int) (next time.Time, started int) {
	ep, ok := w.s.endpoint(w.tenant, w.endpoint)
	if !ok || !ep.Enabled || w.stopping() || w.s.paused.Load() {
		return time.Time{}, 0 // Resume kicks the worker
	}
	if hold := w.s.o.Hold; hold != nil {
		if wait := hold(); wait > 0 {
			w.s.metrics.held.Inc()
			return w.s.o.Now().Add(wait), 0
		}
	}
	ordered := !ep.Unordered
	var held map[string]bool
	if ordered {
		held = map[string]bool{}
	}
	now := w.s.o.Now()
	for i := range w.mem {
		if *inflight >= w.s.o.MaxInFlightPerEndpoint {
			break
		}
		it := &w.mem[i]
		if ordered {
			if held[it.session] {
				continue
			}
			held[it.session] = true
		}
		if it.busy {
			continue
		}
		if it.next.After(now) {
			if next.IsZero() || it.next.Before(next) {
				next = it.next
			}
			continue
		}
		select {
		case w.s.sem <- struct{}{}:
		case <-w.stop:
			return time.Time{}, started
		}
		it.busy = true
		*inflight++
		started++
		id := it.id
		go func() {
			o := outcome{id: id, done: true}
			defer func() {
				<-w.s.sem
				w.finished <- o
			}()
			o = w.s.attempt(w.tenant, w.endpoint, id)
		}()
	}
	return next, started
}

// attempt makes one HTTP attempt of a delivery and records its outcome.
func (s *Service) attempt(tenant, endpoint, id string) outcome {
	gone := outcome{id: id, done: true}
	ep, ok := s.endpoint(tenant, endpoint)
	if !ok || !ep.Enabled {
		return outcome{id: id, next: s.o.Now()} // not attempted: still pending
	}
	var d Delivery
	err := s.d.DB.View(func(txn *badger.Txn) error {
		var err error
		d, err = deliveries.Get(txn, tenant, endpoint, id)
		return err
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("webhook: reading delivery", "delivery", id, "err", err)
			return outcome{id: id, next: s.o.Now().Add(time.Second)}
		}
		return gone
	}
	if d.Status != StatusPending {
		return gone
	}
	res := s.post(&ep, &d)
	return s.record(tenant, &ep, id, res)
}

// result is the outcome of one HTTP attempt.
type result struct {
	at         time.Time
	code       int
	latency    time.Duration
	err        string // why it failed, "" when delivered
	retry      bool   // worth retrying
	retryAfter time.Duration
}

// post sends the delivery once, signed at this moment.
func (s *Service) post(ep *Endpoint, d *Delivery) result {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	now := s.o.Now()
	req.SetRequestURI(ep.URL)
	req.Header.SetMethod(fasthttp.MethodPost)
	for k, v := range ep.Headers {
		req.Header.Set(k, v)
	}
	req.Header.SetContentType("application/json")
	ts := now.Unix()
	req.Header.Set(HeaderID, d.EventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(ep.secrets(now), d.EventID, ts, d.Body))
	if ep.WAHAHmacKey != "" {
		req.Header.Set(HeaderWAHAHmac, WAHAHmac(ep.WAHAHmacKey, d.Body))
		req.Header.Set(HeaderWAHAHmacAlgorithm, "sha512")
	}
	req.SetBody(d.Body)
	t0 := time.Now()
	err := s.client.DoTimeout(req, resp, s.o.Timeout)
	r := result{at: now, latency: time.Since(t0), code: resp.StatusCode()}
	if err != nil && !(errors.Is(err, fasthttp.ErrBodyTooLarge) && r.code != 0) {
		r.code, r.err, r.retry = 0, err.Error(), true
		return r
	}
	switch c := r.code; {
	case c >= 200 && c < 300:
		return r
	case c == 408 || c == 429 || c >= 500:
		r.retry = true
		r.retryAfter = parseRetryAfter(string(resp.Header.Peek("Retry-After")), now)
	}
	body := resp.Body()
	if len(body) > 256 {
		body = body[:256]
	}
	r.err = statusText(r.code)
	if len(body) > 0 {
		r.err += ": " + string(body)
	}
	return r
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := fasthttp.ParseHTTPDate([]byte(v)); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// record stores an attempt's outcome — delivered, retry at a later time, or failed —
// through the recorder (group commit), and updates the endpoint's health.
func (s *Service) record(tenant string, ep *Endpoint, id string, r result) outcome {
	op := &recordOp{tenant: tenant, endpoint: ep.ID, id: id, r: r, done: make(chan struct{})}
	select {
	case s.recs <- op:
		<-op.done
	case <-s.recStop:
		op.err = ErrClosed
	}
	final, err := op.final, op.err
	if err != nil {
		// The attempt happened but is not recorded: it is made again (the receiver
		// deduplicates on webhook-id).
		s.log.Error("webhook: recording attempt", "delivery", id, "err", err)
		return outcome{id: id, next: r.at.Add(time.Second)}
	}
	label := "delivered"
	switch {
	case final == nil:
		return outcome{id: id, done: true}
	case final.Status == StatusFailed:
		label = "failed"
	case final.Status == StatusPending:
		label = "retry"
	}
	s.metrics.attempts.WithLabelValues(label).Inc()
	s.metrics.latency.Observe(r.latency.Seconds())
	if r.err == "" {
		s.succeeded(tenant, ep.ID)
	} else {
		s.log.Info("webhook attempt failed", "tenant", tenant, "endpoint", ep.ID, "delivery", id,
			"attempt", final.Attempts, "outcome", label, "err", r.err)
		s.failed(tenant, ep.ID, r.at, r.err)
	}
	return outcome{id: id, done: final.Status != StatusPending, next: final.NextAttemptAt}
}

// recordOp is one attempt outcome handed to the recorder.
type recordOp struct {
	tenant, endpoint, id string
	r                    result
	final                *Delivery // the record as stored; nil when it was gone
	err                  error
	done                 chan struct{}
}

// recorder writes attempt outcomes in batches: every outcome waiting, up to 256, in
// one transaction (one sync), so that deliveries in flight share commits.
func (s *Service) recorder() {
	defer close(s.recDone)
	for {
		var batch []*recordOp
		select {
		case op := <-s.recs:
			batch = append(batch, op)
		case <-s.recStop:
			return
		}
	drain:
		for len(batch) < 256 {
			select {
			case op := <-s.recs:
				batch = append(batch, op)
			default:
				break drain
			}
		}
		err := s.d.DB.Update(func(txn *badger.Txn) error {
			for _, op := range batch {
				var err error
				if op.final, err = s.applyOutcome(txn, op); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			// One transaction for all failed (too big, or a store error): each alone.
			for _, op := range batch {
				op.err = s.d.DB.Update(func(txn *badger.Txn) error {
					var err error
					op.final, err = s.applyOutcome(txn, op)
					return err
				})
			}
		}
		for _, op := range batch {
			close(op.done)
		}
	}
}

// applyOutcome writes one attempt's outcome into txn and returns the delivery as stored (nil
// when it no longer exists: its endpoint was deleted meanwhile).
func (s *Service) applyOutcome(txn *badger.Txn, op *recordOp) (*Delivery, error) {
	r := op.r
	d, err := deliveries.Get(txn, op.tenant, op.endpoint, op.id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	d.Attempts++
	d.LastStatusCode, d.LastLatencyMs, d.LastError = r.code, r.latency.Milliseconds(), r.err
	d.UpdatedAt = r.at.UTC()
	switch {
	case r.err == "":
		d.Status, d.DeliveredAt, d.NextAttemptAt = StatusDelivered, r.at.UTC(), time.Time{}
	case r.retry:
		wait := backoff.Delay(s.o.BackoffBase, s.o.BackoffMax, d.Attempts)
		if r.retryAfter > wait {
			wait = r.retryAfter
		}
		next := r.at.Add(wait)
		if next.After(d.RetryUntil) {
			d.Status, d.NextAttemptAt = StatusFailed, time.Time{}
			d.LastError = fmt.Sprintf("retry horizon passed after %d attempts; last: %s", d.Attempts, r.err)
		} else {
			d.NextAttemptAt = next.UTC()
		}
	default:
		d.Status, d.NextAttemptAt = StatusFailed, time.Time{}
	}
	if err := deliveries.Put(txn, d, op.tenant, op.endpoint, op.id); err != nil {
		return nil, err
	}
	if d.Status == StatusPending {
		err = pendings.Put(txn, pendingEntry{Session: d.Session, Next: d.NextAttemptAt}, op.tenant, op.endpoint, op.id)
	} else {
		err = pendings.Delete(txn, op.tenant, op.endpoint, op.id)
	}
	return &d, err
}
