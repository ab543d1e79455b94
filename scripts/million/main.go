// Command million measures 1,000,000 queued messages: how fast the durable queue takes
// them in batches, and what they cost in memory and on disk while nothing drains them.
//
//	go run ./scripts/million                  # or scripts/million.sh
//	go run ./scripts/million -n 100000 -sync=false -keep
//
// It opens a store (core/store, sync writes on by default) in a fresh directory and the
// queue (core/queue) with no dispatcher, enqueues -n messages in batches of -batch through
// queue.Enqueue from -workers goroutines, and prints:
//   - ingest: wall time and messages/s (the "batch ingest messages/s" figure), and the
//     latency of one Enqueue call (one batch);
//   - memory after runtime.GC: VmRSS (with RssAnon and RssFile) from /proc/self/status,
//     and the Go heap in use (runtime.MemStats.HeapInuse);
//   - the peak during the ingest and compaction: Go memory in use (what a soft limit,
//     GOMEMLIMIT, counts) and live heap objects, sampled every 20ms, and VmHWM; run with
//     GOMEMLIMIT=... or -compactors N to see what each does to it;
//   - the time of one storage-usage pass (store.DB.Usage) over the million messages;
//   - the data directory's size, summed over its files: apparent (file lengths) and
//     allocated (disk blocks; Badger preallocates and maps some files sparsely);
//   - then closes queue and store and re-runs itself (-phase reopen) as a fresh process,
//     as a restarted gateway would be: the time of store.Open and of queue.Open, which
//     counts every waiting message at start, the depth it found, and the memory after.
package main

import (
	"context"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/memguard"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/store"
)

const tenant = "million"

type options struct {
	n, batch, workers, sessions, text int
	sync, keep                        bool
	compactors                        int
	gatewayDefaults                   bool
	dir, phase, profile               string
	settle                            time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1_000_000, "messages to enqueue")
	flag.IntVar(&o.batch, "batch", 1000, "messages per queue.Enqueue call")
	flag.IntVar(&o.workers, "workers", 4, "goroutines calling queue.Enqueue concurrently")
	flag.IntVar(&o.sessions, "sessions", 4, "sessions the messages are spread over (batch i goes to session i mod sessions)")
	flag.IntVar(&o.text, "text", 100, "bytes of (random, printable) text per message")
	flag.BoolVar(&o.sync, "sync", true, "store sync writes (fsync every commit), as store.sync_writes")
	flag.StringVar(&o.dir, "dir", "", "data directory (must not exist or be empty); default a new temporary directory")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory")
	flag.StringVar(&o.profile, "profile", "", "write CPU and heap profiles of the ingest and of the reopen to `prefix`.{ingest,reopen}.{cpu,heap}.pprof")
	flag.DurationVar(&o.settle, "settle", 2*time.Minute, "after the reopen, wait at most this long for compaction to go idle before the last memory reading")
	flag.IntVar(&o.compactors, "compactors", 0, "Badger compactions at once (store.Options.NumCompactors); 0 is Badger's default, 4")
	flag.BoolVar(&o.gatewayDefaults, "gateway-defaults", true, "open the store with a default gateway's store options and GC target (config.Defaults: store.*, memory.gc_percent; GOGC wins); false: core/store's own defaults, as before 2026-12-08")
	flag.StringVar(&o.phase, "phase", "all", `"all", or "reopen" (internal: open an existing -dir and count)`)
	flag.Parse()
	if o.gatewayDefaults {
		if p, _ := memguard.ResolveGC(config.Defaults().Memory.GCPercent, os.Getenv); p > 0 {
			debug.SetGCPercent(p)
		}
	}
	var err error
	switch o.phase {
	case "all":
		err = runAll(o)
	case "reopen":
		err = reopen(o)
	default:
		err = fmt.Errorf("unknown -phase %q", o.phase)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "million:", err)
		os.Exit(1)
	}
}

