package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Codec turns values of one type into bytes and back.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(b []byte) (T, error)
}

// codecJSON is the version byte of JSONCodec values. A future binary codec takes another
// byte, and Decode can tell old values from new ones.
const codecJSON byte = 1

// JSONCodec stores values as a version byte followed by JSON. Unknown fields in stored
// values are ignored, so adding a field never breaks reading old data.
type JSONCodec[T any] struct{}

// Encode implements Codec.
func (JSONCodec[T]) Encode(v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{codecJSON}, b...), nil
}

// Decode implements Codec.
func (JSONCodec[T]) Decode(b []byte) (T, error) {
	var v T
	if len(b) == 0 || b[0] != codecJSON {
		return v, errors.New("value is not in the JSON codec format")
	}
	err := json.Unmarshal(b[1:], &v)
	return v, err
}

// Table is a typed view of one key prefix: every value under it has type T.
//
//	var sessions = store.Table[Record]{Prefix: store.PrefixSession, Codec: store.JSONCodec[Record]{}}
//	rec, err := sessions.Get(txn, tenantID, name) // store.ErrNotFound when absent
type Table[T any] struct {
	Prefix Prefix
	Codec  Codec[T]
}

// Get reads the value at Key(Prefix, parts...).
func (t Table[T]) Get(txn *badger.Txn, parts ...string) (T, error) {
	var zero T
	item, err := txn.Get(Key(t.Prefix, parts...))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return zero, ErrNotFound
	}
	if err != nil {
		return zero, err
	}
	var v T
	err = item.Value(func(b []byte) error {
		var derr error
		v, derr = t.Codec.Decode(b)
		return derr
	})
	if err != nil {
		return zero, fmt.Errorf("decoding %s: %w", item.Key(), err)
	}
	return v, nil
}

// Put writes v at Key(Prefix, parts...).
func (t Table[T]) Put(txn *badger.Txn, v T, parts ...string) error {
	b, err := t.Codec.Encode(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", t.Prefix, err)
	}
	return txn.Set(Key(t.Prefix, parts...), b)
}

// Delete removes the value at Key(Prefix, parts...); absent keys are not an error.
func (t Table[T]) Delete(txn *badger.Txn, parts ...string) error {
	return txn.Delete(Key(t.Prefix, parts...))
}

// Scan calls fn, in key order, for every value below Key(Prefix, parts...) — e.g.
// Scan(txn, fn, tenantID) visits all of a tenant's values. fn gets the key's parts after
// those given. Returning an error from fn stops the scan and returns it.
func (t Table[T]) Scan(txn *badger.Txn, fn func(rest []string, v T) error, parts ...string) error {
	var prefix []byte
	if len(parts) == 0 {
		prefix = append([]byte(t.Prefix), sep)
	} else {
		prefix = ScanPrefix(t.Prefix, parts...)
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		_, all := KeyParts(item.Key())
		rest := all[len(parts):]
		var v T
		if err := item.Value(func(b []byte) error {
			var derr error
			v, derr = t.Codec.Decode(b)
			return derr
		}); err != nil {
			return fmt.Errorf("decoding %s: %w", item.Key(), err)
		}
		if err := fn(rest, v); err != nil {
			return err
		}
	}
	return nil
}

// DeletePrefix removes every key starting with prefix, in batches of transactions of
// its own (not Badger's DropPrefix, which blocks every other writer of the gateway while
// it runs). It is idempotent: a delete cut short can simply be run again.
func (db *DB) DeletePrefix(prefix []byte) error {
	const batch = 1000
	for {
		var keys [][]byte
		err := db.bdb.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
			defer it.Close()
			for it.Seek(prefix); it.ValidForPrefix(prefix) && len(keys) < batch; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		if err := db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
}

// DeleteTenant removes every key owned by tenant, under every tenant-owned prefix, the
// tenant record last: until it is gone the tenant still exists and the delete can be
// retried. Callers stop the tenant's sessions first.
func (db *DB) DeleteTenant(tenant string) error {
	for _, p := range TenantPrefixes {
		if p == PrefixTenant {
			continue
		}
		if err := db.DeletePrefix(ScanPrefix(p, tenant)); err != nil {
			return fmt.Errorf("deleting %s data of tenant %s: %w", p, tenant, err)
		}
	}
	// The exact key: a prefix delete of ten/<tenant> would also take ten/<tenant>2.
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(Key(PrefixTenant, tenant)) }); err != nil {
		return fmt.Errorf("deleting tenant %s: %w", tenant, err)
	}
	return nil
}
