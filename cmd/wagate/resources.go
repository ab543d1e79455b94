package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/core/diskguard"
	"github.com/wagate/wagate/core/memguard"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/store/retention"
	"github.com/wagate/wagate/core/store/wastore"
)

// guards are the gateway's resource components (docs/operations.md, "Storage" and
// "Memory"): the storage optimizer (retention sweeps, value-log GC after them, storage
// usage metrics), the low-disk guard and the memory manager. Together they decide
// whether the API takes new work (admit), whether the gateway is ready, and whether the
// dispatcher holds its sends (hold).
type guards struct {
	retention *retention.Runner
	disk      *diskguard.Guard
	memory    *memguard.Guard

	// statfs, readMemory and clock are what the guards read the machine through: the
	// real readings, replaced by tests to inject a full disk, a heap over its
	// watermark, or time 30 days on.
	statfs     atomic.Pointer[func(string) (diskguard.Space, error)]
	readMemory atomic.Pointer[func() memguard.Reading]
	clock      atomic.Pointer[func() time.Time]
}

// openGuards builds the guards from g's config and registers their metrics; start
// starts them. Building needs g.db and g.registry; starting needs g.queue (the
// retention sweeps read it). Until started, nothing is shed or held.
func openGuards(g *gateway) *guards {
	cfg := g.cfg
	x := &guards{}
	statfs, read, now := diskguard.Statfs, memguard.Read, time.Now
	x.statfs.Store(&statfs)
	x.readMemory.Store(&read)
	x.clock.Store(&now)

	batch := cfg.Retention.Batch
	var kinds []retention.Kind
	if keep := cfg.Retention.Messages.D(); keep > 0 {
		kinds = append(kinds, retention.Kind{Name: "messages", Sweep: func(ctx context.Context, now time.Time) (int, error) {
			return g.queue.SweepFinal(ctx, now.Add(-keep), batch)
		}})
	}
	kinds = append(kinds,
		retention.Kind{Name: "idempotency_keys", Sweep: func(ctx context.Context, now time.Time) (int, error) {
			return g.queue.SweepIdempotency(ctx, now, batch)
		}},
		retention.Kind{Name: "whatsmeow_events", Sweep: func(ctx context.Context, now time.Time) (int, error) {
			return wastore.SweepEventBuffers(ctx, g.db, now)
		}},
	)
	x.retention = retention.New(g.db, retention.Options{
		Interval: cfg.Retention.Interval.D(), UsageInterval: cfg.Retention.UsageInterval.D(),
		GCDiscardRatio: cfg.Store.GCDiscardRatio, Registerer: g.registry, Logger: g.log.With("component", "retention"),
		Now: func() time.Time { return (*x.clock.Load())() },
	}, kinds...)

	x.disk = diskguard.New(diskguard.Options{
		Dir: cfg.Store.Dir, MinFree: uint64(cfg.Disk.MinFree), Interval: cfg.Disk.CheckInterval.D(),
		Statfs:     func(p string) (diskguard.Space, error) { return (*x.statfs.Load())(p) },
		OnLow:      x.retention.Trigger,
		Registerer: g.registry, Logger: g.log.With("component", "diskguard"),
	})

	limit, source, apply := memguard.Resolve(int64(cfg.Memory.SoftLimit), cfg.Memory.SoftLimitRatio, os.Getenv)
	gcPercent, gcEffective := memguard.ResolveGC(cfg.Memory.GCPercent, os.Getenv)
	g.log.Info("memory soft limit", "limit_mib", limit>>20, "source", source,
		"shed_above_mib", int64(float64(limit)*cfg.Memory.HighWatermark)>>20, "gc_percent", gcEffective)
	x.memory = memguard.New(memguard.Options{
		Limit: limit, Apply: apply, GCPercent: gcPercent, High: cfg.Memory.HighWatermark, Low: cfg.Memory.LowWatermark,
		Interval: cfg.Memory.CheckInterval.D(), RetryAfter: cfg.Memory.RetryAfter.D(),
		Read:       func() memguard.Reading { return (*x.readMemory.Load())() },
		Registerer: g.registry, Logger: g.log.With("component", "memguard"),
	})
	return x
}

// start applies the soft memory limit, takes the first readings and starts the
// background loops (the first retention round runs at once).
func (x *guards) start() {
	x.memory.Start()
	x.disk.Start()
	x.retention.Start()
}

// close stops the loops (a retention round in progress is cut short) and restores the
// runtime's previous memory limit. Safe on nil.
func (x *guards) close() {
	if x == nil {
		return
	}
	x.retention.Close()
	x.disk.Close()
	x.memory.Close()
}

// admit is the API's Deps.Admission: a full disk first (503 storage_low), then memory
// pressure (429 memory_pressure).
func (x *guards) admit() error {
	if err := x.disk.Admit(); err != nil {
		return err
	}
	return x.memory.Admit()
}

// ready fails readiness while the disk is low: the gateway cannot take sends. Memory
// pressure does not: it passes within seconds, and a readiness probe that flapped with
// it would move traffic around for nothing.
func (x *guards) ready() error {
	if err := x.disk.Ready(); err != nil {
		return fmt.Errorf("storage_low: %w", err)
	}
	return nil
}

// hold is asked by the dispatcher's Pace before every provider call: under memory
// pressure it holds the send for memory.retry_after, so that the gateway sends, and
// records, nothing new until memory is back under the low watermark. Webhook workers
// ask it too. Safe on nil.
func (x *guards) hold(queue.Message) (time.Duration, bool) {
	if x != nil && x.memory.Pressure() {
		return x.memory.RetryAfter(), true
	}
	return 0, false
}
