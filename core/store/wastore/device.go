package wastore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// deviceStore implements every per-device store of whatsmeow for one device, like
// sqlstore.SQLStore. All its keys are below wam/<tenant>/<session>/dev/<device jid>/.
type deviceStore struct {
	c   *Container
	jid types.JID
	// dev is the encoded device JID part.
	dev string

	// migrated memoizes MigratePNToLID per phone number signal user, like sqlstore's
	// migratedPNSessionsCache; an entry is added only once the migration committed.
	migratedMu sync.Mutex
	migrated   map[string]struct{}
}

var _ wmstore.AllSessionSpecificStores = (*deviceStore)(nil)

func newDeviceStore(c *Container, jid types.JID) *deviceStore {
	return &deviceStore{c: c, jid: jid, dev: text(jid.String()), migrated: make(map[string]struct{})}
}

// parts returns the key parts of kind below the device, followed by more.
func (s *deviceStore) parts(kind string, more ...string) []string {
	return s.c.parts(levelDevice, append([]string{s.dev, kind}, more...)...)
}

// key returns the key of kind below the device, followed by more.
func (s *deviceStore) key(kind string, more ...string) []byte {
	return store.Key(store.PrefixWhatsmeow, s.parts(kind, more...)...)
}

// prefix returns the scan prefix of kind below the device followed by more, then
// tail appended as is (a partial part, such as text("123:")).
func (s *deviceStore) prefix(kind, tail string, more ...string) []byte {
	return append(store.ScanPrefix(store.PrefixWhatsmeow, s.parts(kind, more...)...), tail...)
}

// requireDevice fails with ErrNoDevice unless the device record exists: every write
// that may create a key checks it in its transaction first, as sqlstore's foreign keys
// do. The read also makes a concurrent DeleteDevice a conflict of txn.
func (s *deviceStore) requireDevice(txn *badger.Txn) error {
	ok, err := exists(txn, s.key(kindRecord))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoDevice, s.jid)
	}
	return nil
}

// getRaw reads a raw value; a missing key is nil without error.
func (s *deviceStore) getRaw(ctx context.Context, kind string, more ...string) ([]byte, error) {
	var v []byte
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		var err error
		v, err = raw.Get(txn, s.parts(kind, more...)...)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// putRaw writes a raw value for an existing device.
func (s *deviceStore) putRaw(ctx context.Context, v []byte, kind string, more ...string) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		return raw.Put(txn, v, s.parts(kind, more...)...)
	}, nil)
}

// DoDecryptionTxn runs fn in one Badger transaction carried by its context; see
// Container.doTxn.
func (s *deviceStore) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	return s.c.doTxn(ctx, fn)
}
