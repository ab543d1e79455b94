package wastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"

	"github.com/wagate/wagate/core/store"
)

// Signal protocol state: identities, sessions, prekeys and sender keys. Addresses are
// Signal addresses, "<user>:<device>" ("<user>_<agent>:<device>" for LIDs).

// PutIdentity saves the identity key of address. libsignal saves the identity after
// every message it decrypts, nearly always the one saved already: then nothing is
// written, and a call of its own commits nothing and waits for no sync (SQLite skips
// such a write too).
func (s *deviceStore) PutIdentity(ctx context.Context, address string, key [32]byte) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		parts := s.parts(kindIdentity, text(address))
		old, err := raw.Get(txn, parts...)
		if err == nil && bytes.Equal(old, key[:]) {
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return raw.Put(txn, key[:], parts...)
	}, nil)
}

// DeleteAllIdentities deletes the identity keys of every device of phone (a Signal
// address user).
func (s *deviceStore) DeleteAllIdentities(ctx context.Context, phone string) error {
	return s.c.deleteAll(ctx, [][]byte{s.prefix(kindIdentity, text(phone+":"))})
}

// DeleteIdentity deletes the identity key of address.
func (s *deviceStore) DeleteIdentity(ctx context.Context, address string) error {
	return s.c.deleteAll(ctx, nil, s.key(kindIdentity, text(address)))
}

// IsTrustedIdentity reports whether key is the saved identity of address; an address
// with no saved identity is trusted (whatsmeow saves it afterwards).
func (s *deviceStore) IsTrustedIdentity(ctx context.Context, address string, key [32]byte) (bool, error) {
	v, err := s.getRaw(ctx, kindIdentity, text(address))
	switch {
	case err != nil:
		return false, err
	case v == nil:
		return true, nil
	case len(v) != 32:
		return false, ErrInvalidLength
	}
	return bytes.Equal(v, key[:]), nil
}

// GetSession returns the session with address, nil when there is none.
func (s *deviceStore) GetSession(ctx context.Context, address string) ([]byte, error) {
	return s.getRaw(ctx, kindSession, text(address))
}

// HasSession reports whether a session with address is saved (even an empty one).
func (s *deviceStore) HasSession(ctx context.Context, address string) (bool, error) {
	var ok bool
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		var err error
		ok, err = exists(txn, s.key(kindSession, text(address)))
		return err
	})
	return ok, err
}

// GetManySessions returns the sessions with addresses: an entry for every address,
// nil for those with none. No addresses give a nil map.
func (s *deviceStore) GetManySessions(ctx context.Context, addresses []string) (map[string][]byte, error) {
	if len(addresses) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(addresses))
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		for _, addr := range addresses {
			v, err := raw.Get(txn, s.parts(kindSession, text(addr))...)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			out[addr] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutSession saves the session with address.
func (s *deviceStore) PutSession(ctx context.Context, address string, session []byte) error {
	return s.putRaw(ctx, session, kindSession, text(address))
}

// PutManySessions saves sessions, all or none.
func (s *deviceStore) PutManySessions(ctx context.Context, sessions map[string][]byte) error {
	if len(sessions) == 0 {
		return nil
	}
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		for addr, sess := range sessions {
			if err := raw.Put(txn, sess, s.parts(kindSession, text(addr))...); err != nil {
				return err
			}
		}
		return nil
	}, nil)
}

// DeleteAllSessions deletes the sessions with every device of phone.
func (s *deviceStore) DeleteAllSessions(ctx context.Context, phone string) error {
	return s.c.deleteAll(ctx, [][]byte{s.prefix(kindSession, text(phone+":"))})
}

// DeleteSession deletes the session with address.
func (s *deviceStore) DeleteSession(ctx context.Context, address string) error {
	return s.c.deleteAll(ctx, nil, s.key(kindSession, text(address)))
}

