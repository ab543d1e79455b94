package tenant

import (
	"context"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// MessageUsage is what a tenant sent against its plan: the messages accepted today and
// this month (UTC), each day counted as CountMessages counts it.
type MessageUsage struct {
	// Day is today's UTC date (2006-01-02); Today the messages accepted on it.
	Day   string `json:"day"`
	Today int    `json:"today"`
	// Month is this UTC month (2006-01); ThisMonth the messages accepted in it,
	// today included.
	Month     string `json:"month"`
	ThisMonth int    `json:"thisMonth"`
}

// Messages returns the tenant's message usage: today's count from memory (what the
// daily limit checks, including messages accepted and not yet written), the month's
// other days from the store (one prefix scan of the tenant's per-day counters; in
// cluster mode every node's counters of those days, summed).
func (s *Service) Messages(ctx context.Context, tenantID string) (MessageUsage, error) {
	if _, err := s.Get(ctx, tenantID); err != nil {
		return MessageUsage{}, err
	}
	now := s.opts.Now().UTC()
	u := MessageUsage{Day: now.Format("2006-01-02"), Month: now.Format("2006-01")}
	s.usageMu.Lock()
	today, err := s.usedLocked(tenantID, u.Day)
	s.usageMu.Unlock()
	if err != nil {
		return u, err
	}
	u.Today = today
	err = s.db.View(func(txn *badger.Txn) error {
		return usage.Scan(txn, func(rest []string, n int) error {
			// rest is <day>, or <day>/<node> for a cluster node's counter.
			if (len(rest) == 1 || len(rest) == 2) && strings.HasPrefix(rest[0], u.Month+"-") && rest[0] != u.Day {
				u.ThisMonth += n
			}
			return ctx.Err()
		}, tenantID)
	})
	u.ThisMonth += today
	return u, err
}
