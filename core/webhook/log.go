package webhook

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/store"
)

// ListOptions select deliveries of an endpoint, newest first.
type ListOptions struct {
	// Status, when set, keeps only deliveries in that status.
	Status string
	// Before, when set, starts after this delivery id (the previous page's Next).
	Before string
	// Limit is the page size, 1 to 500 (0 means 50).
	Limit int
}

// Page is one page of the delivery log.
type Page struct {
	Deliveries []Delivery `json:"deliveries"`
	// Next is the Before of the next page, "" on the last page.
	Next string `json:"next,omitempty"`
}

// Deliveries lists an endpoint's delivery log, newest first, without bodies.
func (s *Service) Deliveries(tenant, endpoint string, o ListOptions) (Page, error) {
	if _, ok := s.endpoint(tenant, endpoint); !ok {
		return Page{}, fmt.Errorf("%w: %s", ErrNotFound, endpoint)
	}
	switch o.Status {
	case "", StatusPending, StatusDelivered, StatusFailed:
	default:
		return Page{}, &FieldError{"status", "one of pending, delivered, failed"}
	}
	if o.Limit == 0 {
		o.Limit = 50
	}
	if o.Limit < 1 || o.Limit > 500 {
		return Page{}, &FieldError{"limit", "between 1 and 500"}
	}
	if o.Before != "" && !validDeliveryID(o.Before) {
		return Page{}, &FieldError{"before", "a delivery id"}
	}
	page := Page{Deliveries: []Delivery{}}
	prefix := store.ScanPrefix(store.PrefixWebhookDelivery, tenant, endpoint)
	err := s.d.DB.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
		defer it.Close()
		seek := append(append([]byte{}, prefix...), 0xff)
		if o.Before != "" {
			seek = store.Key(store.PrefixWebhookDelivery, tenant, endpoint, o.Before)
		}
		for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
			var d Delivery
			if err := it.Item().Value(func(b []byte) error {
				var err error
				d, err = deliveries.Codec.Decode(b)
				return err
			}); err != nil {
				return err
			}
			if d.ID == o.Before || (o.Status != "" && d.Status != o.Status) {
				continue
			}
			if len(page.Deliveries) == o.Limit {
				page.Next = page.Deliveries[len(page.Deliveries)-1].ID
				return nil
			}
			d.Body = nil
			page.Deliveries = append(page.Deliveries, d)
		}
		return nil
	})
	return page, err
}

func validDeliveryID(id string) bool {
	_, ok := ids.Time(id)
	return ok && strings.HasPrefix(id, ids.Delivery+"_")
}

