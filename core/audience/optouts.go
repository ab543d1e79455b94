package audience

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/store"
)

// OptOut adds chats to the tenant's opt-out list, with why (ReasonAPI, ReasonStopWord)
// and, for a stop word, the session it reached. A chat already on the list keeps its
// first entry and is not counted. It returns how many were added, and publishes an
// optout.added event for each. Chats that are not users (Reachable) are refused with
// ErrInvalidChat before anything is written.
func (s *Service) OptOut(ctx context.Context, tenant string, chats []chatid.ID, reason, session string) (added int, err error) {
	for _, c := range chats {
		if !Reachable(c) {
			return 0, fmt.Errorf("%w: %q is not a user (@c.us, @lid)", ErrInvalidChat, c.String())
		}
	}
	var fresh []OptOut
	for start := 0; start < len(chats); start += BatchSize {
		if err := ctx.Err(); err != nil {
			return added, err
		}
		part := chats[start:min(start+BatchSize, len(chats))]
		now := s.o.Now().UTC()
		var batch []OptOut
		err := s.db.Update(func(txn *badger.Txn) error {
			batch = batch[:0]
			for _, c := range part {
				_, err := txn.Get(store.Key(store.PrefixOptOut, tenant, c.String()))
				if err == nil {
					continue
				}
				if !errors.Is(err, badger.ErrKeyNotFound) {
					return err
				}
				o := OptOut{ChatID: c, Reason: reason, At: now}
				if reason == ReasonStopWord {
					o.Session = session
				}
				// A chat twice in the same call: the second Get sees the first Put.
				if err := optouts.Put(txn, o, tenant, c.String()); err != nil {
					return err
				}
				batch = append(batch, o)
			}
			return nil
		})
		if err != nil {
			return added, fmt.Errorf("adding opt-outs of tenant %s: %w", tenant, err)
		}
		added += len(batch)
		fresh = append(fresh, batch...)
	}
	if s.o.Publish != nil {
		for _, o := range fresh {
			s.o.Publish(event.New(event.OptOutAdded, tenant, o.Session, o))
		}
	}
	return added, nil
}

// OptedOut reports whether the chat is on the tenant's opt-out list, inside the
// caller's transaction (the campaign runner checks it in the transaction that
// enqueues the contact's message).
func (s *Service) OptedOut(txn *badger.Txn, tenant string, chat chatid.ID) (bool, error) {
	if chat.IsZero() {
		return false, nil
	}
	_, err := txn.Get(store.Key(store.PrefixOptOut, tenant, chat.String()))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return false, nil
	}
	return false, err
}

// OptOuts returns up to n opt-outs of the tenant in chat id key order, those after the
// chat id after ("" from the start), and the cursor of the next page ("" at the end).
// ErrInvalidCursor.
func (s *Service) OptOuts(ctx context.Context, tenant, after string, n int) ([]OptOut, string, error) {
	if err := checkCursor(after); err != nil {
		return nil, "", err
	}
	n = clampPage(n)
	var out []OptOut
	var next string
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		out, next, err = page(txn, optouts, store.ScanPrefix(store.PrefixOptOut, tenant), after, n,
			func(o OptOut) string { return o.ChatID.String() })
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("listing opt-outs of tenant %s: %w", tenant, err)
	}
	return out, next, nil
}

// GetOptOut returns the chat's opt-out. ErrOptOutNotFound.
func (s *Service) GetOptOut(ctx context.Context, tenant string, chat chatid.ID) (OptOut, error) {
	if chat.IsZero() {
		return OptOut{}, ErrOptOutNotFound
	}
	var o OptOut
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		o, err = optouts.Get(txn, tenant, chat.String())
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return OptOut{}, ErrOptOutNotFound
	}
	return o, err
}

// RemoveOptOut takes the chat off the tenant's opt-out list: campaigns may send to it
// again. ErrOptOutNotFound when it is not on it.
func (s *Service) RemoveOptOut(ctx context.Context, tenant string, chat chatid.ID) error {
	if chat.IsZero() {
		return ErrOptOutNotFound
	}
	return s.db.Update(func(txn *badger.Txn) error {
		key := store.Key(store.PrefixOptOut, tenant, chat.String())
		if _, err := txn.Get(key); errors.Is(err, badger.ErrKeyNotFound) {
			return ErrOptOutNotFound
		} else if err != nil {
			return err
		}
		return txn.Delete(key)
	})
}
