// Package store is the gateway's one database: an embedded Badger v4 DB holding tenants,
// keys, sessions, messages, queues, outboxes and provider state, so that one backup covers
// everything. The keyspace is documented in docs/storage.md; keys are built only through
// the helpers in keys.go and values only through typed codecs (codec.go).
//
//	db, err := store.Open(store.Options{Dir: "./data", EncryptionKey: key})
//	if err != nil { ... }                // ErrEncryptionKey, ErrLocked, ...
//	defer db.Close()
//	err = db.Update(func(txn *badger.Txn) error {
//		return tenants.Put(txn, t, t.ID)
//	})
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Errors of Open and of reads.
var (
	// ErrNotFound: no value under the key.
	ErrNotFound = errors.New("not found")
	// ErrEncryptionKey: the store was written with a different encryption key, or with
	// none, than the one given.
	ErrEncryptionKey = errors.New("encryption key does not match the store")
	// ErrLocked: another process holds the data directory.
	ErrLocked = errors.New("data directory in use by another process")
)

// Options configure Open.
type Options struct {
	// Dir is the data directory, created if missing.
	Dir string
	// EncryptionKey, when set, must be 32 bytes: AES-256 encryption at rest.
	EncryptionKey []byte
	// SyncWrites fsyncs every commit (survives power loss); false survives process crash.
	SyncWrites bool
	// GCInterval is the value-log GC period; 0 disables background GC.
	GCInterval time.Duration
	// GCDiscardRatio is passed to RunValueLogGC; 0 means 0.5.
	GCDiscardRatio float64
	// ValueLogFileSize is the size at which a value-log file is closed and a new one
	// started; GC rewrites whole files, so smaller files reclaim space sooner. 0 means
	// Badger's default (1 GiB); Badger requires 1 MiB to 2 GiB.
	ValueLogFileSize int64
	// NumCompactors is how many compactions Badger runs at once; each holds table
	// builders in memory while it runs. 0 means Badger's default (4); Badger needs at
	// least 2 (see docs/benchmarks.md, "One million queued messages", for what it costs).
	NumCompactors int
	// Memory knobs, each 0 for the default (DefaultMemTableSize, ...); what they cost is
	// measured in docs/benchmarks.md ("Store memory under a long write load").
	//
	// MemTableSize is the size of one memtable (writes are gathered in RAM, then flushed
	// to a level-0 table of that size); NumMemtables how many may be in RAM at once.
	MemTableSize int64
	NumMemtables int
	// BlockCacheSize is the cache of decompressed table blocks, IndexCacheSize the cache
	// of table indexes and bloom filters (0: indexes stay in the mapped table files).
	BlockCacheSize, IndexCacheSize int64
	// BaseTableSize is the size of the tables compaction writes, on every level while
	// TableSizeMultiplier is 1 (the default; Badger's own 2 doubles the size per level,
	// so a compaction's memory grew with the store). A compaction holds the tables it
	// writes in RAM until they are on disk, so larger tables cost memory in proportion.
	BaseTableSize       int64
	TableSizeMultiplier int
	// Compression of table blocks: "none", "snappy" or "zstd"; "" means "snappy"
	// (Badger's default). Compressed blocks are decompressed into the heap on every read
	// that misses the block cache and compressed through a second buffer in compaction.
	Compression string
	// InMemory keeps everything in RAM (tests only); Dir is ignored.
	InMemory bool
	// Logger receives Badger's logs at warn and above; nil discards them.
	Logger *slog.Logger
}

// DB is the open store. Safe for concurrent use.
type DB struct {
	bdb    *badger.DB
	log    *slog.Logger
	dir    string // data dir holding the owner file; "" in memory
	stop   chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
	gc     gcStats
	hook   hookSlot // the registered CommitHook (commit.go)
}

