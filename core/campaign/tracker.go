package campaign

import (
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/store"
)

// recipientStatus folds a message status into a recipient status: sending is still
// queued.
func recipientStatus(s queue.Status) string {
	switch s {
	case queue.StatusQueued, queue.StatusSending:
		return RecipientQueued
	case queue.StatusSent:
		return RecipientSent
	case queue.StatusDelivered:
		return RecipientDelivered
	case queue.StatusRead:
		return RecipientRead
	}
	return RecipientFailed
}

// bump adds d to the count of recipient status st.
func (c *Counts) bump(st string, d int) {
	switch st {
	case RecipientQueued:
		c.Queued += d
	case RecipientSent:
		c.Sent += d
	case RecipientDelivered:
		c.Delivered += d
	case RecipientRead:
		c.Read += d
	case RecipientFailed:
		c.Failed += d
	case RecipientOptedOut:
		c.OptedOut += d
	}
}

// handled is how many recipients have a record: every count but Pending and Replied.
func (c Counts) handled() int {
	return c.Queued + c.Sent + c.Delivered + c.Read + c.Failed + c.OptedOut
}

// Track implements queue.Tracker: inside the transaction that changes a campaign
// message, it moves the message's recipient to its new status and the campaign's
// counts with it. A message whose recipient is gone (the campaign deleted) or is
// another message (a recipient re-queued by hand) changes nothing here.
func (s *Service) Track(txn *badger.Txn, tenant string, before queue.Status, m queue.Message) error {
	r, err := recipients.Get(txn, tenant, m.Campaign, m.ChatID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.MessageID != m.ID {
		return nil
	}
	to := recipientStatus(m.Status)
	from := r.Status
	if from == to {
		return nil
	}
	st, err := progress.Get(txn, tenant, m.Campaign)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	st.Counts.bump(from, -1)
	st.Counts.bump(to, 1)
	if from == RecipientFailed && r.Reason != "" && st.Counts.FailedBy[r.Reason] > 0 {
		st.Counts.FailedBy[r.Reason]--
		if st.Counts.FailedBy[r.Reason] == 0 {
			delete(st.Counts.FailedBy, r.Reason)
		}
	}
	now := s.opts.Now().UTC()
	r.Status, r.UpdatedAt, r.Reason, r.Session = to, now, "", m.Session
	if to == RecipientFailed {
		r.Reason = m.Reason
		if r.Reason == "" {
			r.Reason = "failed"
		}
		if st.Counts.FailedBy == nil {
			st.Counts.FailedBy = map[string]int{}
		}
		st.Counts.FailedBy[r.Reason]++
	}
	if (to == RecipientSent || to == RecipientDelivered || to == RecipientRead) && r.SentAt.IsZero() {
		r.SentAt = now
	}
	if err := recipients.Put(txn, r, tenant, m.Campaign, m.ChatID); err != nil {
		return err
	}
	if err := progress.Put(txn, st, tenant, m.Campaign); err != nil {
		return err
	}
	s.poke(tenant, m.Campaign)
	return nil
}

var _ queue.Tracker = (*Service)(nil)
