package store

import (
	"sync"
	"time"
)

// GCStats counts the value-log garbage collection the store has run: the background
// loop every Options.GCInterval, and every RunGC call (the retention schedule runs one
// after each sweep that deleted something).
type GCStats struct {
	// Runs counts RunGC calls.
	Runs uint64
	// Rewritten counts value-log files rewritten (their stale data reclaimed).
	Rewritten uint64
	// LastRun is when the last RunGC ended; zero before the first.
	LastRun time.Time
}

type gcStats struct {
	mu sync.Mutex
	s  GCStats
}

func (g *gcStats) record(rewritten int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.s.Runs++
	g.s.Rewritten += uint64(rewritten)
	g.s.LastRun = time.Now()
}

// GCStats returns the value-log GC counters.
func (db *DB) GCStats() GCStats {
	db.gc.mu.Lock()
	defer db.gc.mu.Unlock()
	return db.gc.s
}