// Open opens (or creates) the store. It refuses, with ErrEncryptionKey, to open an
// encrypted store without its key, and with ErrLocked a directory another process uses.
func Open(o Options) (*DB, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if n := len(o.EncryptionKey); n != 0 && n != 32 {
		return nil, fmt.Errorf("store: encryption key is %d bytes, want 32", n)
	}
	o.memoryDefaults()
	bo := badger.DefaultOptions(o.Dir).
		// Memory is bounded by these, not by how much data waits: values over 1 KiB
		// (message bodies, media) live in the value log on disk, keys and small values in
		// a few memtables, reads through a bounded block cache, compaction through tables
		// of a fixed size on every level. Badger's defaults (1 MiB threshold, 5 x 64 MiB
		// memtables, 256 MiB cache, tables doubling per level) would keep a queue of large
		// messages in RAM and let compaction's memory grow with the store. Figures in
		// docs/operations.md and docs/benchmarks.md.
		WithValueThreshold(1 << 10).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithBaseTableSize(o.BaseTableSize).
		WithSyncWrites(o.SyncWrites).
		WithLogger(badgerLogger{o.Logger}).
		WithLoggingLevel(badger.WARNING).
		WithInMemory(o.InMemory)
	bo.TableSizeMultiplier = o.TableSizeMultiplier
	switch o.Compression {
	case "", "snappy":
		bo = bo.WithCompression(options.Snappy)
	case "none":
		bo = bo.WithCompression(options.None)
	case "zstd":
		bo = bo.WithCompression(options.ZSTD)
	default:
		return nil, fmt.Errorf("store: compression %q is not none, snappy or zstd", o.Compression)
	}
	if o.InMemory {
		bo = bo.WithDir("").WithValueDir("")
	} else if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: creating data dir %s: %w", o.Dir, err)
	}
	if o.NumCompactors > 0 {
		bo = bo.WithNumCompactors(o.NumCompactors)
	}
	if o.ValueLogFileSize > 0 {
		bo = bo.WithValueLogFileSize(o.ValueLogFileSize)
	}
	if len(o.EncryptionKey) > 0 {
		// Badger requires a block index cache when encryption is on.
		bo = bo.WithEncryptionKey(o.EncryptionKey)
		if o.IndexCacheSize == 0 {
			bo = bo.WithIndexCacheSize(16 << 20)
		}
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		return nil, openError(o, err)
	}
	db := &DB{bdb: bdb, log: o.Logger, stop: make(chan struct{})}
	if !o.InMemory {
		if err := writeOwner(o.Dir, time.Now()); err != nil {
			bdb.Close()
			return nil, fmt.Errorf("store: writing %s in %s: %w", OwnerFile, o.Dir, err)
		}
		db.dir = o.Dir
	}
	if o.GCInterval > 0 && !o.InMemory {
		ratio := o.GCDiscardRatio
		if ratio <= 0 || ratio >= 1 {
			ratio = 0.5
		}
		db.wg.Add(1)
		go db.gcLoop(o.GCInterval, ratio)
	}
	return db, nil
}

// Defaults of the memory knobs of Options.
const (
	DefaultMemTableSize        = 16 << 20
	DefaultNumMemtables        = 3
	DefaultBlockCacheSize      = 32 << 20
	DefaultBaseTableSize       = 2 << 20
	DefaultTableSizeMultiplier = 1
)

// memoryDefaults fills the memory knobs left 0.
func (o *Options) memoryDefaults() {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MemTableSize, DefaultMemTableSize)
	def(&o.BlockCacheSize, DefaultBlockCacheSize)
	def(&o.BaseTableSize, DefaultBaseTableSize)
	if o.NumMemtables <= 0 {
		o.NumMemtables = DefaultNumMemtables
	}
	if o.TableSizeMultiplier <= 0 {
		o.TableSizeMultiplier = DefaultTableSizeMultiplier
	}
}

func openError(o Options, err error) error {
	switch {
	case errors.Is(err, badger.ErrEncryptionKeyMismatch) && len(o.EncryptionKey) == 0:
		return fmt.Errorf("store: %s is encrypted and no key was given; set WAGATE_STORE_ENCRYPTION_KEY or store.encryption_key_file: %w", o.Dir, ErrEncryptionKey)
	case errors.Is(err, badger.ErrEncryptionKeyMismatch):
		return fmt.Errorf("store: %s was written with another encryption key (or without encryption); give the key it was created with: %w", o.Dir, ErrEncryptionKey)
	case strings.Contains(err.Error(), "Cannot acquire directory lock"):
		// Badger returns this lock failure unwrapped and untyped; this is the one place
		// its text is matched, so that callers can use errors.Is(err, ErrLocked). The
		// error names the holder from its owner file (owner.go).
		return lockedError(o.Dir)
	}
	return fmt.Errorf("store: opening %s: %w", o.Dir, err)
}

// Badger returns the underlying DB for packages that need raw access (backups, wastore).
func (db *DB) Badger() *badger.DB { return db.bdb }

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(txn *badger.Txn) error) error { return db.bdb.View(fn) }

// Update runs fn in a read-write transaction and commits it, retrying fn from scratch
// (up to 10 times) when the commit conflicts with a concurrent transaction. fn must
// therefore have no side effects outside txn. A registered CommitHook (commit.go) sees
// the commit; a conflict it reports is retried the same way.
func (db *DB) Update(fn func(txn *badger.Txn) error) error {
	var err error
	for range 10 {
		err = db.update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// Ping reports whether the store is open and readable (readiness checks).
func (db *DB) Ping(ctx context.Context) error {
	if db.bdb.IsClosed() {
		return errors.New("store closed")
	}
	return ctx.Err()
}

// Close stops background GC and closes Badger, flushing everything to disk.
func (db *DB) Close() error {
	var err error
	db.closed.Do(func() {
		close(db.stop)
		db.wg.Wait()
		if db.dir != "" {
			removeOwner(db.dir) // while the lock is still held
		}
		err = db.bdb.Close()
	})
	return err
}

func (db *DB) gcLoop(every time.Duration, ratio float64) {
	defer db.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			db.RunGC(ratio)
		}
	}
}

// RunGC rewrites value-log files while Badger finds ones with at least ratio of stale
// data, and returns how many it rewrote.
func (db *DB) RunGC(ratio float64) int {
	n := 0
	defer func() { db.gc.record(n) }()
	for {
		select {
		case <-db.stop:
			return n
		default:
		}
		err := db.bdb.RunValueLogGC(ratio)
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				db.log.Warn("value log gc", "err", err)
			}
			return n
		}
		n++
	}
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)), "component", "badger")
}
