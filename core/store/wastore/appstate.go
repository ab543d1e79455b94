package wastore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"

	"github.com/wagate/wagate/core/store"
)

// App state: sync keys, versions (with their LT hash) and mutation MACs.

// syncKeyRecord is a stored app state sync key.
type syncKeyRecord struct {
	Data        []byte `json:"data"`
	Fingerprint []byte `json:"fingerprint"`
	Timestamp   int64  `json:"timestamp"`
}

var syncKeys = store.Table[syncKeyRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[syncKeyRecord]{}}

// PutAppStateSyncKey saves key under id, unless a key with the same or a later
// timestamp is saved under id already: the newest key wins, as with sqlstore's
// conditional upsert.
func (s *deviceStore) PutAppStateSyncKey(ctx context.Context, id []byte, key wmstore.AppStateSyncKey) error {
	if key.Data == nil || key.Fingerprint == nil {
		return fmt.Errorf("%w: app state sync key without data or fingerprint", ErrInvalidValue)
	}
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		parts := s.parts(kindSyncKey, bin(id))
		old, err := syncKeys.Get(txn, parts...)
		switch {
		case err == nil && key.Timestamp <= old.Timestamp:
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		return syncKeys.Put(txn, syncKeyRecord{Data: key.Data, Fingerprint: key.Fingerprint, Timestamp: key.Timestamp}, parts...)
	}, nil)
}

// GetAppStateSyncKey returns the key saved under id, nil when there is none.
func (s *deviceStore) GetAppStateSyncKey(ctx context.Context, id []byte) (*wmstore.AppStateSyncKey, error) {
	var key *wmstore.AppStateSyncKey
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		rec, err := syncKeys.Get(txn, s.parts(kindSyncKey, bin(id))...)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		key = &wmstore.AppStateSyncKey{Data: nilIfEmpty(rec.Data), Fingerprint: nilIfEmpty(rec.Fingerprint), Timestamp: rec.Timestamp}
		return nil
	})
	return key, err
}

// GetAllAppStateSyncKeys returns every app state sync key of the device, latest
// timestamp first (of equal ones, the lowest id first, as SQLite returns them); nil
// when there is none.
func (s *deviceStore) GetAllAppStateSyncKeys(ctx context.Context) ([]*wmstore.AppStateSyncKey, error) {
	var out []*wmstore.AppStateSyncKey
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		// Scan order is key id order; the stable sort keeps it among equal timestamps.
		return syncKeys.Scan(txn, func(_ []string, rec syncKeyRecord) error {
			out = append(out, &wmstore.AppStateSyncKey{Data: nilIfEmpty(rec.Data), Fingerprint: nilIfEmpty(rec.Fingerprint), Timestamp: rec.Timestamp})
			return nil
		}, s.parts(kindSyncKey)...)
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *wmstore.AppStateSyncKey) int { return cmp.Compare(b.Timestamp, a.Timestamp) })
	return out, nil
}

// GetLatestAppStateSyncKeyID returns the id of the key with the latest timestamp (of
// equal ones, the lowest id, as SQLite returns them), nil when there is none.
func (s *deviceStore) GetLatestAppStateSyncKeyID(ctx context.Context) ([]byte, error) {
	var latest []byte
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		var best int64
		found := false
		return syncKeys.Scan(txn, func(rest []string, rec syncKeyRecord) error {
			if found && rec.Timestamp <= best {
				return nil
			}
			id, err := unbin(rest[0])
			if err != nil {
				return fmt.Errorf("sync key id %q: %w", rest[0], err)
			}
			latest, best, found = id, rec.Timestamp, true
			return nil
		}, s.parts(kindSyncKey)...)
	})
	if err != nil {
		return nil, err
	}
	return latest, nil
}

// versionRecord is a stored app state version.
type versionRecord struct {
	Version uint64 `json:"version"`
	Hash    []byte `json:"hash"`
}

var versions = store.Table[versionRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[versionRecord]{}}

// PutAppStateVersion saves the version and hash of app state name.
func (s *deviceStore) PutAppStateVersion(ctx context.Context, name string, version uint64, hash [128]byte) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		return versions.Put(txn, versionRecord{Version: version, Hash: hash[:]}, s.parts(kindVersion, text(name))...)
	}, nil)
}

