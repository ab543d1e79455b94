// Package relay is a cluster node's send path (docs/cluster.md, "Sends"). Any node
// accepts a send and publishes it to the cluster's send stream (core/cluster/outq); the
// node that owns the session consumes it into its own durable queue (core/queue), where
// the dispatcher paces, sends and fails over as on a single node, and acknowledges it on
// the stream once the message is final (sent or failed). A node that dies with messages
// in its queue has acknowledged none of them: the stream delivers each again to the
// session's next owner, the one that was in flight flagged PossibleDuplicate.
//
//	in := relay.NewIntake(db, q, out)           // the API's Enqueuer on every node
//	sink := relay.NewSink(q)                     // dispatcher's OnTransition calls sink.Transition
//	go out.Consume(lease.Context(), key, lease, sink.Handler(tenant)) // on the owner, per session
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/outq"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/store"
)

// wire is a send as it travels on the stream: the message as the accepting node
// validated it. The idempotency key was claimed there (queue.ClaimKeys).
type wire struct {
	Message queue.Message `json:"m"`
}

// Intake accepts sends on any node: the idempotency keys are claimed in the shared
// state, the usage is counted in the node's store, and each message is published to
// the session's subject of the send stream. Safe for concurrent use.
type Intake struct {
	db  *store.DB
	q   *queue.Queue
	out *outq.Queue
}

// NewIntake returns the intake of a node.
func NewIntake(db *store.DB, q *queue.Queue, out *outq.Queue) *Intake {
	return &Intake{db: db, q: q, out: out}
}

