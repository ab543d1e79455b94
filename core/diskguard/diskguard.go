// Package diskguard refuses new work before the data directory's filesystem is full.
// A full disk is the worst way for an embedded store to fail: Badger cannot write its
// value log or flush a memtable, and the gateway stops in the middle of everything.
// The guard reads the free space of the filesystem holding store.dir (statfs(2)) every
// Interval; below MinFree it is "low": the API refuses sends with 503 storage_low,
// /ready fails, and the retention schedule is asked for a round at once. Work already
// accepted continues (its status updates, acks and webhooks need a little space, which
// is what the margin is for). It turns back to normal once the free space is at least
// MinFree plus a quarter, so that it does not flap around the threshold.
//
//	g := diskguard.New(diskguard.Options{Dir: "./data", MinFree: 1 << 30, Interval: 10 * time.Second})
//	g.Start()         // a first reading at once
//	defer g.Close()
//	if err := g.Admit(); err != nil { ... } // *LowError while low
package diskguard

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Space is a reading of a filesystem.
type Space struct {
	// Free is the bytes an unprivileged process may still write (statfs f_bavail).
	Free uint64
	// Total is the filesystem's size in bytes.
	Total uint64
}

// ErrLow: the data directory's filesystem has less free space than the guard's
// minimum. Admit and Ready return it as a *LowError.
var ErrLow = errors.New("storage low")

// LowError is Admit's and Ready's error while free space is low.
type LowError struct {
	// Dir is the guarded directory.
	Dir string
	// Free is the free space at the last reading; MinFree the configured minimum.
	Free, MinFree uint64
	// RetryAfter is when a client may try again.
	RetryAfter time.Duration
}

func (e *LowError) Error() string {
	return fmt.Sprintf("free space on the filesystem of %s is %s, under the minimum of %s (disk.min_free)",
		e.Dir, bytesText(e.Free), bytesText(e.MinFree))
}

// Unwrap makes errors.Is(err, ErrLow) true.
func (e *LowError) Unwrap() error { return ErrLow }

// Options configure a Guard.
type Options struct {
	// Dir is the directory whose filesystem is watched (store.dir).
	Dir string
	// MinFree is the free space under which new work is refused; 0 turns the guard off
	// (it still reports the free space).
	MinFree uint64
	// Interval is the time between readings; 0 means 10s.
	Interval time.Duration
	// RetryAfter is the Retry-After of refusals; 0 means 30s.
	RetryAfter time.Duration
	// Statfs reads the filesystem of a path; nil means the operating system's
	// (statfs(2)). Tests inject readings here.
	Statfs func(path string) (Space, error)
	// OnLow, when set, is called (in its own goroutine) each time the guard turns low:
	// the retention schedule's Trigger.
	OnLow func()
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives the transitions and reading errors; nil discards.
	Logger *slog.Logger
}

// Guard watches free space. Safe for concurrent use.
type Guard struct {
	o   Options
	log *slog.Logger
	m   *metrics

	mu   sync.Mutex
	last Space
	low  bool

	stop    chan struct{}
	done    chan struct{}
	started bool
	closed  sync.Once
}

// New builds a Guard and registers its metrics; it reads nothing until Start or Check.
func New(o Options) *Guard {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 30 * time.Second
	}
	if o.Statfs == nil {
		o.Statfs = Statfs
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{o: o, log: o.Logger, m: newMetrics(o.MinFree), stop: make(chan struct{}), done: make(chan struct{})}
	if o.Registerer != nil {
		o.Registerer.MustRegister(g.m)
	}
	return g
}

// Start reads the free space at once, then every Interval until Close.
func (g *Guard) Start() {
	if g.started {
		return
	}
	g.started = true
	g.Check()
	go g.loop()
}

// Close stops the readings.
func (g *Guard) Close() {
	g.closed.Do(func() {
		close(g.stop)
		if g.started {
			<-g.done
		}
	})
}

func (g *Guard) loop() {
	defer close(g.done)
	t := time.NewTicker(g.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
			g.Check()
		}
	}
}

// Check reads the free space now and updates the guard's state. A failed reading
// keeps the previous state; it is logged and counted.
func (g *Guard) Check() (Space, error) {
	sp, err := g.o.Statfs(g.o.Dir)
	if err != nil {
		g.m.checkErrors.Inc()
		g.log.Warn("diskguard: reading free space", "dir", g.o.Dir, "err", err)
		return sp, err
	}
	g.mu.Lock()
	wasLow := g.low
	g.last = sp
	switch {
	case g.o.MinFree == 0:
		g.low = false
	case sp.Free < g.o.MinFree:
		g.low = true
	case sp.Free >= g.o.MinFree+g.o.MinFree/4:
		g.low = false
	}
	low := g.low
	g.mu.Unlock()
	g.m.observe(sp, low)
	switch {
	case low && !wasLow:
		g.m.episodes.Inc()
		g.log.Error("diskguard: free space low; refusing new work until it recovers",
			"dir", g.o.Dir, "free", bytesText(sp.Free), "min_free", bytesText(g.o.MinFree))
		if g.o.OnLow != nil {
			go g.o.OnLow()
		}
	case !low && wasLow:
		g.log.Info("diskguard: free space recovered; accepting new work", "dir", g.o.Dir, "free", bytesText(sp.Free))
	}
	return sp, nil
}

// Low reports whether free space was under the minimum at the last reading.
func (g *Guard) Low() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.low
}

// Last returns the last reading.
func (g *Guard) Last() Space {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

// Admit returns nil when new work may be accepted, a *LowError when free space is low
// (the refusal is counted).
func (g *Guard) Admit() error {
	if err := g.Ready(); err != nil {
		g.m.refused.Inc()
		return err
	}
	return nil
}

// Ready returns a *LowError while free space is low, nil otherwise: the gateway's
// readiness.
func (g *Guard) Ready() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.low {
		return nil
	}
	return &LowError{Dir: g.o.Dir, Free: g.last.Free, MinFree: g.o.MinFree, RetryAfter: g.o.RetryAfter}
}

// bytesText writes n with a binary unit, e.g. "1.5 GiB".
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
