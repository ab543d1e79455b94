// Package memguard is the memory manager: it gives the Go runtime a soft memory limit
// (what GOMEMLIMIT does) and watches memory in use against it; above a high watermark
// it sheds new work (the API answers 429 memory_pressure with Retry-After, the
// dispatcher holds its sends) until memory falls under a low watermark.
//
// The soft limit makes the garbage collector work harder as the heap nears it instead
// of letting it grow to twice the live heap, which is what bounds short bursts such as
// Badger's compaction of an ingest burst (docs/benchmarks.md). Shedding bounds what the
// gateway takes on while it is there.
//
//	g := memguard.New(memguard.Options{Limit: limit, High: 0.9, Low: 0.75})
//	g.Start()         // applies the limit, a first reading at once
//	defer g.Close()   // restores the runtime's previous limit
//	if err := g.Admit(); err != nil { ... } // *PressureError above the high mark
//	if g.Pressure() { ... }                  // other components slow down
package memguard

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reading is the runtime's memory at one moment (runtime/metrics).
type Reading struct {
	// InUse is the memory the Go runtime has mapped and not returned to the operating
	// system: /memory/classes/total:bytes minus /memory/classes/heap/released:bytes,
	// the quantity the soft limit applies to.
	InUse uint64
	// HeapObjects is the bytes of live heap objects and of dead ones not yet swept
	// (/memory/classes/heap/objects:bytes).
	HeapObjects uint64
}

var sampleNames = []string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes", "/memory/classes/heap/objects:bytes"}

// Read takes a reading from runtime/metrics (no stop-the-world, unlike
// runtime.ReadMemStats).
func Read() Reading {
	s := make([]rtmetrics.Sample, len(sampleNames))
	for i, n := range sampleNames {
		s[i].Name = n
	}
	rtmetrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	total, released := v(0), v(1)
	return Reading{InUse: total - min(released, total), HeapObjects: v(2)}
}

// ErrPressure: memory in use is over the high watermark. Admit returns it as a
// *PressureError.
var ErrPressure = errors.New("memory pressure")

// PressureError is Admit's error while the gateway sheds work.
type PressureError struct {
	// InUse is memory in use at the last reading; High the high watermark in bytes.
	InUse, High uint64
	// RetryAfter is when a client may try again.
	RetryAfter time.Duration
}

func (e *PressureError) Error() string {
	return fmt.Sprintf("memory in use %d MiB is over the high watermark of %d MiB (memory.high_watermark)", e.InUse>>20, e.High>>20)
}

// Unwrap makes errors.Is(err, ErrPressure) true.
func (e *PressureError) Unwrap() error { return ErrPressure }

// Options configure a Guard.
type Options struct {
	// Limit is the soft memory limit in bytes. With Apply, Start sets it
	// (debug.SetMemoryLimit) and Close restores the previous one. 0 means no limit: the
	// guard reports memory but never sheds.
	Limit int64
	// Apply makes Start set Limit as the runtime's limit; false when Limit is only read
	// (a GOMEMLIMIT the runtime already applied).
	Apply bool
	// GCPercent, when positive, is set by Start as the collector's target
	// (debug.SetGCPercent) and restored by Close; 0 leaves it (a GOGC the runtime
	// applied, or its default).
	GCPercent int
	// High is the fraction of Limit above which new work is shed; 0 means 0.9.
	High float64
	// Low is the fraction of Limit under which shedding stops; 0 means 0.75. Below High.
	Low float64
	// Interval is the time between readings; 0 means 1s.
	Interval time.Duration
	// RetryAfter is the Retry-After of refusals and how long the dispatcher holds a
	// send; 0 means 5s.
	RetryAfter time.Duration
	// Read takes a reading; nil means Read (runtime/metrics). Tests inject readings.
	Read func() Reading
	// Collect frees what the garbage collector can before a reading that would start
	// or keep shedding is believed; nil means debug.FreeOSMemory. Memory in use counts
	// garbage not yet collected: under a soft limit the heap normally grows to near the
	// limit between collections, and once shedding stops the work, nothing allocates
	// and the next collection may be minutes away (the forced one every 2 minutes). So
	// only memory that survives a collection sheds work.
	Collect func()
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives the transitions; nil discards.
	Logger *slog.Logger
}

