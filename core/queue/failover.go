package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Failover decides what becomes of messages that cannot go through their session. The
// dispatcher consults it:
//
//   - when a send fails (any error but "session not WORKING"), for that message: retry
//     after a delay, reroute, fail, or no opinion (the dispatcher's own rule: retry
//     transient errors with backoff, fail the others);
//   - when the gateway reports a session lost (SessionLost: its status became
//     LOGGED_OUT or banned) and when a session has not been WORKING for
//     DispatchOptions.FailoverAfter, for every message waiting for it.
//
// Target is a cheap gate asked first; Decide judges one message.
type Failover interface {
	// Target returns the session that takes over from session, or "" for none. For a
	// lost session, "" means nothing is asked.
	Target(tenant, session string) string
	// Decide judges one message whose session is lost (cause says why): reroute it to
	// target, fail it with a reason (say, a template is needed outside the Cloud API's
	// 24-hour window), or leave it (the zero Decision): retried, or waiting, as
	// without failover.
	Decide(tenant string, m Message, cause error, target string) Decision
}

// Handoff carries reroutes to sessions that another node runs (cluster mode,
// docs/cluster.md, "Failover across nodes"). A reroute to a session Remote reports is
// published for its owner (Publish) and leaves this node's queue: the local record
// takes the move (its session, the failover in its history) without a queue entry, so
// this node keeps it only as a copy.
type Handoff interface {
	// Remote reports whether session is run by another node, or by none yet.
	Remote(tenant, session string) bool
	// Lapsed reports whether this node's lease of session ended, or is past its
	// deadline, without the node giving it up (expired, or taken): a send whose provider
	// call returned then raced the session's new owner, and is recorded
	// possibleDuplicate. A lease given up (a rebalance) raced no one.
	Lapsed(tenant, session string) bool
	// Publish hands m, addressed to its new session and with its history, to the node
	// that runs it, and returns once that is durable. Publishing one move twice (a
	// crash between Publish and the local record) must queue it once.
	Publish(ctx context.Context, tenant string, m Message) error
}

// Decision is a failover verdict on one message.
type Decision struct {
	// Retry sends it again through the same session after this delay (within the
	// retry budget).
	Retry time.Duration
	// Reroute is the session the message moves to.
	Reroute string
	// Fail fails the message with this reason instead.
	Fail string
	// Reason says why, in the message's history and the message.failover event.
	Reason string
}

// ErrDownTooLong is the cause given to Failover for a session not WORKING for longer
// than DispatchOptions.FailoverAfter.
var ErrDownTooLong = errors.New("session not working for too long")

// FailoverEvent reports one failover decision carried out.
type FailoverEvent struct {
	Message Message // as stored after the decision
	From    string  // the lost session
	To      string  // the session it moved to ("" when refused)
	Reason  string
	Refused string // the reason it failed instead of moving ("" when moved)
}

// failover asks Failover about one message waiting for session from and carries out
// the decision; it returns true when the message left from's queue.
func (d *Dispatcher) failover(tenant, from, id string, cause error) bool {
	if d.o.Failover == nil {
		return false
	}
	target := d.o.Failover.Target(tenant, from)
	if target == "" || target == from {
		return false
	}
	m, err := d.q.Get(d.ctx, tenant, id)
	if err != nil || m.Status != StatusQueued || m.Session != from {
		return false
	}
	return d.carryOut(tenant, from, id, d.o.Failover.Decide(tenant, m, cause, target), cause)
}

// carryOut applies a failover decision to a message queued for session from.
func (d *Dispatcher) carryOut(tenant, from, id string, dec Decision, cause error) bool {
	why := dec.Reason
	if why == "" {
		why = reason(cause)
	}
	now := time.Now().UTC()
	switch {
	case dec.Fail != "":
		var final Message
		err := d.q.change(tenant, id, func(m *Message) (bool, error) {
			final = Message{}
			if m.Status != StatusQueued || m.Session != from {
				return false, errSkip
			}
			m.Status, m.Reason, m.NextAttemptAt = StatusFailed, dec.Fail, time.Time{}
			m.History = append(m.History, Change{Status: StatusFailed, At: now, Reason: dec.Fail})
			final = *m
			return true, nil
		})
		if err != nil || final.ID == "" {
			return false
		}
		d.q.unreserve(tenant, from, 1)
		d.metrics.failovers.WithLabelValues("refused").Inc()
		if d.o.OnTransition != nil {
			d.o.OnTransition(tenant, final)
		}
		if d.o.OnFailover != nil {
			d.o.OnFailover(tenant, FailoverEvent{Message: final, From: from, Reason: why, Refused: dec.Fail})
		}
		return true
	case dec.Reroute != "" && dec.Reroute != from:
		var moved Message
		var err error
		if d.o.Handoff != nil && d.o.Handoff.Remote(tenant, dec.Reroute) {
			moved, err = d.handOff(tenant, id, from, dec.Reroute, "failover from "+from+": "+why, now)
		} else {
			moved, err = d.q.move(tenant, id, from, dec.Reroute, "failover from "+from+": "+why, now, false)
		}
		if err != nil || moved.ID == "" {
			if err != nil {
				d.log.Error("failover: moving message", "tenant", tenant, "message", id, "to", dec.Reroute, "err", err)
			}
			return false
		}
		d.metrics.failovers.WithLabelValues("rerouted").Inc()
		if d.o.OnTransition != nil {
			d.o.OnTransition(tenant, moved)
		}
		if d.o.OnFailover != nil {
			d.o.OnFailover(tenant, FailoverEvent{Message: moved, From: from, To: dec.Reroute, Reason: why})
		}
		return true
	}
	return false
}

