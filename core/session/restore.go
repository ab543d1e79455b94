package session

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Restore loads every session of every tenant and, when start is true, starts those
// whose Running flag is set, so a restart brings each back to where it was. Rules for records a crash left
// mid-transition (docs/operations.md):
//
//   - Running set: started again, whatever state was stored (STARTING, SCAN_QR_CODE,
//     WORKING, FAILED); a failed start leaves it FAILED with the reason (and the health
//     monitor retries it when the cause may pass).
//   - Running clear and state STARTING, SCAN_QR_CODE or WORKING: the process died before
//     it could record the stop; the session is set STOPPED. With start false, every
//     session stored in one of those states is set STOPPED (its intent is kept).
//   - STOPPED, FAILED, LOGGED_OUT with Running clear: left as they are.
//
// The starts are staggered so that a restart is no reconnect storm: in random order,
// at most RestoreConcurrency at a time; the first RestoreConcurrency at once, the rest
// spread evenly over RestoreWindow, each at a random moment of its slot. Until its
// turn a session shows STARTING with reason "restoring". Starts take a live slot of the
// pool without waiting: refused, the session is FAILED "pool_full" and retried by the
// health monitor.
//
// Restore starts the health monitor and returns once every session was loaded and the
// first RestoreConcurrency starts were attempted; the spread-out starts go on in the
// background (until Close), so that the gateway answers meanwhile. Ready reports true
// once every start was attempted.
func (m *Manager) Restore(ctx context.Context, start bool) error {
	type loaded struct {
		tenant string
		rec    Record
	}
	var all []loaded
	err := m.db.View(func(txn *badger.Txn) error {
		return records.Scan(txn, func(rest []string, r Record) error {
			all = append(all, loaded{tenant: rest[0], rec: r})
			return nil
		})
	})
	if err != nil {
		return err
	}
	var toStart []*live
	m.mu.Lock()
	for _, x := range all {
		l := m.adoptLocked(x.tenant, x.rec)
		if l == nil {
			m.mu.Unlock()
			return ErrClosed
		}
		if x.rec.Running && start {
			toStart = append(toStart, l)
		}
	}
	m.mu.Unlock()
	for _, x := range all {
		if m.opts.Placement != nil {
			break // the records are the cluster's: their owners write their states
		}
		if x.rec.State.running() && (!x.rec.Running || !start) {
			l, _ := m.lookup(x.tenant, x.rec.Name)
			if l != nil {
				l.update(func(r *Record) { r.State, r.Reason = StateStopped, "" })
				l.pmu.Lock()
				m.persist(l)
				l.pmu.Unlock()
			}
		}
	}
	for _, l := range toStart {
		// Stored states are stale until the session's turn comes.
		rec := l.update(func(r *Record) { r.State, r.Reason = StateStarting, ReasonRestoring })
		m.persistAndPublish(l, rec)
	}
	m.startHealth()

	rand.Shuffle(len(toStart), func(i, j int) { toStart[i], toStart[j] = toStart[j], toStart[i] })
	offsets := restoreOffsets(len(toStart), m.opts.RestoreConcurrency, m.opts.RestoreWindow)
	now := min(len(toStart), m.opts.RestoreConcurrency)
	if m.opts.RestoreWindow <= 0 {
		now = len(toStart) // no window: everything now, RestoreConcurrency at a time
	}
	begin := m.clock.Now()
	m.restoreStaggered(ctx, toStart[:now], offsets[:now], begin)
	done := func() {
		m.mu.Lock()
		m.ready = true
		m.mu.Unlock()
		m.log.Info("sessions restored", "sessions", len(all), "started", len(toStart))
	}
	if now == len(toStart) {
		done()
		return nil
	}
	m.log.Info("restoring sessions in the background", "now", now, "later", len(toStart)-now, "window", m.opts.RestoreWindow)
	rest, restOffsets := toStart[now:], offsets[now:]
	if !m.spawn(func() {
		m.restoreStaggered(m.ctx, rest, restOffsets, begin)
		if m.ctx.Err() == nil {
			done()
		}
	}) {
		return ErrClosed
	}
	return nil
}

// ReasonRestoring is the reason of a session waiting for its turn to start at boot.
const ReasonRestoring = "restoring"