// MigratePNToLID moves the sessions, identity keys and sender keys of every device of
// phone number pn to the same devices of lid, overwriting what lid had, in one
// transaction. It runs once per phone number for the life of the store: later calls
// for the same pn return at once, as in sqlstore (whose memo is, unlike this one, set
// even when the migration fails).
func (s *deviceStore) MigratePNToLID(ctx context.Context, pn, lid types.JID) error {
	pnUser, lidUser := pn.SignalAddressUser(), lid.SignalAddressUser()
	s.migratedMu.Lock()
	_, done := s.migrated[pnUser]
	s.migratedMu.Unlock()
	if done {
		return nil
	}
	var sessions, identities, senderKeys int
	err := s.c.update(ctx, func(txn *badger.Txn) error {
		var err error
		sessions, identities, senderKeys = 0, 0, 0
		if sessions, err = s.migrateKind(txn, kindSession, pnUser, lidUser); err != nil {
			return fmt.Errorf("migrating sessions: %w", err)
		}
		if identities, err = s.migrateKind(txn, kindIdentity, pnUser, lidUser); err != nil {
			return fmt.Errorf("migrating identity keys: %w", err)
		}
		if senderKeys, err = s.migrateKind(txn, kindSenderKey, pnUser, lidUser); err != nil {
			return fmt.Errorf("migrating sender keys: %w", err)
		}
		return nil
	}, func() {
		s.migratedMu.Lock()
		s.migrated[pnUser] = struct{}{}
		s.migratedMu.Unlock()
	})
	if err != nil {
		return err
	}
	if sessions > 0 || identities > 0 || senderKeys > 0 {
		s.c.log.Infof("Migrated %d sessions, %d identity keys and %d sender keys from %s to %s", sessions, identities, senderKeys, pnUser, lidUser)
	} else {
		s.c.log.Debugf("No sessions or sender keys found to migrate from %s to %s", pnUser, lidUser)
	}
	return nil
}

// migrateKind rewrites every key of kind whose first part is an address of pnUser to
// the same address of lidUser, and returns how many it moved.
func (s *deviceStore) migrateKind(txn *badger.Txn, kind, pnUser, lidUser string) (int, error) {
	prefix := s.prefix(kind, text(pnUser+":"))
	type kv struct{ key, val []byte }
	var found []kv
	err := scan(txn, prefix, true, func(item *badger.Item) (bool, error) {
		v, err := item.ValueCopy(nil)
		found = append(found, kv{item.KeyCopy(nil), v})
		return true, err
	})
	if err != nil || len(found) == 0 {
		return 0, err
	}
	if err := s.requireDevice(txn); err != nil {
		return 0, err
	}
	// text() works byte by byte, so the key prefix of pnUser's addresses can be swapped
	// for lidUser's without decoding the rest of the key.
	from := len(prefix) - len(text(pnUser+":"))
	for _, e := range found {
		newKey := append(append(append([]byte(nil), e.key[:from]...), text(lidUser)...), e.key[from+len(text(pnUser)):]...)
		if err := txn.Set(newKey, e.val); err != nil {
			return 0, err
		}
		if err := txn.Delete(e.key); err != nil {
			return 0, err
		}
	}
	return len(found), nil
}

// Prekeys. Ids are stored as 8 hex digits, so key order is id order and the last key
// holds the highest id.

// preKeyRecord is a stored one-time prekey.
type preKeyRecord struct {
	Priv     []byte `json:"priv"`
	Uploaded bool   `json:"uploaded"`
}

var preKeys = store.Table[preKeyRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[preKeyRecord]{}}

// maxPreKeyID is the bound of sqlstore's CHECK on key_id: ids have 24 bits.
const maxPreKeyID = 1<<24 - 1

// nextPreKeyID returns the highest saved prekey id plus one (so the id of a removed
// highest key is given out again, as in sqlstore).
func (s *deviceStore) nextPreKeyID(txn *badger.Txn) (uint32, error) {
	prefix := s.prefix(kindPreKey, "")
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
	defer it.Close()
	it.Seek(append(append([]byte(nil), prefix...), 0xff))
	if !it.ValidForPrefix(prefix) {
		return 1, nil
	}
	id, err := strconv.ParseUint(string(it.Item().Key()[len(prefix):]), 16, 32)
	if err != nil {
		return 0, fmt.Errorf("prekey key %q: %w", it.Item().Key(), err)
	}
	return uint32(id) + 1, nil
}

// genPreKey creates and saves prekey id. The existence check makes a concurrent
// creation of the same id a conflict.
func (s *deviceStore) genPreKey(txn *badger.Txn, id uint32, uploaded bool) (*keys.PreKey, error) {
	if id > maxPreKeyID {
		return nil, fmt.Errorf("%w: prekey id %d above %d", ErrInvalidValue, id, maxPreKeyID)
	}
	ok, err := exists(txn, s.key(kindPreKey, num32(id)))
	if err != nil {
		return nil, err
	}
	if ok {
		return nil, fmt.Errorf("%w: prekey %d", ErrExists, id)
	}
	key := keys.NewPreKey(id)
	return key, preKeys.Put(txn, preKeyRecord{Priv: key.Priv[:], Uploaded: uploaded}, s.parts(kindPreKey, num32(id))...)
}

// GenOnePreKey creates a prekey with the next id, marked uploaded.
func (s *deviceStore) GenOnePreKey(ctx context.Context) (*keys.PreKey, error) {
	var key *keys.PreKey
	err := s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		id, err := s.nextPreKeyID(txn)
		if err != nil {
			return err
		}
		key, err = s.genPreKey(txn, id, true)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return key, nil
}