// Guard watches memory. Safe for concurrent use.
type Guard struct {
	o         Options
	log       *slog.Logger
	m         *metrics
	high, low uint64 // watermarks in bytes; 0 when there is no limit

	pressure atomic.Bool
	mu       sync.Mutex
	last     Reading

	prevLimit int64
	prevGC    int
	stop      chan struct{}
	done      chan struct{}
	started   bool
	closed    sync.Once
}

// New builds a Guard and registers its metrics; it changes and reads nothing until
// Start or Check.
func New(o Options) *Guard {
	if o.High <= 0 || o.High > 1 {
		o.High = 0.9
	}
	if o.Low <= 0 || o.Low >= o.High {
		o.Low = min(0.75, o.High*0.8)
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 5 * time.Second
	}
	if o.Read == nil {
		o.Read = Read
	}
	if o.Collect == nil {
		o.Collect = debug.FreeOSMemory
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Guard{o: o, log: o.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if o.Limit > 0 && o.Limit < math.MaxInt64 {
		g.high = uint64(float64(o.Limit) * o.High)
		g.low = uint64(float64(o.Limit) * o.Low)
	}
	g.m = newMetrics(o.Limit, g.high)
	if o.Registerer != nil {
		o.Registerer.MustRegister(g.m)
	}
	return g
}

// Start applies the soft limit (with Apply), takes a first reading, and then reads
// every Interval until Close.
func (g *Guard) Start() {
	if g.started {
		return
	}
	g.started = true
	if g.o.Apply && g.o.Limit > 0 {
		g.prevLimit = debug.SetMemoryLimit(g.o.Limit)
	}
	if g.o.GCPercent > 0 {
		g.prevGC = debug.SetGCPercent(g.o.GCPercent)
	}
	g.Check()
	go g.loop()
}

// Close stops the readings and restores the runtime's previous soft limit.
func (g *Guard) Close() {
	g.closed.Do(func() {
		close(g.stop)
		if !g.started {
			return
		}
		<-g.done
		if g.o.Apply && g.o.Limit > 0 {
			debug.SetMemoryLimit(g.prevLimit)
		}
		if g.o.GCPercent > 0 {
			debug.SetGCPercent(g.prevGC)
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

// Check takes a reading now and updates the pressure state: on above the high
// watermark, off again under the low one. A reading over the watermark that decides is
// taken again after a collection (Options.Collect).
func (g *Guard) Check() Reading {
	r := g.o.Read()
	if g.high != 0 && (r.InUse >= g.high || g.pressure.Load() && r.InUse >= g.low) {
		// Over a watermark: what of it is garbage? (see Options.Collect)
		g.o.Collect()
		g.m.collections.Inc()
		r = g.o.Read()
	}
	g.mu.Lock()
	g.last = r
	g.mu.Unlock()
	g.m.observe(r)
	if g.high == 0 {
		return r
	}
	was := g.pressure.Load()
	now := was
	switch {
	case r.InUse >= g.high:
		now = true
	case r.InUse < g.low:
		now = false
	}
	if now != was {
		g.pressure.Store(now)
		if now {
			g.m.episodes.Inc()
			g.m.pressure.Set(1)
			g.log.Warn("memguard: memory over the high watermark; shedding new work",
				"in_use_mib", r.InUse>>20, "high_mib", g.high>>20, "limit_mib", g.o.Limit>>20)
		} else {
			g.m.pressure.Set(0)
			g.log.Info("memguard: memory under the low watermark; accepting new work", "in_use_mib", r.InUse>>20)
		}
	}
	return r
}

// Pressure reports whether the gateway is shedding work: a flag other components read
// to slow down (the dispatcher holds its sends while it is set).
func (g *Guard) Pressure() bool { return g.pressure.Load() }

// RetryAfter is the time refused clients are told to wait.
func (g *Guard) RetryAfter() time.Duration { return g.o.RetryAfter }

// Admit returns nil when new work may be accepted, a *PressureError while shedding
// (the refusal is counted).
func (g *Guard) Admit() error {
	if !g.pressure.Load() {
		return nil
	}
	g.m.shed.Inc()
	g.mu.Lock()
	inUse := g.last.InUse
	g.mu.Unlock()
	return &PressureError{InUse: inUse, High: g.high, RetryAfter: g.o.RetryAfter}
}

// Last returns the last reading.
func (g *Guard) Last() Reading {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}