// restoreOffsets returns when each of n boot starts begins, from the start of the
// restore: the first c at 0, the others spread evenly over window, each at a random
// moment of its own slot (jitter).
func restoreOffsets(n, c int, window time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	rest := n - c
	if rest <= 0 || window <= 0 {
		return out
	}
	slot := window / time.Duration(rest)
	for i := c; i < n; i++ {
		out[i] = slot * time.Duration(i-c)
		if slot > 0 {
			out[i] += rand.N(slot)
		}
	}
	return out
}

// restoreStaggered starts ls[i] at begin+offsets[i] (on the manager's clock), at most
// RestoreConcurrency at a time, and returns once every start was attempted (or ctx
// ended, or the manager closed).
func (m *Manager) restoreStaggered(ctx context.Context, ls []*live, offsets []time.Duration, begin time.Time) {
	sem := make(chan struct{}, m.opts.RestoreConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, l := range ls {
		if wait := offsets[i] - m.clock.Since(begin); wait > 0 {
			t := m.clock.NewTimer(wait)
			select {
			case <-t.Chan():
			case <-ctx.Done():
				t.Stop()
				return
			case <-m.ctx.Done():
				t.Stop()
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		case <-m.ctx.Done():
			return
		}
		wg.Add(1)
		go func(l *live) {
			defer wg.Done()
			defer func() { <-sem }()
			m.restoreOne(ctx, l)
		}(l)
	}
}

// restoreOne starts one session at boot, unless an operator acted on it meanwhile.
func (m *Manager) restoreOne(ctx context.Context, l *live) {
	if err := l.acquire(ctx); err != nil {
		return
	}
	defer l.release()
	if cur := l.snapshot(); cur.State != StateStarting || cur.Reason != ReasonRestoring {
		return
	}
	_, err := m.startLocked(ctx, l, startOpts{noWait: true})
	result := "started"
	switch {
	case errors.Is(err, ErrPoolFull):
		result = "pool_full"
	case errors.Is(err, ErrQRLimit):
		result = "qr_limit"
	case err != nil:
		result = "failed"
	}
	m.metrics.restores.WithLabelValues(result).Inc()
	if err != nil {
		m.log.Warn("restoring session", "tenant", l.tenant, "session", l.name, "err", err)
	}
}

// Close stops every running session in parallel, each bounded by StopTimeout and all by
// ctx, keeping their Running flag so the next boot restores them. Sessions still stuck
// when ctx ends are abandoned. The health monitor, pending reconnects and the manager's
// other goroutines end too (bounded by ctx). The manager refuses all calls afterwards.
func (m *Manager) Close(ctx context.Context) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	lives := make([]*live, 0, len(m.lives))
	for _, l := range m.lives {
		if m.remote(l) {
			continue // another node runs it, or the cluster stopped it here already
		}
		lives = append(lives, l)
	}
	m.mu.Unlock()
	m.cancel() // the monitor, reconnects, restore and admission waits

	var wg sync.WaitGroup
	for _, l := range lives {
		wg.Add(1)
		go func(l *live) {
			defer wg.Done()
			if err := l.acquire(ctx); err != nil {
				m.log.Warn("session busy at shutdown; abandoned", "tenant", l.tenant, "session", l.name)
				return
			}
			defer l.release()
			l.resetHealth()
			switch cur := l.snapshot(); {
			case cur.State.running():
				m.stopLocked(ctx, l, stopEnd{reason: "gateway_shutdown", keepRunning: true})
			case l.hasProvider():
				// FAILED (banned, ...) with its provider still there: stop it, keep the record.
				m.stopLocked(ctx, l, stopEnd{state: cur.State, reason: cur.Reason, message: cur.Message, keepRunning: true})
			}
		}(l)
	}
	if !waitCtx(ctx, wg.Wait) {
		m.log.Warn("shutdown deadline reached with sessions still stopping")
	}
	m.bgMu.Lock()
	m.bgDone = true
	m.bgMu.Unlock()
	if !waitCtx(ctx, m.bg.Wait) {
		m.log.Warn("shutdown deadline reached with provider calls still running")
	}
	for _, l := range lives {
		l.inbox.close()
	}
	waitCtx(ctx, func() {
		for _, l := range lives {
			<-l.done
		}
	})
}

// waitCtx runs wait and reports whether it returned before ctx ended.
func waitCtx(ctx context.Context, wait func()) bool {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
