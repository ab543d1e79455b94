package campaign

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Replied records an inbound message from chat (a normalized chat id) received at at:
// every campaign of the tenant whose message to chat was sent within the reply window
// before at (Options.ReplyWindow) counts the recipient as replied, once. Campaigns
// over for longer than the window are not read.
func (s *Service) Replied(tenant, chat string, at time.Time) error {
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		return campaigns.Scan(txn, func(_ []string, c Campaign) error {
			if c.Status == StatusDraft || (c.FinishedAt != nil && at.Sub(*c.FinishedAt) > s.opts.ReplyWindow) {
				return nil
			}
			ids = append(ids, c.ID)
			return nil
		}, tenant)
	})
	if err != nil {
		return err
	}
	eligible := func(r Recipient) bool {
		return !r.Replied && !r.SentAt.IsZero() && !at.Before(r.SentAt) && at.Sub(r.SentAt) <= s.opts.ReplyWindow
	}
	for _, id := range ids {
		// Most inbound messages are from no recipient: read before writing.
		var found bool
		if err := s.db.View(func(txn *badger.Txn) error {
			r, err := recipients.Get(txn, tenant, id, chat)
			found = err == nil && eligible(r)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}); err != nil {
			return err
		}
		if !found {
			continue
		}
		err := s.db.Update(func(txn *badger.Txn) error {
			r, err := recipients.Get(txn, tenant, id, chat)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if !eligible(r) {
				return nil
			}
			r.Replied = true
			if err := recipients.Put(txn, r, tenant, id, chat); err != nil {
				return err
			}
			st, err := progress.Get(txn, tenant, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			st.Counts.Replied++
			return progress.Put(txn, st, tenant, id)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// UsesList reports whether a campaign of the tenant that is not over (draft,
// scheduled, running, paused) uses the list: core/audience then refuses to delete it.
func (s *Service) UsesList(tenant, listID string) bool {
	used := false
	_ = s.db.View(func(txn *badger.Txn) error {
		return campaigns.Scan(txn, func(_ []string, c Campaign) error {
			if c.ListID == listID && !c.Status.final() {
				used = true
				return errStopScan
			}
			return nil
		}, tenant)
	})
	return used
}

var errStopScan = errors.New("stop")