// Enqueue has queue.Queue.Enqueue's contract, across the cluster: it returns once every
// message not replayed is stored on the stream's replicas. also runs in one local
// transaction after the publishes (the tenant's usage count, which stays per node).
//
// A batch that fails part way leaves its first messages queued (a stream has no
// multi-message transaction): their idempotency keys are kept, so a retry with the
// same keys replays them and queues the rest; the keys of the messages not published
// are forgotten.
func (in *Intake) Enqueue(ctx context.Context, tenant string, items []queue.Item, also ...func(*badger.Txn) error) ([]queue.Result, error) {
	results, err := in.q.ClaimKeys(ctx, tenant, items)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if results[i].Replayed {
			continue
		}
		if err := in.publish(ctx, tenant, items[i]); err != nil {
			var rest []queue.Item
			for j := i; j < len(items); j++ {
				if !results[j].Replayed {
					rest = append(rest, items[j])
				}
			}
			return nil, errors.Join(err, in.q.ForgetKeys(tenant, rest))
		}
		results[i].Status = queue.StatusQueued
	}
	if len(also) > 0 {
		if err := in.db.Update(func(txn *badger.Txn) error {
			for _, fn := range also {
				if err := fn(txn); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// Handoff publishes a message a failover moved to a session another node runs
// (queue.Handoff's Publish): it travels as any send does, with its history, and its
// stream id names the move (<id>/<session>), so that publishing one move twice queues
// it once and the original send's id does not dedupe it away.
func (in *Intake) Handoff(ctx context.Context, tenant string, m queue.Message) error {
	k, err := cluster.SessionKey(tenant, m.Session)
	if err != nil {
		return err
	}
	b, err := json.Marshal(wire{Message: m})
	if err != nil {
		return fmt.Errorf("relay: encoding message %s: %w", m.ID, err)
	}
	_, err = in.out.Publish(ctx, k, m.ID+"/"+m.Session, b)
	return err
}

func (in *Intake) publish(ctx context.Context, tenant string, it queue.Item) error {
	k, err := cluster.SessionKey(tenant, it.Message.Session)
	if err != nil {
		return err
	}
	m := it.Message
	m.IdempotencyKey = it.IdempotencyKey
	b, err := json.Marshal(wire{Message: m})
	if err != nil {
		return fmt.Errorf("relay: encoding message %s: %w", m.ID, err)
	}
	_, err = in.out.Publish(ctx, k, m.ID, b)
	return err
}

// Sink queues the stream's messages into the owner's queue and tells each handler when
// its message is final. Safe for concurrent use.
type Sink struct {
	q *queue.Queue

	mu      sync.Mutex
	waiting map[string]waiter // tenant/message id
}

// waiter is a handler waiting for its message to be done with on this node: final, or
// moved by a failover to another session (whose own stream delivery takes over).
type waiter struct {
	session string
	done    chan struct{}
}

// NewSink returns the sink of a node's queue. The dispatcher's OnTransition must call
// Transition.
func NewSink(q *queue.Queue) *Sink {
	return &Sink{q: q, waiting: map[string]waiter{}}
}

// Final reports whether a message in status st is done with on this node.
func Final(st queue.Status) bool {
	switch st {
	case queue.StatusSent, queue.StatusDelivered, queue.StatusRead, queue.StatusFailed:
		return true
	}
	return false
}

// doneWith reports whether m, delivered by the stream for session, needs nothing more
// of that delivery: it is final, or a failover moved it to another session (queued
// there on this node, or published for the node that runs it).
func doneWith(m queue.Message, session string) bool {
	return Final(m.Status) || m.Session != session
}

// Transition is the dispatcher's report of a message's new status.
func (s *Sink) Transition(tenant string, m queue.Message) {
	k := tenant + "/" + m.ID
	s.mu.Lock()
	w, ok := s.waiting[k]
	if ok && doneWith(m, w.session) {
		delete(s.waiting, k)
	} else {
		ok = false
	}
	s.mu.Unlock()
	if ok {
		close(w.done)
	}
}

func (s *Sink) wait(tenant, session, id string) (<-chan struct{}, func()) {
	k := tenant + "/" + id
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.waiting[k]
	if !ok || w.session != session {
		w = waiter{session: session, done: make(chan struct{})}
		s.waiting[k] = w
	}
	return w.done, func() {
		s.mu.Lock()
		if s.waiting[k].done == w.done {
			delete(s.waiting, k)
		}
		s.mu.Unlock()
	}
}

// Left is outq.Options.Left for the sessions of every tenant: a message this node
// handled and then lost the lease of (frozen past it, cut off) goes to the session's
// new owner, flagged, and may be sent again there; if this node sent it, its own record
// says possibleDuplicate too, so that no copy of it claims a single send.
func (s *Sink) Left(d outq.Delivery) {
	tenant, _ := d.Key.Split()
	var w wire
	if json.Unmarshal(d.Payload, &w) != nil || w.Message.ID == "" {
		return
	}
	// Whatever session the record names now: a failover may have moved it to another
	// session this node runs, and sent it there.
	m, err := s.q.Get(context.Background(), tenant, w.Message.ID)
	if err != nil || !sentOrSending(m.Status) {
		return
	}
	_ = s.q.FlagDuplicate(tenant, m.ID) // a record left unflagged: the new owner's copy still says so
}

func sentOrSending(st queue.Status) bool {
	switch st {
	case queue.StatusSending, queue.StatusSent, queue.StatusDelivered, queue.StatusRead:
		return true
	}
	return false
}

// recheck is how often a handler reads its message's record while it waits.
const recheck = 2 * time.Second

// Handler is the stream consumer's handler for the sessions of tenant: it queues each
// message in the local queue (flagged PossibleDuplicate when the stream says so, or when
// this node's own record shows it was in flight) and returns once it is final, so that
// the stream acknowledges it only then. A message this node already finished (its
// acknowledgement was lost) is acknowledged without a second send. When ctx ends first
// the outcome is unknown and the stream delivers the message again, flagged.
func (s *Sink) Handler(tenant string) outq.Handler {
	return func(ctx context.Context, d outq.Delivery) error {
		var w wire
		if err := json.Unmarshal(d.Payload, &w); err != nil || w.Message.ID == "" {
			return nil // not ours to send: acknowledged, dropped (cannot come from an Intake)
		}
		m := w.Message
		done, cancel := s.wait(tenant, m.Session, m.ID)
		defer cancel()
		// Only a redelivery can find the message here already: a first delivery was
		// never handed to any node, so it costs no read.
		prior, err := queue.Message{}, queue.ErrNotFound
		if d.Attempt > 1 || d.PossibleDuplicate {
			prior, err = s.q.Get(ctx, tenant, m.ID)
		}
		switch {
		case err == nil && doneWith(prior, m.Session):
			return nil
		case err != nil && !errors.Is(err, queue.ErrNotFound):
			return outq.Retry(time.Second)
		}
		m.PossibleDuplicate = d.PossibleDuplicate || (err == nil && (prior.Status == queue.StatusSending || prior.PossibleDuplicate))
		if _, err := s.q.Enqueue(ctx, tenant, []queue.Item{{Message: m}}); err != nil {
			var full *queue.FullError
			if errors.As(err, &full) {
				return outq.Retry(max(full.RetryAfter, time.Second))
			}
			return outq.Retry(time.Second)
		}
		// The dispatcher tells Transition; the record is read again now and then too,
		// so that an outcome recorded by a path that tells nobody is not waited for
		// forever.
		tick := time.NewTicker(recheck)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				break wait
			case <-tick.C:
				if now, err := s.q.Get(ctx, tenant, m.ID); err == nil && doneWith(now, m.Session) {
					return nil
				}
			}
		}
		// The session stops here (its provider first). A message the provider never
		// got goes back unsent, not flagged; one it may have got is an unknown outcome.
		now, err := s.q.Get(context.WithoutCancel(ctx), tenant, m.ID)
		switch {
		case err == nil && doneWith(now, m.Session):
			return nil
		case err == nil && now.Status == queue.StatusQueued && now.Attempts == 0 && !m.PossibleDuplicate:
			return outq.Retry(0)
		}
		return ctx.Err()
	}
}
