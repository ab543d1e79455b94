package webhook

import (
	"context"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Backlog is a tenant's webhook backlog: its endpoints and the deliveries waiting to be
// delivered (pending: written to the outbox, neither delivered nor failed for good).
type Backlog struct {
	Endpoints int `json:"endpoints"`
	// Disabled counts the endpoints that receive nothing (disabled by the tenant or by
	// the gateway after failing for too long).
	Disabled int `json:"disabled"`
	// Pending counts the deliveries waiting, at most the count asked for; Truncated is
	// set when there are more.
	Pending   int  `json:"pending"`
	Truncated bool `json:"truncated,omitempty"`
}

// Backlog counts a tenant's pending deliveries, at most max, by their index keys (no
// value is read): one prefix iteration.
func (s *Service) Backlog(ctx context.Context, tenant string, max int) (Backlog, error) {
	var b Backlog
	for _, ep := range s.List(tenant) {
		b.Endpoints++
		if !ep.Enabled {
			b.Disabled++
		}
	}
	prefix := store.ScanPrefix(store.PrefixWebhookPending, tenant)
	err := s.d.DB.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if b.Pending == max {
				b.Truncated = true
				return nil
			}
			if b.Pending++; b.Pending%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	})
	return b, err
}
