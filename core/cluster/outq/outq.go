// Package outq is the cluster's send queue: one JetStream work-queue stream, wagate_out,
// with one subject per session, out.<tenant>.<session>. Any node accepts a send and
// publishes it; the node owning the session's lease consumes the session's subject and
// acknowledges each message once the provider has taken it (docs/cluster.md, "Send queue").
//
//	q, err := outq.Open(ctx, js, outq.Options{Replicas: 3})
//	p, err := q.Publish(ctx, key, msgID, payload) // p.Duplicate: the id was queued before
//	// on the session's owner, for the life of its lease:
//	err = q.Consume(lease.Context(), key, lease, func(ctx context.Context, d outq.Delivery) error {
//		return send(ctx, d) // nil: done; outq.Retry(after): not sent, try later
//	})
//
// # Guarantees
//
//   - Durable: Publish returns once the stream's replicas stored the message.
//   - Deduplicated: a message id published again within Options.Duplicates is not queued
//     twice (JetStream's Nats-Msg-Id).
//   - Ordered, one in flight per session: the session's consumer has MaxAckPending 1, so
//     message n+1 is delivered only once message n is acknowledged, whatever node consumes.
//   - At least once, duplicates flagged: a mark is written before the handler runs and
//     removed after the acknowledgement. A delivery that finds a mark was handed to a
//     handler before and not acknowledged (its node died, or lost its lease, in between):
//     it is delivered with PossibleDuplicate set. A delivery without a mark was never
//     handed over, so it cannot be a duplicate.
//   - Fenced: Consume hands a message over only while the fence is valid, and stops as soon
//     as it is not; a message it holds then is given back at once (Nak) when it was not
//     handed over, or left to redeliver after AckWait when it was — also when the
//     handler returns after the fence expired or was lost: a stale owner never
//     acknowledges. A fence its holder gave up (Released: a rebalance, a shutdown) is
//     different: no node can be handed the message while this delivery is kept alive,
//     so the handler's outcome is acted on as usual (acknowledged when sent, given back
//     at once when not), and the next owner neither waits AckWait nor sends it twice.
//     The handler itself checks the fence right before its provider call.
package outq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
)

// Names in the NATS account (docs/cluster.md).
const (
	// Stream is the work-queue stream of every session's sends.
	Stream = "wagate_out"
	// MarkBucket holds the marks of messages handed to a handler and not yet acknowledged.
	MarkBucket = "wagate_out_marks"
)

// Options configure Open. Zero values take the defaults documented on each field.
type Options struct {
	// Replicas of the stream and the marks bucket: 1, or 3 in a 3-node cluster. Default 1.
	Replicas int
	// Duplicates is the window in which a message id published twice is queued once.
	// Default 2 minutes (JetStream's default).
	Duplicates time.Duration
	// AckWait is how long a message handed over and neither acknowledged nor given back
	// stays with its consumer before JetStream redelivers it: the delay before a dead
	// node's in-flight message moves. A handler that runs longer keeps it (Consume sends
	// progress every AckWait/3). Default 10s, the default lease TTL.
	AckWait time.Duration
	// MarkTTL is how long a mark left by a node that died lives. Default 24h.
	MarkTTL time.Duration
	// Poll bounds one wait for the next message. Default 1s.
	Poll time.Duration
	// Left, when set, is told of each delivery a stale owner leaves for redelivery
	// after its handler ran (see "Fenced"): the next owner gets it flagged and may send
	// it again, so a handler that sent it can flag its own record too.
	Left func(d Delivery)
}

