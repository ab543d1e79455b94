package wastore

import (
	"context"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// Listing the LID map, which whatsmeow's LIDStore cannot do: the API's
// GET /api/{session}/lids pages through it, and /lids/count counts it.

// List returns up to limit pairs of the map, skipping offset, in the order of the
// LID user as text (the key order of lid/<lid user>). Values are read only for the
// page.
func (m *LIDMap) List(ctx context.Context, offset, limit int) ([]wmstore.LIDMapping, error) {
	var out []wmstore.LIDMapping
	if limit <= 0 {
		return out, nil
	}
	prefix := store.ScanPrefix(store.PrefixWhatsmeow, m.c.parts(levelLID)...)
	err := m.c.view(ctx, func(txn *badger.Txn) error {
		skipped := 0
		return scan(txn, prefix, false, func(item *badger.Item) (bool, error) {
			if skipped < offset {
				skipped++
				return true, nil
			}
			lid, err := untext(string(item.Key()[len(prefix):]))
			if err != nil {
				return false, err
			}
			pn, err := item.ValueCopy(nil)
			if err != nil || len(pn) == 0 {
				return err == nil, err
			}
			out = append(out, wmstore.LIDMapping{
				LID: types.JID{User: lid, Server: types.HiddenUserServer},
				PN:  types.JID{User: string(pn), Server: types.DefaultUserServer},
			})
			return len(out) < limit, ctx.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Count returns how many pairs the map holds: a key-only scan.
func (m *LIDMap) Count(ctx context.Context) (int, error) {
	prefix := store.ScanPrefix(store.PrefixWhatsmeow, m.c.parts(levelLID)...)
	n := 0
	err := m.c.view(ctx, func(txn *badger.Txn) error {
		return scan(txn, prefix, false, func(*badger.Item) (bool, error) {
			n++
			if n%4096 == 0 {
				return true, ctx.Err()
			}
			return true, nil
		})
	})
	return n, err
}
