package sandbox

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

var linkTable = store.Table[string]{Prefix: store.PrefixSandboxLink, Codec: store.JSONCodec[string]{}}

// StoreLinks is the LinkStore of a running gateway: links live in the gateway's Badger
// store at sbx/<tenant>/<session>, so they are encrypted and backed up with the rest.
type StoreLinks struct{ DB *store.DB }

// LoadLink implements LinkStore.
func (s StoreLinks) LoadLink(ctx context.Context, tenant, session string) (string, bool, error) {
	var phone string
	err := s.DB.View(func(txn *badger.Txn) error {
		var err error
		phone, err = linkTable.Get(txn, tenant, session)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	return phone, err == nil, err
}

// SaveLink implements LinkStore.
func (s StoreLinks) SaveLink(ctx context.Context, tenant, session, phone string) error {
	return s.DB.Update(func(txn *badger.Txn) error { return linkTable.Put(txn, phone, tenant, session) })
}

// DeleteLink implements LinkStore.
func (s StoreLinks) DeleteLink(ctx context.Context, tenant, session string) error {
	return s.DB.Update(func(txn *badger.Txn) error { return linkTable.Delete(txn, tenant, session) })
}

var _ LinkStore = StoreLinks{}
