// Package retention is the storage optimizer: on a schedule it deletes what the gateway
// no longer needs, kind by kind, runs Badger's value-log GC after a round that deleted
// something, and measures what the store holds, per kind and per tenant, for /metrics.
//
// A kind is a sweep owned by the package that owns the data (core/queue for messages and
// idempotency keys, core/store/wastore for whatsmeow's event buffer); this package only
// schedules them, so it knows no value format. Every sweep deletes in transactions of a
// bounded size of its own, never in one giant one, and can be cut short and run again.
//
//	r := retention.New(db, retention.Options{Interval: time.Hour, UsageInterval: 5 * time.Minute},
//		retention.Kind{Name: "messages", Sweep: func(ctx context.Context, now time.Time) (int, error) {
//			return q.SweepFinal(ctx, now.Add(-30*24*time.Hour), 1000)
//		}})
//	r.Start()       // a round at once, then every Interval
//	defer r.Close() // waits for a round in progress to stop
package retention

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/core/store"
)

// Kind is one sort of data with a retention rule.
type Kind struct {
	// Name labels the kind's metrics and logs, snake_case: messages, idempotency_keys.
	Name string
	// Sweep deletes what is due at now and returns how many records it deleted. It
	// deletes in bounded transactions and returns, with ctx's error, when ctx ends.
	Sweep func(ctx context.Context, now time.Time) (int, error)
}

// Options configure a Runner.
type Options struct {
	// Interval is the time between sweep rounds; 0 runs none in the background
	// (Sweep still works).
	Interval time.Duration
	// UsageInterval is the time between measurements of the store's live data
	// (store.DB.Usage); 0 measures only when MeasureUsage is called.
	UsageInterval time.Duration
	// GCDiscardRatio is passed to store.DB.RunGC after a round that deleted something;
	// 0 means 0.5.
	GCDiscardRatio float64
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives a line per round that deleted something, and errors; nil discards.
	Logger *slog.Logger
	// Now is the clock handed to sweeps; nil means time.Now.
	Now func() time.Time
}

// Round is the outcome of one sweep round.
type Round struct {
	// Deleted is how many records each kind deleted.
	Deleted map[string]int
	// Errors holds the kinds whose sweep failed, with the error; the next round tries
	// them again.
	Errors map[string]error
	// GCRewritten is how many value-log files the GC after the round rewrote.
	GCRewritten int
}

// Runner runs the sweeps and the usage measurement. Safe for concurrent use.
type Runner struct {
	db    *store.DB
	o     Options
	kinds []Kind
	log   *slog.Logger
	m     *metrics

	roundMu sync.Mutex // one round at a time

	ctx     context.Context
	cancel  context.CancelFunc
	trigger chan struct{}
	wg      sync.WaitGroup
	started bool
}

// New builds a Runner and registers its metrics; it starts nothing.
func New(db *store.DB, o Options, kinds ...Kind) *Runner {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.GCDiscardRatio <= 0 || o.GCDiscardRatio >= 1 {
		o.GCDiscardRatio = 0.5
	}
	r := &Runner{db: db, o: o, kinds: kinds, log: o.Logger, trigger: make(chan struct{}, 1)}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.m = newMetrics(db, kinds)
	if o.Registerer != nil {
		o.Registerer.MustRegister(r.m)
	}
	return r
}

// Start runs a round at once and then every Interval, and measures usage at once and
// then every UsageInterval, in the background until Close.
func (r *Runner) Start() {
	if r.started {
		return
	}
	r.started = true
	if r.o.Interval > 0 {
		r.wg.Add(1)
		go r.sweepLoop()
	}
	if r.o.UsageInterval > 0 {
		r.wg.Add(1)
		go r.usageLoop()
	}
}

// Trigger asks the background loop for a round now (the disk guard calls it when free
// space runs low). It never blocks; a round already asked for absorbs it.
func (r *Runner) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Close stops the background loops, cutting a round in progress short (its sweeps end
// with their current transaction), and waits for them.
func (r *Runner) Close() {
	r.cancel()
	r.wg.Wait()
}

func (r *Runner) sweepLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		r.Sweep(r.ctx)
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		case <-r.trigger:
		}
	}
}

func (r *Runner) usageLoop() {
	defer r.wg.Done()
	t := time.NewTicker(r.o.UsageInterval)
	defer t.Stop()
	for {
		if err := r.MeasureUsage(r.ctx); err != nil && r.ctx.Err() == nil {
			r.log.Warn("retention: measuring storage usage", "err", err)
		}
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep runs one round now: every kind in order, each independently (one failing does
// not stop the others), then value-log GC if anything was deleted.
func (r *Runner) Sweep(ctx context.Context) Round {
	r.roundMu.Lock()
	defer r.roundMu.Unlock()
	round := Round{Deleted: map[string]int{}, Errors: map[string]error{}}
	total := 0
	for _, k := range r.kinds {
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		n, err := k.Sweep(ctx, r.o.Now())
		r.m.sweepDuration.WithLabelValues(k.Name).Set(time.Since(start).Seconds())
		round.Deleted[k.Name] = n
		total += n
		r.m.deleted.WithLabelValues(k.Name).Add(float64(n))
		if err != nil {
			round.Errors[k.Name] = err
			if !errors.Is(err, context.Canceled) {
				r.m.errors.WithLabelValues(k.Name).Inc()
				r.log.Error("retention: sweep failed; retried next round", "kind", k.Name, "deleted", n, "err", err)
			}
			continue
		}
		r.m.lastSuccess.WithLabelValues(k.Name).Set(float64(time.Now().Unix()))
	}
	if total > 0 && ctx.Err() == nil {
		round.GCRewritten = r.db.RunGC(r.o.GCDiscardRatio)
		r.log.Info("retention: swept", "deleted", round.Deleted, "gc_files_rewritten", round.GCRewritten)
	}
	return round
}

// MeasureUsage measures the store's live data now and keeps it for /metrics.
func (r *Runner) MeasureUsage(ctx context.Context) error {
	start := time.Now()
	u, err := r.db.Usage(ctx)
	if err != nil {
		return err
	}
	r.m.setUsage(u, time.Now(), time.Since(start))
	return nil
}

// Usage returns the last measurement, and when it was taken (zero before the first).
func (r *Runner) Usage() (store.Usage, time.Time) {
	return r.m.usage()
}
