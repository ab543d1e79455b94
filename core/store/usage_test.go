package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestUsageByKindAndTenant(t *testing.T) {
	db := openT(t, Options{Dir: t.TempDir()})
	big := bytes.Repeat([]byte("x"), 4000) // over the value threshold: in the value log
	err := db.Update(func(txn *badger.Txn) error {
		for i := range 10 {
			if err := txn.Set(Key(PrefixMessage, "acme", fmt.Sprint("m", i)), big); err != nil {
				return err
			}
		}
		for i := range 3 {
			if err := txn.Set(Key(PrefixMessage, "acme2", fmt.Sprint("m", i)), []byte("small")); err != nil {
				return err
			}
		}
		if err := txn.Set(Key(PrefixSession, "acme", "s1"), []byte("rec")); err != nil {
			return err
		}
		return txn.Set(Key(PrefixSystem, "admin_key"), []byte("hash"))
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.Usage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Kinds[PrefixMessage]; got.Keys != 13 || got.Bytes < 40000 {
		t.Errorf("msg usage = %+v, want 13 keys and at least 40000 bytes", got)
	}
	if got := u.Kinds[PrefixSystem]; got.Keys != 1 {
		t.Errorf("sys usage = %+v, want 1 key", got)
	}
	if _, ok := u.Kinds[PrefixQueue]; ok {
		t.Errorf("que has no key but is in Kinds: %+v", u.Kinds)
	}
	acme, acme2 := u.Tenants["acme"], u.Tenants["acme2"]
	if acme.Keys != 11 || acme.Bytes < 40000 {
		t.Errorf("tenant acme = %+v, want 11 keys, at least 40000 bytes", acme)
	}
	if acme2.Keys != 3 || acme2.Bytes > 200 {
		t.Errorf("tenant acme2 = %+v, want 3 small keys", acme2)
	}
	if len(u.Tenants) != 2 {
		t.Errorf("tenants = %v, want acme and acme2 only (sys/ is no tenant's)", u.Tenants)
	}

	// Deleted keys are no longer counted.
	if err := db.DeletePrefix(ScanPrefix(PrefixMessage, "acme")); err != nil {
		t.Fatal(err)
	}
	u, _ = db.Usage(context.Background())
	if got := u.Tenants["acme"]; got.Keys != 1 {
		t.Errorf("tenant acme after deleting its messages = %+v, want its session only", got)
	}
}

// TestValueLogGCReclaimsDeletedValues proves the value-log GC the store schedules
// does its job: values over the threshold live in the value log; once deleted and
// compacted away, RunGC rewrites their files and the value log shrinks.
func TestValueLogGCReclaimsDeletedValues(t *testing.T) {
	dir := t.TempDir()
	o := Options{Dir: dir, ValueLogFileSize: 1 << 20}
	db, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 8<<10)
	const n = 1024 // 8 MiB of values: 8 value-log files of 1 MiB
	for i := 0; i < n; i += 64 {
		if err := db.Update(func(txn *badger.Txn) error {
			for j := i; j < i+64; j++ {
				if err := txn.Set(Key(PrefixMessage, "acme", fmt.Sprintf("m%05d", j)), val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeletePrefix(ScanPrefix(PrefixMessage, "acme")); err != nil {
		t.Fatal(err)
	}
	// Compaction is what finds the deleted values and records their value-log space as
	// discardable. Each close flushes the memtable into a level-0 table; six of them
	// make level 0 due for compaction, which Flatten then runs to the end.
	for i := range 6 {
		db.Close()
		if db, err = Open(o); err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(Key(PrefixSystem, fmt.Sprint("flush", i)), nil) }); err != nil {
			t.Fatal(err)
		}
	}
	defer db.Close()
	if err := db.Badger().Flatten(1); err != nil {
		t.Fatal(err)
	}
	before := dirSize(t, dir, ".vlog")
	rewritten := db.RunGC(0.5)
	after := dirSize(t, dir, ".vlog")
	st := db.GCStats()
	t.Logf("value log %d -> %d bytes, %d files rewritten", before, after, rewritten)
	if rewritten == 0 || after >= before {
		t.Errorf("RunGC rewrote %d files, value log %d -> %d bytes; want files reclaimed", rewritten, before, after)
	}
	if st.Runs != 1 || st.Rewritten != uint64(rewritten) || st.LastRun.IsZero() {
		t.Errorf("GCStats = %+v, want 1 run, %d rewritten", st, rewritten)
	}
}

func dirSize(t *testing.T, dir, suffix string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			n += info.Size()
		}
	}
	return n
}
