package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// Size is an amount of live data: the bytes of its keys and values, and how many keys.
type Size struct {
	Bytes int64
	Keys  int64
}

func (s *Size) add(o Size) { s.Bytes += o.Bytes; s.Keys += o.Keys }

// Usage is the live data of the store by kind (key prefix) and by tenant, and Badger's
// own file sizes.
type Usage struct {
	// Kinds holds, per prefix, the live data under it (prefixes with no key are absent).
	Kinds map[Prefix]Size
	// Tenants holds, per tenant id, its live data under every tenant-owned prefix.
	Tenants map[string]Size
	// LSMBytes and VLogBytes are the sizes of Badger's SST and value-log files
	// (badger.DB.Size, refreshed by Badger about once a minute). They include data not
	// yet reclaimed by compaction or value-log GC, which Kinds and Tenants do not.
	LSMBytes, VLogBytes int64
}

// Usage measures the live data of the store. It iterates keys only: each key's size
// is what Badger knows without reading a value (the key and its inline value, or the
// length recorded in its value-log pointer), so no value-log file is read and the cost
// is one pass over the LSM tree's keys, each prefix in a read transaction of its own so
// no snapshot is held for the whole pass. Deleted and overwritten versions are not
// counted; they are what GC and compaction reclaim.
func (db *DB) Usage(ctx context.Context) (Usage, error) {
	u := Usage{Kinds: map[Prefix]Size{}, Tenants: map[string]Size{}}
	u.LSMBytes, u.VLogBytes = db.bdb.Size()
	for _, p := range Prefixes {
		if err := db.usageOf(ctx, p, &u); err != nil {
			return u, fmt.Errorf("measuring %s: %w", p, err)
		}
	}
	return u, nil
}

// usageOf adds the keys below p to u. Keys are in order, so one tenant's keys are
// contiguous: its total is kept locally and added to the map when the tenant changes.
func (db *DB) usageOf(ctx context.Context, p Prefix, u *Usage) error {
	tenantOwned := slices.Contains(TenantPrefixes, p)
	prefix := append([]byte(p), sep)
	var kind, cur Size
	var curTenant []byte
	flush := func() {
		if curTenant != nil {
			t := u.Tenants[string(curTenant)]
			t.add(cur)
			u.Tenants[string(curTenant)] = t
		}
		cur = Size{}
	}
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
		defer it.Close()
		n := 0
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			item := it.Item()
			sz := Size{Bytes: item.EstimatedSize(), Keys: 1}
			kind.add(sz)
			if !tenantOwned {
				continue
			}
			rest := item.Key()[len(prefix):]
			if i := bytes.IndexByte(rest, sep); i >= 0 {
				rest = rest[:i]
			}
			if !bytes.Equal(rest, curTenant) {
				flush()
				curTenant = append(curTenant[:0:0], rest...)
			}
			cur.add(sz)
		}
		return nil
	})
	flush()
	if kind.Keys > 0 {
		u.Kinds[p] = kind
	}
	return err
}