func (o *Options) setDefaults() {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Duplicates == 0 {
		o.Duplicates = 2 * time.Minute
	}
	if o.AckWait == 0 {
		o.AckWait = 10 * time.Second
	}
	if o.MarkTTL == 0 {
		o.MarkTTL = 24 * time.Hour
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
}

// Queue is the send queue of the cluster. Safe for concurrent use.
type Queue struct {
	opts   Options
	js     jetstream.JetStream
	stream jetstream.Stream
	marks  jetstream.KeyValue
}

// Open binds the stream and the marks bucket, creating them when missing, retrying while
// the JetStream cluster forms, until ctx ends.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Queue, error) {
	opts.setDefaults()
	q := &Queue{opts: opts, js: js}
	for {
		err := q.bind(ctx)
		if err == nil {
			return q, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("outq: opening %s: %w", Stream, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond): // the JetStream cluster may still be electing
		}
	}
}

func (q *Queue) bind(ctx context.Context) error {
	s, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "wagate send queue: out.<tenant>.<session>",
		Subjects:    []string{"out.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    q.opts.Replicas,
		Duplicates:  q.opts.Duplicates,
	})
	if err != nil {
		return err
	}
	kv, err := q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: MarkBucket, Description: "wagate send queue: messages handed over, not yet acknowledged",
		History: 1, TTL: q.opts.MarkTTL, Storage: jetstream.FileStorage, Replicas: q.opts.Replicas,
	})
	if err != nil {
		return err
	}
	q.stream, q.marks = s, kv
	return nil
}

// Subject is the subject of a session's sends.
func Subject(k cluster.Key) string { return "out." + string(k) }

// consumerName is the durable consumer of a session: its key with '.' as '_'. Tenant ids
// have no '_' ([a-z0-9-]), so the name is unambiguous.
func consumerName(k cluster.Key) string { return "out_" + strings.Replace(string(k), ".", "_", 1) }

// markKey is the mark of message seq of session k.
func markKey(k cluster.Key, seq uint64) string { return fmt.Sprintf("%s.%d", k, seq) }

// Published is the outcome of Publish.
type Published struct {
	// Seq is the message's sequence in the stream.
	Seq uint64
	// Duplicate says the id was published before, within the window: nothing was queued.
	Duplicate bool
}

// Publish queues payload for session k under the message id id (the dedupe key: the
// gateway's message id, or the client's idempotency key). It returns once the stream
// stored it on its replicas.
func (q *Queue) Publish(ctx context.Context, k cluster.Key, id string, payload []byte) (Published, error) {
	if id == "" {
		return Published{}, errors.New("outq: a message id is required")
	}
	m := &nats.Msg{Subject: Subject(k), Data: payload, Header: nats.Header{}}
	m.Header.Set(jetstream.MsgIDHeader, id)
	ack, err := q.js.PublishMsg(ctx, m, jetstream.WithExpectStream(Stream))
	if err != nil {
		return Published{}, fmt.Errorf("outq: publishing %s for %s: %w", id, k, err)
	}
	return Published{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// Pending is how many messages of session k wait in the stream (the one in flight included).
func (q *Queue) Pending(ctx context.Context, k cluster.Key) (uint64, error) {
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(Subject(k)))
	if err != nil {
		return 0, fmt.Errorf("outq: pending of %s: %w", k, err)
	}
	return info.State.Subjects[Subject(k)], nil
}

// Delivery is one message handed to a Handler.
type Delivery struct {
	// Key is the session.
	Key cluster.Key
	// ID is the message id given to Publish.
	ID string
	// Payload is what was published.
	Payload []byte
	// Seq is the message's stream sequence.
	Seq uint64
	// Attempt counts deliveries of this message, from 1.
	Attempt int
	// PossibleDuplicate says a handler got this message before and it was never
	// acknowledged: it may have been sent already.
	PossibleDuplicate bool
}

// Handler handles one delivery. It returns nil when the message is done with (sent, or
// failed for good: recording the failure is the handler's job), a Retry error when it was
// not sent and should come back later, or any other error when the outcome is unknown
// (the next delivery is flagged PossibleDuplicate). ctx ends when Consume's ctx does.
type Handler func(ctx context.Context, d Delivery) error

// retryError asks for a later redelivery of a message that was not sent.
type retryError struct{ after time.Duration }

func (e retryError) Error() string { return fmt.Sprintf("outq: retry in %s", e.after) }

// Retry is the error a Handler returns for a message it did not send and that should be
// delivered again after d. The message keeps its place: nothing behind it is delivered first.
func Retry(d time.Duration) error { return retryError{d} }

// Fence is what Consume needs of a lease: *cluster.Lease implements it.
type Fence interface {
	// Valid reports whether the holder still owns the session.
	Valid() bool
	// Released reports whether the holder ended it itself (it gave the session up)
	// rather than it expiring or being taken.
	Released() bool
}

// Consume delivers session k's messages to h, one at a time in order, while f is valid
// and until ctx ends; then it returns nil. It returns an error only when the stream
// cannot be consumed at all (the consumer cannot be created within ctx).
func (q *Queue) Consume(ctx context.Context, k cluster.Key, f Fence, h Handler) error {
	c, err := q.consumer(ctx, k)
	if err != nil {
		return err
	}
	for ctx.Err() == nil && f.Valid() {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(q.opts.Poll))
		if err != nil {
			if ctx.Err() == nil {
				pause(ctx, 100*time.Millisecond) // the stream's leader may be moving
			}
			continue
		}
		for m := range batch.Messages() {
			q.deliver(ctx, k, f, m, h)
		}
	}
	return nil
}

