package session

import (
	"context"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// restoreParallelism bounds how many sessions start at once at boot.
const restoreParallelism = 8

// Restore loads every session of every tenant and, when start is true, starts those
// whose Running flag is set, so a restart brings each back to where it was. Rules for records a crash left
// mid-transition (docs/operations.md):
//
//   - Running set: started again, whatever state was stored (STARTING, SCAN_QR_CODE,
//     WORKING, FAILED); a failed start leaves it FAILED with the reason.
//   - Running clear and state STARTING, SCAN_QR_CODE or WORKING: the process died before
//     it could record the stop; the session is set STOPPED. With start false, every
//     session stored in one of those states is set STOPPED (its intent is kept).
//   - STOPPED, FAILED, LOGGED_OUT with Running clear: left as they are.
//
// Restore returns once every session was loaded and every start attempted; Ready then
// reports true.
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

	sem := make(chan struct{}, restoreParallelism)
	var wg sync.WaitGroup
	for _, l := range toStart {
		wg.Add(1)
		sem <- struct{}{}
		go func(l *live) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := l.acquire(ctx); err != nil {
				return
			}
			defer l.release()
			// Reset to STOPPED in memory so startLocked starts it.
			l.update(func(r *Record) { r.State = StateStopped })
			if _, err := m.startLocked(ctx, l); err != nil {
				m.log.Warn("restoring session", "tenant", l.tenant, "session", l.name, "err", err)
			}
		}(l)
	}
	wg.Wait()
	m.mu.Lock()
	m.ready = true
	m.mu.Unlock()
	m.log.Info("sessions restored", "sessions", len(all), "started", len(toStart))
	return nil
}

// Close stops every running session in parallel, each bounded by StopTimeout and all by
// ctx, keeping their Running flag so the next boot restores them. Sessions still stuck
// when ctx ends are abandoned. The manager refuses all calls afterwards.
func (m *Manager) Close(ctx context.Context) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	lives := make([]*live, 0, len(m.lives))
	for _, l := range m.lives {
		lives = append(lives, l)
	}
	m.mu.Unlock()

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
			if l.snapshot().State.running() {
				m.stopLocked(ctx, l, "gateway_shutdown", true)
			}
		}(l)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		m.log.Warn("shutdown deadline reached with sessions still stopping")
	}
	for _, l := range lives {
		l.inbox.close()
	}
}
