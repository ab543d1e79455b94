package audience

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/store"
)

// idPrefix starts every list id.
const idPrefix = "lst"

// CheckName checks a list name: 1 to 100 characters of text, no control characters,
// not only spaces.
func CheckName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxNameLen || !utf8.ValidString(name) || strings.TrimSpace(name) == "" ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return ErrInvalidName
	}
	return nil
}

// CheckListID reports whether id can be a list id (so that it may go into a key);
// ids that cannot are simply not found.
func checkListID(id string) error {
	if !strings.HasPrefix(id, idPrefix+"_") || len(id) > 64 || strings.ContainsAny(id, "/ ") {
		return ErrListNotFound
	}
	return nil
}

// CreateList creates an empty list. ErrInvalidName, ErrTooManyLists.
func (s *Service) CreateList(ctx context.Context, tenant, name string) (List, error) {
	if err := CheckName(name); err != nil {
		return List{}, err
	}
	if err := ctx.Err(); err != nil {
		return List{}, err
	}
	s.create.Lock()
	defer s.create.Unlock()
	now := s.o.Now().UTC()
	l := List{ID: ids.New(idPrefix), Name: name, Columns: []string{}, CreatedAt: now, UpdatedAt: now}
	err := s.db.Update(func(txn *badger.Txn) error {
		n, err := countKeys(txn, store.ScanPrefix(store.PrefixList, tenant))
		if err != nil {
			return err
		}
		if n >= s.o.MaxLists {
			return fmt.Errorf("%w: the tenant has %d lists, the most campaigns.max_lists allows", ErrTooManyLists, n)
		}
		return lists.Put(txn, l, tenant, l.ID)
	})
	if err != nil {
		return List{}, fmt.Errorf("creating list for tenant %s: %w", tenant, err)
	}
	return l, nil
}

// GetList returns a list. ErrListNotFound.
func (s *Service) GetList(ctx context.Context, tenant, id string) (List, error) {
	var l List
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		l, err = getList(txn, tenant, id)
		return err
	})
	return l, err
}

// getList reads a list in txn; ErrListNotFound when absent.
func getList(txn *badger.Txn, tenant, id string) (List, error) {
	if err := checkListID(id); err != nil {
		return List{}, err
	}
	l, err := lists.Get(txn, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return List{}, ErrListNotFound
	}
	if l.Columns == nil {
		l.Columns = []string{}
	}
	return l, err
}

// Lists returns the tenant's lists, newest first.
func (s *Service) Lists(ctx context.Context, tenant string) ([]List, error) {
	out := []List{}
	err := s.db.View(func(txn *badger.Txn) error {
		return lists.Scan(txn, func(_ []string, l List) error {
			if l.Columns == nil {
				l.Columns = []string{}
			}
			out = append(out, l)
			return nil
		}, tenant)
	})
	if err != nil {
		return nil, fmt.Errorf("listing lists of tenant %s: %w", tenant, err)
	}
	slices.Reverse(out) // ids are ULIDs: key order is creation order
	return out, nil
}

// DeleteList deletes a list and its contacts. ErrListNotFound; ErrListInUse while
// Options.InUse says a campaign uses it. The list record goes first, so a delete cut
// short leaves no list, only contacts that no id reaches (a new list gets a new id);
// running it again removes them.
func (s *Service) DeleteList(ctx context.Context, tenant, id string) error {
	if err := checkListID(id); err != nil {
		return err
	}
	unlock := s.lockList(tenant, id)
	defer unlock()
	if s.o.InUse != nil && s.o.InUse(tenant, id) {
		return ErrListInUse
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		if _, err := getList(txn, tenant, id); err != nil {
			return err
		}
		return lists.Delete(txn, tenant, id)
	})
	if err != nil {
		return err
	}
	if err := s.db.DeletePrefix(store.ScanPrefix(store.PrefixListContact, tenant, id)); err != nil {
		return fmt.Errorf("deleting the contacts of list %s of tenant %s: %w", id, tenant, err)
	}
	return nil
}

