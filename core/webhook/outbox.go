package webhook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/store"
)

// Tap hands an event to the outbox. The event bus calls it for every event it
// publishes, on the publisher's goroutine. It costs a map lookup when no enabled
// endpoint of the event's tenant wants the event; otherwise the event is queued for
// the outbox writer, waiting (backpressure) if Options.Buffer events are already
// waiting — an event is never dropped. After Close, events are no longer taken.
func (s *Service) Tap(env event.Envelope) {
	if s.shut.Load() || !s.wanted(&env) {
		return
	}
	select {
	case s.in <- env:
	case <-s.stop:
	}
}

// wanted reports whether any enabled endpoint of env's tenant matches it.
func (s *Service) wanted(env *event.Envelope) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, st := range s.tenants[env.Tenant] {
		if matches(&st.ep, env) {
			return true
		}
	}
	return false
}

// writer writes waiting events to the outbox in batches: per event and matching
// endpoint a delivery record and a pending index entry, all of a batch in one write
// batch (one sync), then wakes the endpoints' workers. At Close it writes what was
// handed over before returning.
func (s *Service) writer() {
	defer s.wg.Done()
	const maxBatch = 256
	batch := make([]event.Envelope, 0, maxBatch)
	for {
		select {
		case env := <-s.in:
			batch = append(batch[:0], env)
		case <-s.stop:
			for {
				select {
				case env := <-s.in:
					s.write([]event.Envelope{env})
				default:
					return
				}
			}
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case env := <-s.in:
				batch = append(batch, env)
			default:
				break drain
			}
		}
		s.write(batch)
	}
}

// write stores a batch of events as deliveries. A store error is logged and counted;
// the events of that batch are then lost for webhooks only (SSE and WebSocket
// subscribers had them), which happens only when the store itself is failing.
//
// The read lock is held from matching to the flush, so an endpoint deleted meanwhile
// either gets its deliveries before its keys are removed, or none.
func (s *Service) write(batch []event.Envelope) {
	start := time.Now()
	now := s.o.Now().UTC()
	type ready struct {
		env  event.Envelope
		body []byte
	}
	out := make([]ready, 0, len(batch))
	for _, env := range batch {
		if s.d.Transform != nil {
			t, keep := s.d.Transform(context.Background(), env.Tenant, env)
			if !keep {
				s.metrics.dropped.Inc()
				continue
			}
			t.Tenant = env.Tenant // a transform cannot move an event to another tenant
			env = t
		}
		body, err := json.Marshal(env)
		if err != nil {
			s.log.Error("webhook: encoding event", "event", env.Event, "err", err)
			continue
		}
		out = append(out, ready{env, body})
	}
	wb := s.d.DB.Badger().NewWriteBatch()
	defer wb.Cancel()
	woken := map[*worker]struct{}{}
	n := 0
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range out {
		for id, st := range s.tenants[r.env.Tenant] {
			if !matches(&st.ep, &r.env) {
				continue
			}
			h := st.ep.RetryHorizon
			if h <= 0 {
				h = s.o.RetryHorizon
			}
			d := Delivery{
				ID: ids.New(ids.Delivery), Endpoint: id, EventID: r.env.ID, Event: r.env.Event,
				Session: r.env.Session, Status: StatusPending, NextAttemptAt: now,
				RetryUntil: now.Add(h), CreatedAt: now, UpdatedAt: now, Body: r.body,
			}
			if err := setDelivery(wb, r.env.Tenant, d); err != nil {
				s.log.Error("webhook: writing outbox", "err", err)
				continue
			}
			n++
			if st.w != nil {
				woken[st.w] = struct{}{}
			}
		}
	}
	if err := wb.Flush(); err != nil {
		s.metrics.outboxErrors.Inc()
		s.log.Error("webhook: committing outbox", "events", len(batch), "err", err)
		return
	}
	s.metrics.outboxWrites.Add(float64(n))
	s.metrics.outboxSeconds.Observe(time.Since(start).Seconds())
	for w := range woken {
		w.appended()
	}
}

// setDelivery writes a new pending delivery and its index entry into a write batch.
func setDelivery(wb *badger.WriteBatch, tenant string, d Delivery) error {
	rec, err := deliveries.Codec.Encode(d)
	if err != nil {
		return err
	}
	idx, err := pendings.Codec.Encode(pendingEntry{Session: d.Session, Next: d.NextAttemptAt})
	if err != nil {
		return err
	}
	if err := wb.Set(store.Key(store.PrefixWebhookDelivery, tenant, d.Endpoint, d.ID), rec); err != nil {
		return err
	}
	return wb.Set(store.Key(store.PrefixWebhookPending, tenant, d.Endpoint, d.ID), idx)
}
