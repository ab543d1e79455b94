package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

type rec struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

var recs = Table[rec]{Prefix: PrefixSession, Codec: JSONCodec[rec]{}}

func openT(t *testing.T, o Options) *DB {
	t.Helper()
	db, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTableRoundTripAndTenantScan(t *testing.T) {
	db := openT(t, Options{Dir: t.TempDir()})
	err := db.Update(func(txn *badger.Txn) error {
		for _, k := range [][2]string{{"a", "s1"}, {"a", "s2"}, {"ab", "s1"}, {"b", "s1"}} {
			if err := recs.Put(txn, rec{Name: k[0] + ":" + k[1]}, k[0], k[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(txn *badger.Txn) error {
		got, err := recs.Get(txn, "a", "s2")
		if err != nil || got.Name != "a:s2" {
			t.Errorf("Get a/s2 = %+v, %v", got, err)
		}
		if _, err := recs.Get(txn, "a", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get missing err = %v, want ErrNotFound", err)
		}
		// Tenant "a" must not see tenant "ab" although "a" is a string prefix of "ab".
		var names []string
		if err := recs.Scan(txn, func(rest []string, v rec) error {
			names = append(names, strings.Join(rest, "/")+"="+v.Name)
			return nil
		}, "a"); err != nil {
			t.Fatal(err)
		}
		if strings.Join(names, ",") != "s1=a:s1,s2=a:s2" {
			t.Errorf("Scan a = %v", names)
		}
		return nil
	})
}

func TestKeyRejectsSeparatorsAndEmptyParts(t *testing.T) {
	for _, part := range []string{"", "a/b", "/"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Key(%q) did not panic", part)
				}
			}()
			Key(PrefixTenant, part)
		}()
	}
	if got := string(Key(PrefixSession, "acme", "main")); got != "ses/acme/main" {
		t.Errorf("Key = %q", got)
	}
	p, parts := KeyParts(Key(PrefixSession, "acme", "main"))
	if p != PrefixSession || len(parts) != 2 || parts[1] != "main" {
		t.Errorf("KeyParts = %v %v", p, parts)
	}
}

func TestCodecRejectsForeignBytes(t *testing.T) {
	if _, err := (JSONCodec[rec]{}).Decode([]byte(`{"name":"x"}`)); err == nil {
		t.Error("Decode of raw JSON without version byte succeeded")
	}
	if _, err := (JSONCodec[rec]{}).Decode(nil); err == nil {
		t.Error("Decode of nil succeeded")
	}
}

func TestEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	secret := "the-secret-text-" + strings.Repeat("Z", 64)

	db, err := Open(Options{Dir: dir, EncryptionKey: key, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error {
		return recs.Put(txn, rec{Name: secret}, "acme", "main")
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// No file of the store may hold the text in clear.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("the-secret-text-")) {
			t.Errorf("%s contains the text in clear", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(Options{Dir: dir})
	if !errors.Is(err, ErrEncryptionKey) || !strings.Contains(err.Error(), "no key was given") {
		t.Errorf("open without key: err = %v, want ErrEncryptionKey naming the missing key", err)
	}
	wrong := make([]byte, 32)
	_, err = Open(Options{Dir: dir, EncryptionKey: wrong})
	if !errors.Is(err, ErrEncryptionKey) {
		t.Errorf("open with wrong key: err = %v, want ErrEncryptionKey", err)
	}
	if _, err := Open(Options{Dir: dir, EncryptionKey: key[:16]}); err == nil {
		t.Error("open with a 16-byte key succeeded")
	}

	db = openT(t, Options{Dir: dir, EncryptionKey: key})
	_ = db.View(func(txn *badger.Txn) error {
		got, err := recs.Get(txn, "acme", "main")
		if err != nil || got.Name != secret {
			t.Errorf("read back after reopen = %+v, %v", got, err)
		}
		return nil
	})
}

func TestUnencryptedStoreKeepsPlainTextReadableControl(t *testing.T) {
	// Control for TestEncryptionAtRest: without a key the same text is found in the
	// files, so the encrypted test's search would have caught a leak.
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(txn *badger.Txn) error { return recs.Put(txn, rec{Name: "plain-marker"}, "a", "b") })
	db.Close()
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			found = found || bytes.Contains(b, []byte("plain-marker"))
		}
		return nil
	})
	if !found {
		t.Fatal("plain store files do not contain the text: the at-rest search cannot detect leaks")
	}
}

func TestSecondOpenOfSameDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	openT(t, Options{Dir: dir})
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open err = %v, want ErrLocked", err)
	}
}

func TestRunGCOnEmptyStore(t *testing.T) {
	// The background loop is on (an hour apart); RunGC is called directly.
	db := openT(t, Options{Dir: t.TempDir(), GCInterval: time.Hour})
	if n := db.RunGC(0.5); n != 0 {
		t.Errorf("RunGC on empty store rewrote %d files", n)
	}
}