// gcPercent reads the collector's target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// storeOptions are the store's options for the run: a default gateway's (as
// cmd/wagate opens its store from config.Defaults().Store) or core/store's own.
func (o options) storeOptions() store.Options {
	so := store.Options{Dir: o.dir, SyncWrites: o.sync, NumCompactors: o.compactors}
	if o.gatewayDefaults {
		c := config.Defaults().Store
		so.MemTableSize, so.NumMemtables = int64(c.MemtableSize), c.NumMemtables
		so.BlockCacheSize, so.IndexCacheSize = int64(c.BlockCacheSize), int64(c.IndexCacheSize)
		so.BaseTableSize, so.Compression = int64(c.TableSize), c.Compression
		so.GCDiscardRatio = c.GCDiscardRatio
		if o.compactors == 0 {
			so.NumCompactors = c.NumCompactors
		}
	}
	return so
}

func runAll(o options) (err error) {
	if o.n <= 0 || o.batch <= 0 || o.workers <= 0 || o.sessions <= 0 || o.text <= 0 {
		return errors.New("-n, -batch, -workers, -sessions and -text must be positive")
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "wagate-million-"); err != nil {
			return err
		}
	} else if entries, err := os.ReadDir(o.dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("-dir %s is not empty", o.dir)
	}
	if !o.keep {
		defer os.RemoveAll(o.dir)
	}
	fmt.Printf("== million: %d messages of %d-byte text, batches of %d, %d workers, %d sessions, sync writes %v, gateway defaults %v (GC %d%%)\n",
		o.n, o.text, o.batch, o.workers, o.sessions, o.sync, o.gatewayDefaults, gcPercent())
	fmt.Printf("data dir %s; %s %s/%s, GOMAXPROCS %d\n", o.dir, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))

	db, err := store.Open(o.storeOptions())
	if err != nil {
		return err
	}
	stopPeak := trackPeak()
	defer stopPeak()
	// Limits at least n: this measures the queue, not its 429.
	q, err := queue.Open(db, queue.Options{MaxPerSession: o.n, MaxTotal: o.n})
	if err != nil {
		db.Close()
		return err
	}

	batches := (o.n + o.batch - 1) / o.batch
	lat := make([]time.Duration, batches)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	ctx := context.Background()
	stopCPU, err := startCPUProfile(o.profile, "ingest")
	if err != nil {
		return err
	}
	start := time.Now()
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				b := int(next.Add(1)) - 1
				if b >= batches {
					return
				}
				size := min(o.batch, o.n-b*o.batch)
				session := "s" + strconv.Itoa(b%o.sessions)
				items := make([]queue.Item, size)
				for i := range items {
					items[i].Message = queue.Message{
						ID: ids.New(ids.Message), Session: session, Type: provider.KindText,
						ChatID: fmt.Sprintf("1555%07d@c.us", rng.IntN(10_000_000)), Text: randomText(rng, o.text),
					}
				}
				t0 := time.Now()
				_, err := q.Enqueue(ctx, tenant, items)
				lat[b] = time.Since(t0)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("batch %d: %w", b, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	stopCPU()
	if firstErr != nil {
		q.Close()
		db.Close()
		return firstErr
	}
	_, total := q.Depth(tenant, "s0")
	slices.Sort(lat)
	fmt.Printf("\n== ingest\n")
	fmt.Printf("enqueued   %d messages (queue depth %d) in %v\n", o.n, total, took.Round(time.Millisecond))
	fmt.Printf("rate       %.0f messages/s (batch ingest)\n", float64(o.n)/took.Seconds())
	fmt.Printf("Enqueue    per batch of %d: p50 %v, p99 %v, max %v\n", o.batch,
		pct(lat, 0.50).Round(time.Microsecond), pct(lat, 0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))

	fmt.Printf("\n== memory with %d messages queued (after runtime.GC)\n", o.n)
	printMemory()
	printPeak("ingest")
	if err := writeHeapProfile(o.profile, "ingest"); err != nil {
		return err
	}
	t2 := time.Now()
	if waitCompactionIdle(o.settle) {
		fmt.Printf("\n== same process, compaction idle after %v (after runtime.GC + FreeOSMemory)\n", time.Since(t2).Round(time.Second))
	} else {
		fmt.Printf("\n== same process, compaction still busy after %v (after runtime.GC + FreeOSMemory)\n", o.settle)
	}
	debug.FreeOSMemory()
	printMemory()
	printPeak("ingest and compaction")
	fmt.Printf("\n== on disk, store open\n")
	printDisk(o.dir)
	// The storage-usage pass the retention schedule runs every retention.usage_interval.
	t1 := time.Now()
	u, err := db.Usage(ctx)
	if err != nil {
		return err
	}
	var keys, bytes int64
	for _, s := range u.Kinds {
		keys, bytes = keys+s.Keys, bytes+s.Bytes
	}
	fmt.Printf("usage pass (store.DB.Usage) %v: %d keys, %s live (msg %s, que %s, chm %s)\n", time.Since(t1).Round(time.Millisecond),
		keys, mb(bytes), mb(u.Kinds[store.PrefixMessage].Bytes), mb(u.Kinds[store.PrefixQueue].Bytes), mb(u.Kinds[store.PrefixChatMessage].Bytes))

	q.Close()
	t0 := time.Now()
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Printf("\n== on disk, store closed (store.Close took %v)\n", time.Since(t0).Round(time.Millisecond))
	printDisk(o.dir)

	// The reopen in a fresh process: its memory is what a restarted gateway starts with.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "-phase", "reopen", "-dir", o.dir, "-n", strconv.Itoa(o.n),
		"-sync="+strconv.FormatBool(o.sync), "-compactors", strconv.Itoa(o.compactors), "-profile", o.profile, "-settle", o.settle.String(),
		"-gateway-defaults="+strconv.FormatBool(o.gatewayDefaults))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Printf("\n== reopen in a new process\n")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	if o.keep {
		fmt.Printf("\nkept %s\n", o.dir)
	}
	return nil
}