// lateForLost hands to failover the messages queued for a session after SessionLost
// declared it lost (and before it worked again): without it they would wait for
// FailoverAfter, or forever. In cluster mode that is most of them: the session's owner
// takes its messages from the send stream one at a time (core/cluster/relay), so they
// reach its queue after the session was lost.
func (d *Dispatcher) lateForLost(k sessionKey, from string, cause error) {
	d.mu.Lock()
	closed := d.closed
	if !closed {
		d.wg.Add(1)
	}
	d.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer d.wg.Done()
		for d.ctx.Err() == nil {
			ids, err := d.q.headFrom(k, from, 256)
			if err != nil || len(ids) == 0 {
				return
			}
			for _, id := range ids {
				d.failover(k.tenant, k.session, id, cause)
			}
			from = ids[len(ids)-1] + "\x00"
		}
	}()
}

// SessionLost asks the failover policy about every message waiting for a session that
// is lost (cause: why), moving or failing those it decides. The session's worker is
// not WORKING meanwhile, so none of them is being sent.
func (d *Dispatcher) SessionLost(tenant, session string, cause error) int {
	if d.o.Failover == nil || d.o.Failover.Target(tenant, session) == "" {
		return 0
	}
	k := sessionKey{tenant, session}
	d.mu.Lock()
	w := d.workers[k]
	d.mu.Unlock()
	if w != nil {
		w.mu.Lock()
		if !w.working {
			w.lost = cause // messages back from an interrupted send follow
		}
		w.mu.Unlock()
	}
	moved := 0
	from := ""
	for d.ctx.Err() == nil {
		ids, err := d.q.headFrom(k, from, 256)
		if err != nil || len(ids) == 0 {
			break
		}
		for _, id := range ids {
			if d.failover(tenant, session, id, cause) {
				moved++
			}
		}
		from = ids[len(ids)-1] + "\x00"
	}
	if moved > 0 {
		d.log.Info("failover", "tenant", tenant, "session", session, "cause", cause.Error(), "messages", moved)
	}
	return moved
}

// handOff moves a waiting message to a session another node runs: published first (a
// crash before the local record leaves the message here, waiting, and its next move
// publishes the same one again, which Publish dedupes), then moved out of this node's
// queue. A message no longer waiting for from is left alone.
func (d *Dispatcher) handOff(tenant, id, from, to, why string, now time.Time) (Message, error) {
	m, err := d.q.Get(d.ctx, tenant, id)
	if errors.Is(err, ErrNotFound) {
		return Message{}, nil
	}
	if err != nil {
		return Message{}, err
	}
	if m.Status != StatusQueued || m.Session != from {
		return Message{}, nil
	}
	next := movedTo(m, to, why, now)
	if err := d.o.Handoff.Publish(d.ctx, tenant, next); err != nil {
		return Message{}, fmt.Errorf("queue: handing %s to %s: %w", id, to, err)
	}
	return d.q.move(tenant, id, from, to, why, now, true)
}

// movedTo is m as a failover to session to makes it.
func movedTo(m Message, to, why string, now time.Time) Message {
	m.Session, m.Attempts, m.NextAttemptAt, m.Reason = to, 0, time.Time{}, ""
	m.History = append(slices.Clip(m.History), Change{Status: StatusQueued, At: now, Reason: why})
	return m
}

// move reassigns a queued message to another session in one transaction: its queue
// entry and chat index move, its retry budget starts afresh, the history says why. With
// away, the new session runs on another node (Dispatcher.handOff): the record and its
// chat index move, but no queue entry is made for it here.
func (q *Queue) move(tenant, id, from, to, why string, now time.Time, away bool) (Message, error) {
	var moved Message
	err := q.change(tenant, id, func(m *Message) (bool, error) {
		moved = Message{}
		if m.Status != StatusQueued || m.Session != from {
			return false, errSkip
		}
		*m = movedTo(*m, to, why, now)
		moved = *m
		return false, nil
	}, func(txn *badger.Txn, m Message) error {
		if moved.ID == "" {
			return nil
		}
		if err := entries.Delete(txn, tenant, from, m.ID); err != nil {
			return err
		}
		if !away {
			if err := entries.Put(txn, entry{}, tenant, to, m.ID); err != nil {
				return err
			}
		}
		if err := chatIndex.Delete(txn, tenant, from, m.ChatID, m.ID); err != nil {
			return err
		}
		return chatIndex.Put(txn, struct{}{}, tenant, to, m.ChatID, m.ID)
	})
	if err != nil {
		return Message{}, fmt.Errorf("queue: moving %s to %s: %w", id, to, err)
	}
	if moved.ID == "" {
		return Message{}, nil
	}
	q.unreserve(tenant, from, 1)
	if away {
		return moved, nil
	}
	q.depthMu.Lock()
	q.depth[sessionKey{tenant, to}]++
	q.total++
	q.depthMu.Unlock()
	q.notifyMu.Lock()
	notify := q.notify
	q.notifyMu.Unlock()
	if notify != nil {
		notify(tenant, to, id)
	}
	return moved, nil
}

// FlagDuplicate marks message id possibleDuplicate and waits until that is durable: in
// cluster mode, a node that sent it and lost its lease of the session before the send
// stream heard so (frozen, cut off) knows the new owner sends it again (relay.Sink.Left).
// A message not found, or already flagged, is left as it is.
func (q *Queue) FlagDuplicate(tenant, id string) error {
	return q.change(tenant, id, func(m *Message) (bool, error) {
		if m.PossibleDuplicate {
			return false, errSkip
		}
		m.PossibleDuplicate = true
		return false, nil
	})
}
