package session

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Cluster mode (docs/cluster.md, "Wiring"). Every node's manager knows every session:
// the session records are shared state, mirrored in each node's store. Which node runs a
// session is the cluster's decision (a lease), not the manager's:
//
//   - Record.Running is the desired state. Start and Stop of a session this node does
//     not run only write it (desire), and Placement.Changed tells the cluster, which
//     starts the session on some node.
//   - The node holding a session's lease runs it through RunLocal, and stops it through
//     Suspend when the lease ends or moves, keeping Running set.
//   - A session another node runs shows the record its owner last wrote (Refresh, when
//     the mirror took a change from another node). The health monitor leaves it alone.
//
// Restore(ctx, false) loads the records without starting anything and without
// rewriting their states, which are their owners'.

// Placement is what the manager asks of the cluster.
type Placement interface {
	// Local reports whether this node holds the session's lease.
	Local(tenant, name string) bool
	// Changed says that the desired state of some session changed on this node (created,
	// started, stopped, deleted): the cluster should look again without waiting.
	Changed()
}

// SessionRef names a session of a tenant.
type SessionRef struct{ Tenant, Name string }

// remote reports whether, in cluster mode, another node (or none yet) runs l.
func (m *Manager) remote(l *live) bool {
	return m.opts.Placement != nil && !m.opts.Placement.Local(l.tenant, l.name)
}

func (m *Manager) placementChanged() {
	if m.opts.Placement != nil {
		m.opts.Placement.Changed()
	}
}

// desire writes the desired state of a session this node does not run, and tells the
// cluster. Callers hold l.
func (m *Manager) desire(l *live, running bool) Info {
	rec := l.update(func(r *Record) { r.Running = running })
	l.pmu.Lock()
	m.persist(l)
	l.pmu.Unlock()
	m.placementChanged()
	return rec.info()
}

// Wanted lists the sessions whose desired state is running: the ones the cluster
// places on its nodes.
func (m *Manager) Wanted() []SessionRef {
	var out []SessionRef
	for _, l := range m.allLives() {
		l.mu.Lock()
		if l.rec.Running && !l.deleted {
			out = append(out, SessionRef{l.tenant, l.name})
		}
		l.mu.Unlock()
	}
	return out
}

// Desired reports whether the session's desired state is running.
func (m *Manager) Desired(tenant, name string) bool {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Running && !l.deleted
}

// RunLocal starts a session on this node because the cluster gave it its lease. A
// start that fails leaves the session FAILED, as Start does; the health monitor
// retries it while the lease lasts.
func (m *Manager) RunLocal(ctx context.Context, tenant, name string) error {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return err
	}
	defer l.release()
	l.resetHealth()
	_, err = m.startLocked(ctx, l, startOpts{reason: ReasonClaimed})
	return err
}

// ReasonClaimed is the reason of a session starting because this node took its lease.
const ReasonClaimed = "claimed"

// ReasonMoved is the reason of a session stopped because its lease ended on this node.
const ReasonMoved = "moved"

// Suspend stops a session this node runs because its lease ended or moves: its
// desired state stays running, so another node starts it.
func (m *Manager) Suspend(ctx context.Context, tenant, name string) {
	l, err := m.hold(ctx, tenant, name)
	if err != nil {
		return
	}
	defer l.release()
	l.resetHealth()
	if l.hasProvider() || l.snapshot().State.running() {
		m.stopLocked(ctx, l, stopEnd{reason: ReasonMoved, keepRunning: true})
	}
}

// Refresh brings the manager's view of a session up to the store's record, after the
// cluster's mirror took a change another node made: a new session is adopted, a
// deleted one dropped (stopped first if it ran here), one another node runs shows
// the new record, and one this node runs takes the desired state (running, config,
// fallback, metadata, calls) of a newer record while keeping its own live state.
func (m *Manager) Refresh(tenant, name string) {
	var rec Record
	err := m.db.View(func(txn *badger.Txn) error {
		var err error
		rec, err = records.Get(txn, tenant, name)
		return err
	})
	gone := errors.Is(err, store.ErrNotFound)
	if err != nil && !gone {
		m.log.Warn("refreshing a session from the store", "tenant", tenant, "session", name, "err", err)
		return
	}
	m.mu.Lock()
	l := m.lives[key{tenant, name}]
	if l == nil {
		if !gone {
			m.adoptLocked(tenant, rec)
		}
		m.mu.Unlock()
		return
	}
	if gone {
		delete(m.lives, key{tenant, name})
	}
	m.mu.Unlock()
	if gone {
		l.mu.Lock()
		l.deleted = true
		p := l.prov
		l.prov = nil
		l.mu.Unlock()
		if p != nil {
			m.stopInBackground(p)
		}
		m.settleSlot(l)
		l.close()
		return
	}
	l.pmu.Lock() // persistedVersion's lock, taken before l.mu as persist does
	defer l.pmu.Unlock()
	l.mu.Lock()
	if rec.Version > l.rec.Version {
		if l.prov == nil {
			l.rec = rec
		} else {
			l.rec = mergeDesired(l.rec, rec)
			l.rec.Version = rec.Version
		}
		l.persistedVersion = max(l.persistedVersion, rec.Version)
	}
	l.mu.Unlock()
}

// mergeDesired is mine with the desired state of other (a record another node wrote,
// as new as mine or newer), and a version above both: what the operator asked
// (running, config, fallback, metadata, calls) is other's, what the session does is mine.
func mergeDesired(mine, other Record) Record {
	mine.Running, mine.Config, mine.Fallback = other.Running, other.Config, other.Fallback
	mine.Metadata, mine.Calls = other.Metadata, other.Calls
	mine.Version = max(mine.Version, other.Version) + 1
	return mine
}
