package whatsmeow

import "sync"

// eventQueue carries whatsmeow's events, and the provider's own reports, from the
// goroutines that produce them to the run's event goroutine, in order.
//
// whatsmeow calls the event handler on its own goroutine, the one that reads the
// websocket: a handler that blocks stalls the connection (keep-alives included). So push
// never blocks. Traffic (messages and receipts) is bounded by max
// (providers.whatsmeow.event_queue): past it, push refuses, and the handler returns false
// to whatsmeow, which then does not acknowledge the message or receipt to WhatsApp
// (Client.SynchronousAck), and WhatsApp delivers it again at the next connection.
// Everything else (connection events, QR codes, the provider's status reports) is few and
// always queued: the session's state depends on each.
type eventQueue struct {
	max int

	mu      sync.Mutex
	items   []any
	traffic int // traffic items in items
	closed  bool
	wake    chan struct{}
}

func newEventQueue(max int) *eventQueue {
	if max < 1 {
		max = 1
	}
	return &eventQueue{max: max, wake: make(chan struct{}, 1)}
}

// push queues ev and reports whether it did: false once closed, or for traffic past the
// bound.
func (q *eventQueue) push(ev any, traffic bool) bool {
	q.mu.Lock()
	if q.closed || (traffic && q.traffic >= q.max) {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, ev)
	if traffic {
		q.traffic++
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns everything queued, waiting for something when empty. Once the queue is
// closed it still returns what was queued before; ok is false when closed and empty.
func (q *eventQueue) take() (batch []any, ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			batch, q.items, q.traffic = q.items, nil, 0
			q.mu.Unlock()
			return batch, true
		}
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// close refuses every later push; take drains what is queued, then reports the end.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