// GetOrGenPreKeys returns count prekeys not uploaded yet: the saved ones, lowest id
// first, then as many new ones as are missing.
func (s *deviceStore) GetOrGenPreKeys(ctx context.Context, count uint32) ([]*keys.PreKey, error) {
	var out []*keys.PreKey
	err := s.c.update(ctx, func(txn *badger.Txn) error {
		out = make([]*keys.PreKey, 0, count)
		prefix := s.prefix(kindPreKey, "")
		err := scan(txn, prefix, true, func(item *badger.Item) (bool, error) {
			if uint32(len(out)) >= count {
				return false, nil
			}
			key, uploaded, err := decodePreKey(item, prefix)
			if err == nil && !uploaded {
				out = append(out, key)
			}
			return true, err
		})
		if err != nil || uint32(len(out)) >= count {
			return err
		}
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		id, err := s.nextPreKeyID(txn)
		if err != nil {
			return err
		}
		for uint32(len(out)) < count {
			key, err := s.genPreKey(txn, id, false)
			if err != nil {
				return fmt.Errorf("failed to generate prekey: %w", err)
			}
			out = append(out, key)
			id++
		}
		return nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodePreKey reads the prekey at item.
func decodePreKey(item *badger.Item, prefix []byte) (*keys.PreKey, bool, error) {
	id, err := strconv.ParseUint(string(item.Key()[len(prefix):]), 16, 32)
	if err != nil {
		return nil, false, fmt.Errorf("prekey key %q: %w", item.Key(), err)
	}
	var rec preKeyRecord
	err = item.Value(func(b []byte) error {
		var err error
		rec, err = preKeys.Codec.Decode(b)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("decoding prekey %d: %w", id, err)
	}
	if len(rec.Priv) != 32 {
		return nil, false, ErrInvalidLength
	}
	return &keys.PreKey{KeyPair: *keys.NewKeyPairFromPrivateKey([32]byte(rec.Priv)), KeyID: uint32(id)}, rec.Uploaded, nil
}

// GetPreKey returns prekey id, nil when there is none.
func (s *deviceStore) GetPreKey(ctx context.Context, id uint32) (*keys.PreKey, error) {
	var key *keys.PreKey
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		prefix := s.prefix(kindPreKey, "")
		item, err := txn.Get(s.key(kindPreKey, num32(id)))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		key, _, err = decodePreKey(item, prefix)
		return err
	})
	return key, err
}

// RemovePreKey deletes prekey id.
func (s *deviceStore) RemovePreKey(ctx context.Context, id uint32) error {
	return s.c.deleteAll(ctx, nil, s.key(kindPreKey, num32(id)))
}

// MarkPreKeysAsUploaded marks every prekey with an id up to upToID uploaded.
func (s *deviceStore) MarkPreKeysAsUploaded(ctx context.Context, upToID uint32) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		prefix := s.prefix(kindPreKey, "")
		var ids []uint32
		var recs []preKeyRecord
		err := scan(txn, prefix, true, func(item *badger.Item) (bool, error) {
			key, uploaded, err := decodePreKey(item, prefix)
			if err != nil || key.KeyID > upToID {
				return false, err
			}
			if !uploaded {
				ids = append(ids, key.KeyID)
				recs = append(recs, preKeyRecord{Priv: key.Priv[:], Uploaded: true})
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for i, id := range ids {
			if err := preKeys.Put(txn, recs[i], s.parts(kindPreKey, num32(id))...); err != nil {
				return err
			}
		}
		return nil
	}, nil)
}

// UploadedPreKeyCount returns how many saved prekeys are marked uploaded.
func (s *deviceStore) UploadedPreKeyCount(ctx context.Context) (int, error) {
	n := 0
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		prefix := s.prefix(kindPreKey, "")
		return scan(txn, prefix, true, func(item *badger.Item) (bool, error) {
			_, uploaded, err := decodePreKey(item, prefix)
			if uploaded {
				n++
			}
			return true, err
		})
	})
	return n, err
}

// Sender keys are stored sender first, so MigratePNToLID finds a phone number's keys in
// every group with one prefix scan.

// PutSenderKey saves the sender key of user in group.
func (s *deviceStore) PutSenderKey(ctx context.Context, group, user string, session []byte) error {
	if session == nil {
		return fmt.Errorf("%w: nil sender key", ErrInvalidValue)
	}
	return s.putRaw(ctx, session, kindSenderKey, text(user), text(group))
}

// GetSenderKey returns the sender key of user in group, nil when there is none.
func (s *deviceStore) GetSenderKey(ctx context.Context, group, user string) ([]byte, error) {
	return s.getRaw(ctx, kindSenderKey, text(user), text(group))
}
