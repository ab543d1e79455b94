package webhook

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/backoff"
	"github.com/wagate/wagate/core/store"
)

// maxScan bounds the pending entries one worker pass reads.
const maxScan = 4096

// worker delivers one endpoint's pending deliveries: it scans the pending index in
// order, starts every delivery that is due (at most Options.MaxInFlightPerEndpoint at
// once, and for an ordered endpoint only the oldest pending delivery of each session),
// and sleeps until a delivery finishes, a new one is written, or the next retry is due.
type worker struct {
	s                *Service
	tenant, endpoint string
	wake             chan struct{} // kick: something changed
	finished         chan string   // a delivery goroutine is done
	stop             chan struct{}
	stopOnce         sync.Once
	done             chan struct{} // closed when run has returned
}

func newWorker(s *Service, tenant, endpoint string) *worker {
	return &worker{
		s: s, tenant: tenant, endpoint: endpoint,
		wake:     make(chan struct{}, 1),
		finished: make(chan string, s.o.MaxInFlightPerEndpoint),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// kick makes the worker scan again soon. Never blocks.
func (w *worker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// quit asks the worker to stop; it returns once its deliveries in flight are done.
func (w *worker) quit() { w.stopOnce.Do(func() { close(w.stop) }) }

func (w *worker) run() {
	defer w.s.wg.Done()
	defer close(w.done)
	inflight := map[string]string{} // delivery id -> session
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := w.pass(inflight)
		timer.Stop()
		var due <-chan time.Time
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), time.Millisecond))
			due = timer.C
		}
		select {
		case <-w.stop:
			for len(inflight) > 0 {
				delete(inflight, <-w.finished)
			}
			return
		case id := <-w.finished:
			delete(inflight, id)
		case <-w.wake:
		case <-due:
		}
	}
}

// pass starts what is due and returns when the earliest waiting delivery becomes due
// (zero: nothing waits on time).
func (w *worker) pass(inflight map[string]string) time.Time {
	ep, ok := w.s.endpoint(w.tenant, w.endpoint)
	if !ok {
		return time.Time{}
	}
	ordered := !ep.Unordered
	held := map[string]bool{} // sessions whose oldest pending delivery is in flight or waiting
	if ordered {
		for _, sess := range inflight {
			held[sess] = true
		}
	}
	now := w.s.o.Now()
	var next time.Time
	type due struct{ id, session string }
	var start []due
	room := w.s.o.MaxInFlightPerEndpoint - len(inflight)
	err := w.s.d.DB.View(func(txn *badger.Txn) error {
		n := 0
		return pendings.Scan(txn, func(rest []string, pe pendingEntry) error {
			if n++; n > maxScan || room <= 0 {
				return errStop
			}
			id := rest[0]
			if _, busy := inflight[id]; busy {
				return nil
			}
			if ordered {
				if held[pe.Session] {
					return nil
				}
				held[pe.Session] = true
			}
			if pe.Next.After(now) {
				if next.IsZero() || pe.Next.Before(next) {
					next = pe.Next
				}
				return nil
			}
			start = append(start, due{id, pe.Session})
			room--
			return nil
		}, w.tenant, w.endpoint)
	})
	if err != nil && !errors.Is(err, errStop) {
		w.s.log.Error("webhook: scanning outbox", "tenant", w.tenant, "endpoint", w.endpoint, "err", err)
		return now.Add(time.Second)
	}
	for _, st := range start {
		select {
		case w.s.sem <- struct{}{}:
		case <-w.stop:
			return time.Time{}
		}
		inflight[st.id] = st.session
		go func() {
			defer func() {
				<-w.s.sem
				w.finished <- st.id
			}()
			w.s.attempt(w.tenant, w.endpoint, st.id)
		}()
	}
	return next
}

// attempt makes one HTTP attempt of a delivery and records its outcome.
func (s *Service) attempt(tenant, endpoint, id string) {
	ep, ok := s.endpoint(tenant, endpoint)
	if !ok || !ep.Enabled {
		return
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
		}
		return
	}
	if d.Status != StatusPending {
		return
	}
	res := s.post(&ep, &d)
	s.record(tenant, &ep, id, res)
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

// record stores an attempt's outcome: delivered, retry at a later time, or failed; and
// updates the endpoint's health.
func (s *Service) record(tenant string, ep *Endpoint, id string, r result) {
	var final *Delivery
	err := s.d.DB.Update(func(txn *badger.Txn) error {
		d, err := deliveries.Get(txn, tenant, ep.ID, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil // endpoint deleted meanwhile
			}
			return err
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
		if err := deliveries.Put(txn, d, tenant, ep.ID, id); err != nil {
			return err
		}
		final = &d
		if d.Status == StatusPending {
			return pendings.Put(txn, pendingEntry{Session: d.Session, Next: d.NextAttemptAt}, tenant, ep.ID, id)
		}
		return pendings.Delete(txn, tenant, ep.ID, id)
	})
	if err != nil {
		s.log.Error("webhook: recording attempt", "delivery", id, "err", err)
		return
	}
	outcome := "delivered"
	switch {
	case final == nil:
		return
	case final.Status == StatusFailed:
		outcome = "failed"
	case final.Status == StatusPending:
		outcome = "retry"
	}
	s.metrics.attempts.WithLabelValues(outcome).Inc()
	s.metrics.latency.Observe(r.latency.Seconds())
	if r.err == "" {
		s.succeeded(tenant, ep.ID)
	} else {
		s.log.Info("webhook attempt failed", "tenant", tenant, "endpoint", ep.ID, "delivery", id,
			"attempt", final.Attempts, "outcome", outcome, "err", r.err)
		s.failed(tenant, ep.ID, r.at, r.err)
	}
}