// Delivery returns one delivery, body included.
func (s *Service) Delivery(tenant, endpoint, id string) (Delivery, error) {
	if _, ok := s.endpoint(tenant, endpoint); !ok {
		return Delivery{}, fmt.Errorf("%w: %s", ErrNotFound, endpoint)
	}
	if !validDeliveryID(id) {
		return Delivery{}, fmt.Errorf("%w: %s", ErrDeliveryNotFound, id)
	}
	var d Delivery
	err := s.d.DB.View(func(txn *badger.Txn) error {
		var err error
		d, err = deliveries.Get(txn, tenant, endpoint, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Delivery{}, fmt.Errorf("%w: %s", ErrDeliveryNotFound, id)
	}
	if len(d.Body) > 0 {
		d.BodyEncoding = "base64"
	}
	return d, err
}

// Retry makes a delivery pending again, due now, with a fresh retry horizon: a failed
// one is resent, a pending one is tried at once, a delivered one is sent again (same
// webhook-id, so a receiver that deduplicates ignores it).
func (s *Service) Retry(tenant, endpoint, id string) (Delivery, error) {
	ep, ok := s.endpoint(tenant, endpoint)
	if !ok {
		return Delivery{}, fmt.Errorf("%w: %s", ErrNotFound, endpoint)
	}
	if !validDeliveryID(id) {
		return Delivery{}, fmt.Errorf("%w: %s", ErrDeliveryNotFound, id)
	}
	now := s.o.Now().UTC()
	var d Delivery
	err := s.d.DB.Update(func(txn *badger.Txn) error {
		var err error
		if d, err = deliveries.Get(txn, tenant, endpoint, id); err != nil {
			return err
		}
		d.Status, d.NextAttemptAt, d.RetryUntil, d.UpdatedAt = StatusPending, now, now.Add(s.horizon(&ep)), now
		if err := deliveries.Put(txn, d, tenant, endpoint, id); err != nil {
			return err
		}
		return pendings.Put(txn, pendingEntry{Session: d.Session, Next: now}, tenant, endpoint, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return Delivery{}, fmt.Errorf("%w: %s", ErrDeliveryNotFound, id)
	}
	if err != nil {
		return Delivery{}, err
	}
	s.withWorker(tenant, endpoint, func(w *worker) { w.requeue(d.ID, d.Session, now) })
	d.Body = nil
	return d, nil
}

// MaxReplay bounds the deliveries one Replay creates.
const MaxReplay = 10000

// Replay sends again, as new deliveries, every delivery of the endpoint created in
// [since, until), oldest first, whatever their status: what the endpoint missed while
// it was down, or everything again after the receiver lost data. It returns how many
// it created and whether it stopped at MaxReplay (replay from the last one's time to
// continue). Only deliveries still in the log (Options.Retention) can be replayed.
func (s *Service) Replay(tenant, endpoint string, since, until time.Time) (n int, truncated bool, err error) {
	ep, ok := s.endpoint(tenant, endpoint)
	if !ok {
		return 0, false, fmt.Errorf("%w: %s", ErrNotFound, endpoint)
	}
	if !until.After(since) {
		return 0, false, &FieldError{"until", "must be after since"}
	}
	now := s.o.Now().UTC()
	var olds []Delivery
	err = s.d.DB.View(func(txn *badger.Txn) error {
		return deliveries.Scan(txn, func(_ []string, d Delivery) error {
			if d.CreatedAt.Before(since) || !d.CreatedAt.Before(until) {
				return nil
			}
			if len(olds) == MaxReplay {
				truncated = true
				return errStop
			}
			olds = append(olds, d)
			return nil
		}, tenant, endpoint)
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, false, err
	}
	wb := s.d.DB.Badger().NewWriteBatch()
	defer wb.Cancel()
	for _, old := range olds {
		d := Delivery{
			ID: ids.New(ids.Delivery), Endpoint: endpoint, EventID: old.EventID, Event: old.Event,
			Session: old.Session, Status: StatusPending, NextAttemptAt: now,
			RetryUntil: now.Add(s.horizon(&ep)), CreatedAt: now, UpdatedAt: now, Body: old.Body,
		}
		if err := setDelivery(wb, tenant, d); err != nil {
			return 0, false, err
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, false, err
	}
	s.withWorker(tenant, endpoint, (*worker).appended)
	return len(olds), truncated, nil
}

func (s *Service) horizon(ep *Endpoint) time.Duration {
	if ep.RetryHorizon > 0 {
		return ep.RetryHorizon
	}
	return s.o.RetryHorizon
}

// withWorker calls fn with an endpoint's worker, if it runs.
func (s *Service) withWorker(tenant, endpoint string, fn func(*worker)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st := s.tenants[tenant][endpoint]; st != nil && st.w != nil {
		fn(st.w)
	}
}

// sweeper removes delivered and failed deliveries older than Options.Retention, once
// at start and then every hour.
func (s *Service) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.Sweep()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// Sweep removes, for every endpoint, the finished deliveries created before now minus
// Options.Retention. Pending deliveries are never removed. It returns how many it
// removed.
func (s *Service) Sweep() int {
	cutoff := s.o.Now().Add(-s.o.Retention)
	type key struct{ tenant, endpoint string }
	var eps []key
	s.mu.RLock()
	for t, m := range s.tenants {
		for id := range m {
			eps = append(eps, key{t, id})
		}
	}
	s.mu.RUnlock()
	removed := 0
	for _, k := range eps {
		var old [][]byte
		s.d.DB.View(func(txn *badger.Txn) error {
			return deliveries.Scan(txn, func(rest []string, d Delivery) error {
				if !d.CreatedAt.Before(cutoff) {
					return errStop // ids are in creation order: the rest is newer
				}
				if d.Status != StatusPending {
					old = append(old, store.Key(store.PrefixWebhookDelivery, k.tenant, k.endpoint, rest[0]))
				}
				return nil
			}, k.tenant, k.endpoint)
		})
		for len(old) > 0 {
			n := min(len(old), 1000)
			err := s.d.DB.Update(func(txn *badger.Txn) error {
				for _, key := range old[:n] {
					if err := txn.Delete(key); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				s.log.Error("webhook: retention sweep", "err", err)
				break
			}
			removed += n
			old = old[n:]
		}
	}
	return removed
}