// reopen opens an existing store and queue, as a restarted gateway does, and reports.
func reopen(o options) error {
	if o.dir == "" {
		return errors.New("-phase reopen needs -dir")
	}
	stopCPU, err := startCPUProfile(o.profile, "reopen")
	if err != nil {
		return err
	}
	t0 := time.Now()
	db, err := store.Open(o.storeOptions())
	if err != nil {
		return err
	}
	defer db.Close()
	openStore := time.Since(t0)
	t1 := time.Now()
	q, err := queue.Open(db, queue.Options{MaxPerSession: o.n, MaxTotal: o.n})
	if err != nil {
		return err
	}
	defer q.Close()
	openQueue := time.Since(t1)
	stopCPU()
	_, total := q.Depth(tenant, "s0")
	fmt.Printf("store.Open %v\n", openStore.Round(time.Millisecond))
	fmt.Printf("queue.Open %v (counted %d waiting messages, %.0f/s)\n", openQueue.Round(time.Millisecond), total, float64(total)/openQueue.Seconds())
	if total != o.n {
		return fmt.Errorf("queue.Open counted %d waiting messages, want %d", total, o.n)
	}
	fmt.Printf("memory after the reopen (after runtime.GC):\n")
	printMemory()
	if err := writeHeapProfile(o.profile, "reopen"); err != nil {
		return err
	}
	// Right after the reopen Badger is compacting the ingest's backlog, and its table
	// builders are most of the memory above. What stays while the million messages
	// simply wait is the memory once compaction is idle.
	t2 := time.Now()
	settled := waitCompactionIdle(o.settle)
	if settled {
		fmt.Printf("compaction idle after %v; memory while the messages wait (after runtime.GC + FreeOSMemory):\n", time.Since(t2).Round(time.Second))
	} else {
		fmt.Printf("compaction still busy after %v; memory now (after runtime.GC + FreeOSMemory):\n", o.settle)
	}
	debug.FreeOSMemory()
	printMemory()
	return nil
}

// waitCompactionIdle waits until Badger has compacted nothing (its expvar
// badger_compaction_current_num_lsm is 0) for 20 seconds in a row — long enough for
// Badger's pool of table-builder buffers, which frees one buffer every 2 idle seconds,
// to drain — or until max passes.
func waitCompactionIdle(max time.Duration) bool {
	deadline := time.Now().Add(max)
	idle := 0
	for time.Now().Before(deadline) {
		v, _ := expvar.Get("badger_compaction_current_num_lsm").(*expvar.Int)
		if v != nil && v.Value() == 0 {
			if idle++; idle == 20 {
				return true
			}
		} else {
			idle = 0
		}
		time.Sleep(time.Second)
	}
	return false
}