// consumer binds the session's durable consumer, creating it when missing.
func (q *Queue) consumer(ctx context.Context, k cluster.Key) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       consumerName(k),
		FilterSubject: Subject(k),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.opts.AckWait,
		MaxAckPending: 1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      q.opts.Replicas,
	}
	for {
		c, err := q.stream.CreateOrUpdateConsumer(ctx, cfg)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("outq: consumer of %s: %w", k, errors.Join(err, ctx.Err()))
		}
		pause(ctx, 100*time.Millisecond)
	}
}

// deliver hands m to h under a mark, and acknowledges, retries or leaves it by h's answer.
func (q *Queue) deliver(ctx context.Context, k cluster.Key, f Fence, m jetstream.Msg, h Handler) {
	md, err := m.Metadata()
	if err != nil {
		_ = m.Term() // not a JetStream message: cannot happen on a pull consumer
		return
	}
	seq := md.Sequence.Stream
	mark := markKey(k, seq)
	dup := false
	if md.NumDelivered > 1 {
		// Only a redelivery can find a mark: a first delivery was never handed over
		// (the consumer is durable and replicated, so its count survives its servers).
		octx, cancel := context.WithTimeout(ctx, q.opts.AckWait/3)
		_, merr := q.marks.Get(octx, mark)
		cancel()
		if merr != nil && !errors.Is(merr, jetstream.ErrKeyNotFound) {
			_ = m.Nak() // the marks are unreadable: hand nothing over blind
			return
		}
		dup = merr == nil
	}
	if !f.Valid() || ctx.Err() != nil {
		_ = m.Nak() // not handed over: the next owner gets it at once
		return
	}
	if !dup {
		octx, cancel := context.WithTimeout(ctx, q.opts.AckWait/3)
		_, err := q.marks.Put(octx, mark, []byte(m.Headers().Get(jetstream.MsgIDHeader)))
		cancel()
		if err != nil {
			_ = m.Nak()
			return
		}
	}
	d := Delivery{
		Key: k, ID: m.Headers().Get(jetstream.MsgIDHeader), Payload: m.Data(), Seq: seq,
		Attempt: int(md.NumDelivered), PossibleDuplicate: dup,
	}
	stop := q.keepAlive(m, f)
	err = h(ctx, d)
	held := stop()
	var retry retryError
	switch {
	case stale(f) || !f.Valid() && !held:
		// The lease ended while the handler ran (the node lost it, or was frozen past
		// it): the message may already be redelivered to the session's new owner. An
		// acknowledgement or a give-back now would act on the new owner's delivery —
		// an ack after its Retry would drop a message never sent. Leave it: it comes
		// back after AckWait, flagged by its mark. (A lease given up is not this
		// case when keepAlive held the delivery all along: it is still this node's.)
		if q.opts.Left != nil {
			q.opts.Left(d)
		}
	case err == nil:
		if q.ack(ctx, m) == nil {
			q.unmark(mark)
		}
	case errors.As(err, &retry):
		q.unmark(mark) // not sent: the next delivery is not a duplicate
		_ = m.NakWithDelay(retry.after)
	default:
		_ = m.Nak() // outcome unknown: the mark stays, the next delivery is flagged
	}
}

