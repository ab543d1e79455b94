// Package coalesce runs work that may be asked for many times before it runs once: items
// are collected by key (asking for a key already pending merges into it), and one
// goroutine at a time drains what is pending, in batches, until nothing is left. Asking
// never waits for the work, so it may be called from inside the code the work itself
// locks (statesync's Applied, called from a commit of the very service it refreshes).
//
//	w := coalesce.New(func(tenant string, c *change) { rebuild(tenant, c) })
//	w.Add(func(p map[string]*change) { p["acme"] = merged(p["acme"]) }) // at once
//	defer w.Close()                                                      // waits for the drain
package coalesce

import "sync"

// Worker drains pending items with run, one goroutine at a time. The zero value is not
// usable; New makes one. Safe for concurrent use.
type Worker[K comparable, V any] struct {
	run func(K, V)

	mu      sync.Mutex
	pending map[K]V
	running bool // a goroutine drains pending
	closed  bool
	wg      sync.WaitGroup
}

// New returns a worker that calls run for each pending item.
func New[K comparable, V any](run func(K, V)) *Worker[K, V] {
	return &Worker[K, V]{run: run}
}

// Add calls merge with the pending items (under the worker's lock: merge must be quick
// and must not call the worker) to add or update some, and starts a drain if any is
// pending and none runs. After Close it does nothing.
func (w *Worker[K, V]) Add(merge func(pending map[K]V)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.pending == nil {
		w.pending = map[K]V{}
	}
	merge(w.pending)
	if len(w.pending) > 0 && !w.running {
		w.running = true
		w.wg.Add(1)
		go w.drain()
	}
}

func (w *Worker[K, V]) drain() {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		pending := w.pending
		w.pending = nil
		if len(pending) == 0 || w.closed {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		for k, v := range pending {
			w.run(k, v)
		}
	}
}

// Wait waits for the drain under way, if any, to run out of items: what was added before
// it was called has run when it returns, unless Close came first. Not to be called
// while another goroutine Adds (a sync.WaitGroup rule): tests call it between steps.
func (w *Worker[K, V]) Wait() { w.wg.Wait() }

// Close makes later Adds no-ops, drops what is pending and waits for the item being run.
func (w *Worker[K, V]) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}
