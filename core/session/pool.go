package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// The session pool caps the sessions that are live on this node: those holding a
// provider connection, or being reconnected by the health monitor. A session takes a
// slot when it starts and gives it back when it ends up STOPPED, LOGGED_OUT, or FAILED
// for a cause nothing will retry (see wantsSlot).
//
// An operator's start beyond the cap waits in a bounded FIFO admission queue for up to
// AdmissionTimeout, then is refused with a *PoolFullError (HTTP 503
// session_pool_full). Starts nobody waits for (boot restore, reconnects) never queue:
// refused, the session is FAILED "pool_full" and the health monitor retries it with
// backoff, so it comes up when a slot frees.
//
// A tenant's plan caps the sessions it may create (Options.MaxSessions), and so those
// it may run; MaxLivePerTenant optionally caps one tenant's share of the node.

// PoolOptions configure the session pool (config sessions.pool). The zero value caps
// nothing.
type PoolOptions struct {
	// MaxLive caps the live sessions of all tenants; 0 means unlimited.
	MaxLive int
	// MaxLivePerTenant caps the live sessions of one tenant; 0 means unlimited.
	MaxLivePerTenant int
	// AdmissionQueue bounds the starts waiting for a slot.
	AdmissionQueue int
	// AdmissionTimeout bounds one start's wait; 0 refuses at once.
	AdmissionTimeout time.Duration
}

// ErrPoolFull: the session pool has no live slot for the session. Returned wrapped in
// a *PoolFullError.
var ErrPoolFull = errors.New("session pool full")

// PoolFullError: a start was refused because the node (or the tenant's share of it)
// runs as many live sessions as it may.
type PoolFullError struct {
	// Limit is the cap that was reached; Tenant is true when it is the per-tenant one.
	Limit  int
	Tenant bool
	// Waited is how long the start waited in the admission queue (0: refused at once).
	Waited time.Duration
}

func (e *PoolFullError) Error() string {
	scope := "this node"
	if e.Tenant {
		scope = "this tenant on this node"
	}
	s := fmt.Sprintf("session pool full: %s runs its maximum of %d live sessions", scope, e.Limit)
	if e.Waited > 0 {
		s += fmt.Sprintf(" (waited %s for a slot)", e.Waited.Round(time.Millisecond))
	}
	return s + "; stop a session or retry later"
}

// Is makes errors.Is(err, ErrPoolFull) true.
func (e *PoolFullError) Is(target error) bool { return target == ErrPoolFull }

type pool struct {
	opts  PoolOptions
	clock clockwork.Clock
	mt    *metrics

	mu       sync.Mutex
	live     int
	byTenant map[string]int
	queue    []*admission
}

// admission is a start waiting in the queue; granted is closed when it got its slot.
type admission struct {
	tenant  string
	granted chan struct{}
	done    bool // granted or gone
}

func newPool(o PoolOptions, clock clockwork.Clock, mt *metrics) *pool {
	return &pool{opts: o, clock: clock, mt: mt, byTenant: make(map[string]int)}
}

// fitsLocked reports whether tenant may take a slot now.
func (p *pool) fitsLocked(tenant string) bool {
	return (p.opts.MaxLive <= 0 || p.live < p.opts.MaxLive) &&
		(p.opts.MaxLivePerTenant <= 0 || p.byTenant[tenant] < p.opts.MaxLivePerTenant)
}

func (p *pool) takeLocked(tenant string) {
	p.live++
	p.byTenant[tenant]++
}

// fullErrorLocked describes why tenant does not fit.
func (p *pool) fullErrorLocked(tenant string, waited time.Duration) *PoolFullError {
	if p.opts.MaxLive > 0 && p.live >= p.opts.MaxLive {
		return &PoolFullError{Limit: p.opts.MaxLive, Waited: waited}
	}
	return &PoolFullError{Limit: p.opts.MaxLivePerTenant, Tenant: true, Waited: waited}
}

// tryAcquire takes a slot if one is free, without queueing. Waiting starts are never
// overtaken: none of them fits while a slot is free (release grants them first), so
// a free slot that fits tenant is nobody's.
func (p *pool) tryAcquire(tenant string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.fitsLocked(tenant) {
		p.mt.admissions.WithLabelValues("refused").Inc()
		return p.fullErrorLocked(tenant, 0)
	}
	p.takeLocked(tenant)
	p.mt.admissions.WithLabelValues("admitted").Inc()
	return nil
}

// acquire takes a slot, waiting in the admission queue for up to AdmissionTimeout
// (on the manager's clock) unless ctx ends first.
func (p *pool) acquire(ctx context.Context, tenant string) error {
	p.mu.Lock()
	if p.fitsLocked(tenant) {
		p.takeLocked(tenant)
		p.mu.Unlock()
		p.mt.admissions.WithLabelValues("admitted").Inc()
		return nil
	}
	if p.opts.AdmissionTimeout <= 0 || len(p.queue) >= p.opts.AdmissionQueue {
		err := p.fullErrorLocked(tenant, 0)
		p.mu.Unlock()
		outcome := "queue_full"
		if p.opts.AdmissionTimeout <= 0 {
			outcome = "refused"
		}
		p.mt.admissions.WithLabelValues(outcome).Inc()
		return err
	}
	a := &admission{tenant: tenant, granted: make(chan struct{})}
	p.queue = append(p.queue, a)
	p.mu.Unlock()

	start := p.clock.Now()
	t := p.clock.NewTimer(p.opts.AdmissionTimeout)
	defer t.Stop()
	var cause error
	select {
	case <-a.granted:
		p.mt.admissions.WithLabelValues("waited").Inc()
		return nil
	case <-t.Chan():
	case <-ctx.Done():
		cause = ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.done { // granted while the timer fired
		p.mt.admissions.WithLabelValues("waited").Inc()
		return nil
	}
	a.done = true
	for i, w := range p.queue {
		if w == a {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
			break
		}
	}
	if cause != nil {
		return cause
	}
	p.mt.admissions.WithLabelValues("timeout").Inc()
	return p.fullErrorLocked(tenant, p.clock.Since(start))
}

// force takes a slot whatever the caps: a session that came back to life by itself
// (a ban lifted) is live, whether or not it fits.
func (p *pool) force(tenant string) {
	p.mu.Lock()
	p.takeLocked(tenant)
	p.mu.Unlock()
}

// release gives a slot back and grants the waiting starts that fit, oldest first.
func (p *pool) release(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	if p.byTenant[tenant]--; p.byTenant[tenant] <= 0 {
		delete(p.byTenant, tenant)
	}
	kept := p.queue[:0]
	for _, w := range p.queue {
		if !w.done && p.fitsLocked(w.tenant) {
			p.takeLocked(w.tenant)
			w.done = true
			close(w.granted)
			continue
		}
		if !w.done {
			kept = append(kept, w)
		}
	}
	clear(p.queue[len(kept):])
	p.queue = kept
}

// stats returns the live slots taken and the starts waiting.
func (p *pool) stats() (live, waiting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live, len(p.queue)
}