func TestStorageDocListsEveryPrefix(t *testing.T) {
	doc, err := os.ReadFile("../../docs/storage.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Prefixes {
		if !bytes.Contains(doc, []byte("`"+string(p)+"/")) {
			t.Errorf("docs/storage.md does not document prefix %q", p)
		}
	}
}

func TestDeleteTenantLeavesOtherTenantsAlone(t *testing.T) {
	db := openT(t, Options{Dir: t.TempDir()})
	tenants := Table[rec]{Prefix: PrefixTenant, Codec: JSONCodec[rec]{}}
	_ = db.Update(func(txn *badger.Txn) error {
		for _, id := range []string{"acme", "acme2"} {
			tenants.Put(txn, rec{Name: id}, id)
			recs.Put(txn, rec{Name: id}, id, "main")
		}
		return nil
	})
	if err := db.DeleteTenant("acme"); err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(txn *badger.Txn) error {
		if _, err := tenants.Get(txn, "acme"); !errors.Is(err, ErrNotFound) {
			t.Errorf("acme tenant record survived: %v", err)
		}
		if _, err := recs.Get(txn, "acme", "main"); !errors.Is(err, ErrNotFound) {
			t.Errorf("acme session survived: %v", err)
		}
		if _, err := tenants.Get(txn, "acme2"); err != nil {
			t.Errorf("acme2 tenant record deleted: %v", err)
		}
		if _, err := recs.Get(txn, "acme2", "main"); err != nil {
			t.Errorf("acme2 session deleted: %v", err)
		}
		return nil
	})
}

// TestMemoryOptions: the memory knobs reach Badger (a store opens and works with each
// set), 0 keeps the defaults, and an unknown compression is refused at Open.
func TestMemoryOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{MemTableSize: 4 << 20, NumMemtables: 2, BlockCacheSize: 8 << 20, IndexCacheSize: 4 << 20, BaseTableSize: 1 << 20, TableSizeMultiplier: 1, Compression: "none", NumCompactors: 2},
		{Compression: "zstd"},
	} {
		o.Dir = t.TempDir()
		db, err := Open(o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("k"), []byte("v")) }); err != nil {
			t.Errorf("%+v: write: %v", o, err)
		}
		got := db.Badger().Opts()
		if o.MemTableSize == 0 && (got.MemTableSize != DefaultMemTableSize || got.BlockCacheSize != DefaultBlockCacheSize || got.BaseTableSize != DefaultBaseTableSize) {
			t.Errorf("defaults: memtable %d, block cache %d, table %d", got.MemTableSize, got.BlockCacheSize, got.BaseTableSize)
		}
		if o.MemTableSize != 0 && (got.MemTableSize != o.MemTableSize || got.TableSizeMultiplier != 1 || got.NumCompactors != 2 || got.IndexCacheSize != o.IndexCacheSize) {
			t.Errorf("set: %+v", got)
		}
		db.Close()
	}
	if _, err := Open(Options{Dir: t.TempDir(), Compression: "lz4"}); err == nil {
		t.Error("compression lz4 opened")
	}
}

// TestCompressionChangeKeepsTablesReadable: a store written compressed (snappy, the
// gateway's default before 2026-12-07) and reopened uncompressed (the default since)
// reads its old tables, takes new writes and compacts old and new tables together;
// and back again. Each table records its own compression in the manifest.
func TestCompressionChangeKeepsTablesReadable(t *testing.T) {
	dir := t.TempDir()
	val := bytes.Repeat([]byte("compressible "), 20)
	write := func(db *DB, from, to int) {
		t.Helper()
		for i := from; i < to; i += 500 {
			if err := db.Update(func(txn *badger.Txn) error {
				for j := i; j < min(i+500, to); j++ {
					if err := txn.Set(Key(PrefixSession, "acme", strings.Repeat("k", 1+j%7)+time.Duration(j).String()), val); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(db *DB) int {
		t.Helper()
		n := 0
		if err := db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: ScanPrefix(PrefixSession, "acme")})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				if err := it.Item().Value(func(b []byte) error {
					if !bytes.Equal(b, val) {
						return errors.New("value changed")
					}
					return nil
				}); err != nil {
					return err
				}
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const each = 5000
	for round, c := range []string{"snappy", "none", "snappy"} {
		db, err := Open(Options{Dir: dir, Compression: c, MemTableSize: 1 << 20})
		if err != nil {
			t.Fatalf("open with %s: %v", c, err)
		}
		if n := count(db); n != round*each {
			t.Fatalf("opened with %s: %d keys, want %d", c, n, round*each)
		}
		write(db, round*each, (round+1)*each)
		if err := db.Badger().Flatten(2); err != nil { // compact old and new tables together
			t.Fatalf("%s: flatten: %v", c, err)
		}
		if n := count(db); n != (round+1)*each {
			t.Fatalf("%s after writes and compaction: %d keys, want %d", c, n, (round+1)*each)
		}
		db.Close()
	}
}