// startCPUProfile starts writing prefix.name.cpu.pprof (nothing without a prefix) and
// returns the function that stops it.
func startCPUProfile(prefix, name string) (func(), error) {
	if prefix == "" {
		return func() {}, nil
	}
	f, err := os.Create(prefix + "." + name + ".cpu.pprof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		fmt.Printf("CPU profile %s\n", f.Name())
	}, nil
}

// writeHeapProfile writes prefix.name.heap.pprof (nothing without a prefix).
func writeHeapProfile(prefix, name string) error {
	if prefix == "" {
		return nil
	}
	f, err := os.Create(prefix + "." + name + ".heap.pprof")
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Printf("heap profile %s\n", f.Name())
	return pprof.WriteHeapProfile(f)
}

func randomText(rng *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789.,!?"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func pct(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// peak is the most Go memory in use seen by trackPeak's sampler (what a soft memory
// limit counts: runtime/metrics total minus released, memguard.Read), and of live heap
// objects.
var peak struct {
	mu           sync.Mutex
	inUse, heap  uint64
	since        time.Time
	samplerEvery time.Duration
}

// trackPeak samples memory every 20ms until the returned func is called.
func trackPeak() func() {
	peak.since, peak.samplerEvery = time.Now(), 20*time.Millisecond
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(peak.samplerEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			r := memguard.Read()
			peak.mu.Lock()
			peak.inUse, peak.heap = max(peak.inUse, r.InUse), max(peak.heap, r.HeapObjects)
			peak.mu.Unlock()
		}
	}()
	return func() { close(stop) }
}

func printPeak(what string) {
	peak.mu.Lock()
	defer peak.mu.Unlock()
	st := procStatus()
	limit := debug.SetMemoryLimit(-1)
	lim := "none"
	if limit < math.MaxInt64 {
		lim = mb(limit)
	}
	fmt.Printf("peak       during %s: Go memory in use %s, heap objects %s (sampled every %v); VmHWM %s; soft limit %s\n",
		what, mb(int64(peak.inUse)), mb(int64(peak.heap)), peak.samplerEvery, mb(st["VmHWM"]), lim)
}

func printMemory() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := procStatus()
	fmt.Printf("VmRSS      %s (RssAnon %s, RssFile %s)\n", mb(st["VmRSS"]), mb(st["RssAnon"]), mb(st["RssFile"]))
	fmt.Printf("Go heap    HeapInuse %s, HeapAlloc %s, Sys %s\n", mb(int64(ms.HeapInuse)), mb(int64(ms.HeapAlloc)), mb(int64(ms.Sys)))
}

// procStatus reads the kB fields of /proc/self/status, in bytes (-1 when missing).
func procStatus() map[string]int64 {
	out := map[string]int64{"VmRSS": -1, "RssAnon": -1, "RssFile": -1, "VmHWM": -1}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, val, _ := strings.Cut(line, ":")
		if kb, ok := strings.CutSuffix(strings.TrimSpace(val), " kB"); ok {
			if n, err := strconv.ParseInt(kb, 10, 64); err == nil {
				out[name] = n << 10
			}
		}
	}
	return out
}

// printDisk sums the data directory's files, by kind: apparent size and allocated blocks.
func printDisk(dir string) {
	type sum struct{ files, apparent, allocated int64 }
	kinds := map[string]*sum{}
	var all sum
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		alloc := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			alloc = st.Blocks * 512
		}
		kind := filepath.Ext(path)
		if kind == "" {
			kind = d.Name()
		}
		if kinds[kind] == nil {
			kinds[kind] = &sum{}
		}
		for _, s := range []*sum{kinds[kind], &all} {
			s.files++
			s.apparent += info.Size()
			s.allocated += alloc
		}
		return nil
	})
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Printf("total      %s apparent, %s allocated, %d files\n", mb(all.apparent), mb(all.allocated), all.files)
	for _, k := range names {
		s := kinds[k]
		fmt.Printf("  %-12s %s apparent, %s allocated, %d files\n", k, mb(s.apparent), mb(s.allocated), s.files)
	}
}

func mb(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