// Contacts returns up to n contacts of a list in chat id key order, those after the
// chat id after ("" from the start), and the cursor of the next page ("" at the end).
// ErrListNotFound, ErrInvalidCursor.
func (s *Service) Contacts(ctx context.Context, tenant, id, after string, n int) ([]Contact, string, error) {
	if err := checkCursor(after); err != nil {
		return nil, "", err
	}
	n = clampPage(n)
	var out []Contact
	var next string
	err := s.db.View(func(txn *badger.Txn) error {
		if _, err := getList(txn, tenant, id); err != nil {
			return err
		}
		var err error
		out, next, err = page(txn, contacts, store.ScanPrefix(store.PrefixListContact, tenant, id), after, n,
			func(c Contact) string { return c.ChatID.String() })
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Export writes the list as CSV: a header chatId,name,<columns...>, then one row per
// contact in chat id order. It reads the list in pages, one transaction each, so a
// large list does not hold one transaction open; contacts imported meanwhile may or
// may not be in it. The output is what Import reads back.
func (s *Service) Export(ctx context.Context, tenant, id string, w io.Writer) error {
	l, err := s.GetList(ctx, tenant, id)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	header := append([]string{"chatId", "name"}, l.Columns...)
	if err := cw.Write(header); err != nil {
		return err
	}
	row := make([]string, len(header))
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cs, next, err := s.Contacts(ctx, tenant, id, after, MaxPage)
		if err != nil {
			return err
		}
		for _, c := range cs {
			row[0], row[1] = c.ChatID.String(), c.Name
			for i, col := range l.Columns {
				row[2+i] = c.Attrs[col]
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// RemoveContact removes a contact from a list; a contact not in it is not an error.
// ErrListNotFound.
func (s *Service) RemoveContact(ctx context.Context, tenant, id string, chat chatid.ID) error {
	if err := checkListID(id); err != nil {
		return err
	}
	if chat.IsZero() {
		return fmt.Errorf("%w: empty", ErrInvalidChat)
	}
	unlock := s.lockList(tenant, id)
	defer unlock()
	return s.db.Update(func(txn *badger.Txn) error {
		l, err := getList(txn, tenant, id)
		if err != nil {
			return err
		}
		_, err = txn.Get(store.Key(store.PrefixListContact, tenant, id, chat.String()))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := contacts.Delete(txn, tenant, id, chat.String()); err != nil {
			return err
		}
		l.Count--
		l.UpdatedAt = s.o.Now().UTC()
		return lists.Put(txn, l, tenant, id)
	})
}

// checkCursor checks a paging cursor: "" or a canonical chat id.
func checkCursor(after string) error {
	if after == "" {
		return nil
	}
	id, err := chatid.Parse(after)
	if err != nil || id.String() != after {
		return ErrInvalidCursor
	}
	return nil
}

func clampPage(n int) int {
	if n <= 0 {
		return 100
	}
	return min(n, MaxPage)
}

// page reads up to n values of t below prefix whose last key part sorts after after,
// and the cursor of the next page (the last value's key part, "" when none remain).
func page[T any](txn *badger.Txn, t store.Table[T], prefix []byte, after string, n int, cursor func(T) string) ([]T, string, error) {
	out := make([]T, 0, min(n, 64))
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: min(n+1, 100), Prefix: prefix})
	defer it.Close()
	start := prefix
	if after != "" {
		start = append(slices.Clone(prefix), after...)
	}
	for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		if after != "" && string(item.Key()[len(prefix):]) == after {
			continue
		}
		if len(out) == n {
			return out, cursor(out[n-1]), nil
		}
		var v T
		if err := item.Value(func(b []byte) error {
			var err error
			v, err = t.Codec.Decode(b)
			return err
		}); err != nil {
			return nil, "", fmt.Errorf("decoding %s: %w", item.Key(), err)
		}
		out = append(out, v)
	}
	return out, "", nil
}

// countKeys counts the keys below prefix.
func countKeys(txn *badger.Txn, prefix []byte) (int, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	n := 0
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		n++
	}
	return n, nil
}