// GetAppStateVersion returns the version and hash of app state name: 0 and a zero
// hash, the initial state, when none is saved. A saved version 0 is an error, as in
// sqlstore.
func (s *deviceStore) GetAppStateVersion(ctx context.Context, name string) (version uint64, hash [128]byte, err error) {
	err = s.c.view(ctx, func(txn *badger.Txn) error {
		rec, err := versions.Get(txn, s.parts(kindVersion, text(name))...)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil
		case err != nil:
			return err
		case len(rec.Hash) != 128:
			return ErrInvalidLength
		case rec.Version == 0:
			return fmt.Errorf("%w: saved app state version 0 for name %s (hash %x)", ErrInvalidValue, name, rec.Hash)
		}
		version, hash = rec.Version, [128]byte(rec.Hash)
		return nil
	})
	return version, hash, err
}

// DeleteAppStateVersion deletes the version of app state name and, as sqlstore's
// cascade does, every mutation MAC of it.
func (s *deviceStore) DeleteAppStateVersion(ctx context.Context, name string) error {
	return s.c.deleteAll(ctx, [][]byte{s.prefix(kindMAC, "", text(name))}, s.key(kindVersion, text(name)))
}

// macBatch is how many MACs go in one transaction when a batch is too big for one.
const macBatch = 2000

// macStatement is how many MACs sqlstore inserts per SQL statement: the unit that is
// written whole or not at all.
const macStatement = 400

// PutAppStateMutationMACs saves the MACs of version of app state name. As with
// sqlstore's schema, the app state must have a saved version, both MACs must be 32
// bytes, and a MAC already saved for the same version and index MAC is an error. In a
// transaction of its own a batch with an error writes nothing; in a DoDecryptionTxn,
// the groups of 400 before the one with the error stay written, as sqlstore's
// statements do.
func (s *deviceStore) PutAppStateMutationMACs(ctx context.Context, name string, version uint64, mutations []wmstore.AppStateMutationMAC) error {
	if len(mutations) == 0 {
		return nil
	}
	ver := num64(version)
	return s.c.updateMany(ctx, len(mutations), macBatch, func(txn *badger.Txn, lo, hi int) error {
		ok, err := exists(txn, s.key(kindVersion, text(name)))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoAppStateVersion, name)
		}
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		for start := lo; start < hi; start += macStatement {
			if err := s.putMACs(txn, name, ver, mutations[start:min(start+macStatement, hi)]); err != nil {
				return err
			}
		}
		return nil
	})
}

// putMACs checks, then writes, one statement's worth of MACs.
func (s *deviceStore) putMACs(txn *badger.Txn, name, ver string, batch []wmstore.AppStateMutationMAC) error {
	seen := make(map[string]bool, len(batch))
	for _, m := range batch {
		if len(m.IndexMAC) != 32 || len(m.ValueMAC) != 32 {
			return fmt.Errorf("%w: mutation MACs must be 32 bytes", ErrInvalidValue)
		}
		ok, err := exists(txn, s.key(kindMAC, text(name), bin(m.IndexMAC), ver))
		if err != nil {
			return err
		}
		if ok || seen[string(m.IndexMAC)] {
			return fmt.Errorf("%w: mutation MAC %x of %s version %s", ErrExists, m.IndexMAC, name, ver)
		}
		seen[string(m.IndexMAC)] = true
	}
	for _, m := range batch {
		if err := raw.Put(txn, m.ValueMAC, s.parts(kindMAC, text(name), bin(m.IndexMAC), ver)...); err != nil {
			return err
		}
	}
	return nil
}

// DeleteAppStateMutationMACs deletes the MACs of app state name with indexMACs, of
// every version.
func (s *deviceStore) DeleteAppStateMutationMACs(ctx context.Context, name string, indexMACs [][]byte) error {
	if len(indexMACs) == 0 {
		return nil
	}
	prefixes := make([][]byte, len(indexMACs))
	for i, im := range indexMACs {
		prefixes[i] = s.prefix(kindMAC, "", text(name), bin(im))
	}
	return s.c.deleteAll(ctx, prefixes)
}

// GetAppStateMutationMAC returns the value MAC of indexMAC in app state name, of its
// highest version; nil when there is none.
func (s *deviceStore) GetAppStateMutationMAC(ctx context.Context, name string, indexMAC []byte) ([]byte, error) {
	var valueMAC []byte
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		// Versions are fixed-width hex: the last key is the highest version.
		return scan(txn, s.prefix(kindMAC, "", text(name), bin(indexMAC)), true, func(item *badger.Item) (bool, error) {
			v, err := item.ValueCopy(nil)
			valueMAC = nilIfEmpty(v)
			return true, err
		})
	})
	return valueMAC, err
}
