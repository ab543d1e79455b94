package tenant

import (
	"errors"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Usage counters in cluster mode (Options.NodeID set).
//
// One counter per tenant and day, written by every accepted send, would be one hot key
// for the whole cluster: every node's sends would conflict on it. So each node counts
// what it accepted under a key of its own, use/<tenant>/<day>/<node>, which only it
// writes (no conflict, ever), and a tenant's count of a day is the sum of every node's
// key and of use/<tenant>/<day> (a single node's counter, kept when cluster mode is
// turned on over its data). Cluster mode shares the use/ family between the nodes
// (core/cluster/statesync), so each node's mirror holds the other nodes' keys.
//
//   - This node's count lives in memory (Service.usage) and is authoritative while the
//     process runs, as on a single node.
//   - The other nodes' sum is read from the mirror on first use and kept in memory
//     until Forget is told that one of their keys changed (statesync's Applied).
//   - WriteUsage does not write into the caller's transaction (that would turn every
//     send's queue transaction into a shared write, one publish each, serialized on
//     the node): it marks the counter, and the marked counters are written together,
//     in one transaction of their own, at most Options.UsageFlush after the first mark.
//     So a node publishes its counters at most once per UsageFlush whatever its rate.
//
// What that costs: another node sees this node's sends at most UsageFlush plus the
// replication lag late, so a tenant sending on n nodes at once may overshoot its daily
// limit by at most what the other n-1 nodes accept in that time. A node that dies loses
// the counts it had not written yet (at most UsageFlush of its sends): they are not
// counted after it restarts. docs/cluster.md ("Usage counters") has the figures.

// DefaultUsageFlush is Options.UsageFlush's default.
const DefaultUsageFlush = 250 * time.Millisecond

// nodeUsage is the cluster-mode part of a Service, guarded by usageMu except flushMu.
type nodeUsage struct {
	// others: "<tenant>/<day>" -> the sum of the other nodes' counters and of the
	// single-node counter of that day; dropped by Forget.
	others map[string]int
	// marks: "<tenant>/<day>" -> this node's count to write, as WriteUsage last saw it.
	marks map[string]int
	// timer runs flushTick once UsageFlush after the first mark; nil when none is due.
	timer  *time.Timer
	closed bool
	// flushMu serializes flushes, so that counters are written in the order they were
	// taken: this node is the one writer of its keys.
	flushMu sync.Mutex
}

// othersLocked returns the other nodes' count of the tenant's day, from memory or the
// store (one read of use/<tenant>/<day> and one prefix scan below it).
func (s *Service) othersLocked(tenantID, day string) (int, error) {
	k := tenantID + "/" + day
	if v, ok := s.others[k]; ok {
		return v, nil
	}
	var sum int
	err := s.db.View(func(txn *badger.Txn) error {
		n, err := usage.Get(txn, tenantID, day)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		sum = n
		return usage.Scan(txn, func(rest []string, n int) error {
			if len(rest) == 1 && rest[0] != s.opts.NodeID {
				sum += n
			}
			return nil
		}, tenantID, day)
	})
	if err != nil {
		return 0, err
	}
	if s.others == nil {
		s.others = make(map[string]int)
	}
	s.others[k] = sum
	return sum, nil
}

// markLocked records that this node's counter of the tenant's day is now used and
// makes sure a flush is due.
func (s *Service) markLocked(tenantID, day string, used int) {
	if s.marks == nil {
		s.marks = make(map[string]int)
	}
	s.marks[tenantID+"/"+day] = used
	if s.timer == nil && !s.closed {
		s.timer = time.AfterFunc(s.opts.UsageFlush, s.flushTick)
	}
}

func (s *Service) flushTick() {
	s.usageMu.Lock()
	s.timer = nil
	s.usageMu.Unlock()
	// A failed write (the shared state not ready, NATS away) keeps its marks and
	// is retried by the next tick, which flush has scheduled.
	_ = s.FlushUsage()
}

// FlushUsage writes this node's marked usage counters now (cluster mode; nothing to do
// on a single node). On failure the counters stay marked and a retry is scheduled. Call
// it on shutdown, before the shared state closes, or use Close.
func (s *Service) FlushUsage() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.usageMu.Lock()
	marks := s.marks
	s.marks = nil
	s.usageMu.Unlock()
	if len(marks) == 0 {
		return nil
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		for k, n := range marks {
			tenantID, day := splitUsageKey(k)
			if err := usage.Put(txn, n, tenantID, day, s.opts.NodeID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.usageMu.Lock()
		for k, n := range marks {
			if _, newer := s.marks[k]; !newer {
				tenantID, day := splitUsageKey(k)
				s.markLocked(tenantID, day, n)
			}
		}
		s.usageMu.Unlock()
	}
	return err
}

// Close writes the marked usage counters (FlushUsage) and stops their timer: counts
// marked after it are not written. A single node's Service needs no Close.
func (s *Service) Close() error {
	s.usageMu.Lock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.usageMu.Unlock()
	return s.FlushUsage()
}

// forgetUsage drops the other nodes' cached count of the day of key, a usage key
// another node wrote: use/<tenant>/<day> or use/<tenant>/<day>/<node>. This node's own
// key is ignored: its count in memory is ahead of what the store holds.
func (s *Service) forgetUsage(parts []string) {
	if s.opts.NodeID == "" || len(parts) < 2 || len(parts) > 3 || len(parts) == 3 && parts[2] == s.opts.NodeID {
		return
	}
	s.usageMu.Lock()
	delete(s.others, parts[0]+"/"+parts[1])
	s.usageMu.Unlock()
}

// dropTenantUsageLocked forgets everything counted for the tenant (it is deleted).
func (s *Service) dropTenantUsageLocked(tenantID string) {
	for _, m := range []map[string]int{s.usage, s.others, s.marks} {
		for k := range m {
			if t, _ := splitUsageKey(k); t == tenantID {
				delete(m, k)
			}
		}
	}
}

// splitUsageKey splits "<tenant>/<day>"; tenant ids contain no '/'.
func splitUsageKey(k string) (tenantID, day string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}