// ack acknowledges m and waits for the server's confirmation, so that the mark is removed
// only for a message that will not come back.
func (q *Queue) ack(ctx context.Context, m jetstream.Msg) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.opts.AckWait/3)
	defer cancel()
	return m.DoubleAck(actx)
}

func (q *Queue) unmark(mark string) {
	ctx, cancel := context.WithTimeout(context.Background(), q.opts.AckWait/3)
	defer cancel()
	_ = q.marks.Delete(ctx, mark) // a mark left behind only flags a delivery that cannot come
}

// keepAlive tells the server every AckWait/3 that m is still being handled, until stop
// or until f expired or was lost (the delivery is then the next owner's to get, and
// extending it would only stall that owner). held reports, after stop, whether the
// delivery was kept alive to the end: the last progress (or the hand-over) less than
// 2/3 of AckWait before stop. The server redelivers only after a whole AckWait without
// progress, counted from when it got the last one (later than this node sent it), so
// no other node can have been given the message then; the third left over is for a
// tick that came late on a busy machine. False after the node was frozen or cut off
// past that.
func (q *Queue) keepAlive(m jetstream.Msg, f Fence) (stop func() (held bool)) {
	limit := 2 * q.opts.AckWait / 3
	done := make(chan struct{})
	var mu sync.Mutex
	last, gap := time.Now(), false // monotonic: a frozen process sees the gap
	go func() {
		t := time.NewTicker(q.opts.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if stale(f) {
					return
				}
				mu.Lock()
				gap = gap || time.Since(last) >= limit
				last = time.Now()
				mu.Unlock()
				_ = m.InProgress()
			}
		}
	}()
	return func() bool {
		close(done)
		mu.Lock()
		defer mu.Unlock()
		return !gap && time.Since(last) < limit
	}
}

// stale reports whether f ended other than by its holder giving it up.
func stale(f Fence) bool { return !f.Valid() && !f.Released() }

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Lag is one session's backlog in the send queue.
type Lag struct {
	Key cluster.Key `json:"key"`
	// Waiting counts the messages not yet handed to the owner.
	Waiting uint64 `json:"waiting"`
	// InFlight counts the messages handed over and not acknowledged (at most 1).
	InFlight int `json:"inFlight"`
	// Redelivered counts the messages of the backlog delivered more than once.
	Redelivered int `json:"redelivered"`
}

// ReadLags reads every session consumer's backlog, by key. No stream yet (no node ever
// opened the queue) reads as none.
func ReadLags(ctx context.Context, js jetstream.JetStream) ([]Lag, error) {
	s, err := js.Stream(ctx, Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outq: binding %s: %w", Stream, err)
	}
	var out []Lag
	infos := s.ListConsumers(ctx)
	for ci := range infos.Info() {
		k, ok := strings.CutPrefix(ci.Config.FilterSubject, "out.")
		if !ok {
			continue
		}
		out = append(out, Lag{Key: cluster.Key(k), Waiting: ci.NumPending, InFlight: ci.NumAckPending, Redelivered: ci.NumRedelivered})
	}
	if err := infos.Err(); err != nil {
		return out, fmt.Errorf("outq: listing consumers: %w", err)
	}
	slices.SortFunc(out, func(a, b Lag) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}
