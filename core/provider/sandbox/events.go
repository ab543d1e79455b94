package sandbox

import (
	"sync"

	"github.com/wagate/wagate/core/provider"
)

// maxInlineRounds bounds how many batches of events a caller of drain delivers itself
// before it hands the rest to a goroutine, so that a Send or a timer does not end up
// delivering everyone else's events under load.
const maxInlineRounds = 4

// eventQueue orders a session's events and delivers them to its sink without any lock
// held. Events are pushed while the session's lock is held, in the same critical section
// as the state change they report, so the order the sink sees is the order of the
// changes; a timer that lost the race with Stop never gets to push. drain then delivers
// them from whichever goroutine finds the queue idle; one delivers at a time.
//
// A sink that calls back into its provider (say, Stop from inside a status event) does
// not deadlock: the callback's events are queued and delivered by the drain already
// running further up the stack, right after the sink returns.
type eventQueue struct {
	sink provider.Sink
	live *tracker

	mu       sync.Mutex // leaf lock: nothing else is locked while it is held
	pending  []provider.Event
	spare    []provider.Event
	draining bool
}

// push queues ev. The caller holds the session lock.
func (q *eventQueue) push(ev provider.Event) {
	q.mu.Lock()
	q.pending = append(q.pending, ev)
	q.mu.Unlock()
}

// drain delivers the queued events unless another goroutine is already doing it. The
// caller must not hold the session lock.
func (q *eventQueue) drain() {
	q.mu.Lock()
	if q.draining || len(q.pending) == 0 {
		q.mu.Unlock()
		return
	}
	q.draining = true
	q.mu.Unlock()
	q.deliver(maxInlineRounds)
}

// deliver runs with q.draining set, until the queue is empty. After rounds batches
// (0 = no limit) it hands over to a new goroutine.
func (q *eventQueue) deliver(rounds int) {
	for i := 0; ; i++ {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.draining = false
			q.mu.Unlock()
			return
		}
		if rounds > 0 && i == rounds {
			q.live.add()
			q.mu.Unlock()
			go func() {
				defer q.live.done()
				q.deliver(0)
			}()
			return
		}
		batch := q.pending
		q.pending, q.spare = q.spare[:0], nil
		q.mu.Unlock()

		for j, ev := range batch {
			q.sink(ev)
			batch[j] = nil
		}

		q.mu.Lock()
		if q.spare == nil {
			q.spare = batch[:0]
		}
		q.mu.Unlock()
	}
}

// tracker counts the goroutines and armed timers of a network so that Close can wait
// for all of them. Unlike sync.WaitGroup, add may race with wait.
type tracker struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func newTracker() *tracker {
	t := &tracker{}
	t.cond = sync.NewCond(&t.mu)
	return t
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 {
		t.cond.Broadcast()
	}
	t.mu.Unlock()
}

// wait returns once the count is zero.
func (t *tracker) wait() {
	t.mu.Lock()
	for t.n > 0 {
		t.cond.Wait()
	}
	t.mu.Unlock()
}
