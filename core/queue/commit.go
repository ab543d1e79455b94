package queue

import (
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// op is one unit of work for the committer: it writes into a shared transaction and is
// told the outcome of the commit.
type op interface {
	// apply writes into txn. An error fails this op only (its writes are not kept).
	apply(q *Queue, txn *badger.Txn) error
	// size is the number of messages it touches, for batch bounds.
	size() int
	finish(err error)
}

// commit is an Enqueue call.
type commit struct {
	tenant string
	items  []Item
	// encoded[i] is items[i]'s message record, encoded by the caller's goroutine so the
	// single committer spends its time writing, not encoding.
	encoded [][]byte
	also    []func(*badger.Txn) error
	results []Result
	err     error
	done    chan struct{}
}

func (c *commit) size() int { return len(c.items) }

func (c *commit) finish(err error) {
	if err != nil {
		c.err = err
	}
	close(c.done)
}

func (c *commit) apply(q *Queue, txn *badger.Txn) error {
	now := q.opts.Now().UTC()
	c.results = make([]Result, len(c.items))
	for i, it := range c.items {
		if it.IdempotencyKey != "" {
			res, seen, err := q.claimKey(txn, c.tenant, it, now)
			if err != nil {
				return err
			}
			if seen {
				c.results[i] = res
				continue
			}
		}
		m := it.Message
		if err := txn.Set(store.Key(store.PrefixMessage, c.tenant, m.ID), c.encoded[i]); err != nil {
			return err
		}
		if err := entries.Put(txn, entry{}, c.tenant, m.Session, m.ID); err != nil {
			return err
		}
		if err := chatIndex.Put(txn, struct{}{}, c.tenant, m.Session, m.ChatID, m.ID); err != nil {
			return err
		}
		c.results[i] = Result{ID: m.ID, Status: StatusQueued}
	}
	for _, fn := range c.also {
		if err := fn(txn); err != nil {
			return err
		}
	}
	return nil
}

// committer runs batches: it takes every op waiting (up to MaxBatch messages) and
// commits them in one transaction — one fsync for all of them.
func (q *Queue) committer() {
	defer close(q.done)
	for {
		var first op
		select {
		case first = <-q.in:
		case <-q.stop:
			// Finish what was handed over before Close.
			for {
				select {
				case o := <-q.in:
					q.run([]op{o})
				default:
					return
				}
			}
		}
		batch := []op{first}
		n := first.size()
	drain:
		for n < q.opts.MaxBatch {
			select {
			case o := <-q.in:
				batch = append(batch, o)
				n += o.size()
			default:
				break drain
			}
		}
		q.run(batch)
	}
}

// run commits a batch. An op whose apply fails is finished with its error and left out;
// a batch too big for one transaction is split. A transaction that holds any write of an
// op that did not complete is never committed (it is discarded and the batch rerun
// without that op), so no op's partial writes can land — an idempotency record without
// its message would answer a retry "replayed" for a message never stored.
func (q *Queue) run(batch []op) {
	conflicts := 0
	for len(batch) > 0 {
		txn := q.db.Badger().NewTransaction(true)
		q.batch.reset()
		failed := -1
		var failErr error
		for i, o := range batch {
			if err := o.apply(q, txn); err != nil {
				failed, failErr = i, err
				break
			}
		}
		if failed >= 0 {
			txn.Discard()
			if errors.Is(failErr, badger.ErrTxnTooBig) && failed > 0 {
				// The ops before it fit: commit them alone, then go on from it.
				q.run(batch[:failed])
				batch = batch[failed:]
				continue
			}
			batch[failed].finish(fmt.Errorf("queue: %w", failErr))
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		err := q.db.Commit(txn) // through the commit hook: cluster mode shares idm/ and ctc/
		if errors.Is(err, badger.ErrConflict) && conflicts < 10 {
			// Another writer touched the same keys (a tenant being deleted, say): run
			// the same ops again in a fresh transaction; nothing of this one landed.
			conflicts++
			continue
		}
		for _, o := range batch {
			o.finish(err)
		}
		return
	}
}

// update changes one stored message (a dispatcher or ack transition).
type update struct {
	tenant, id string
	// fn changes m; dequeue removes the message's queue entry in the same transaction.
	// Returning errSkip leaves the message unchanged.
	fn func(m *Message) (dequeue bool, err error)
	// also writes more into the same transaction after fn (the sticky route).
	also func(txn *badger.Txn, m Message) error
	// claim, when set, is the message's claim as its worker made it: folded into the
	// record without reading the queue entry (see entry).
	claim *entry
	err   error
	done  chan struct{} // nil: nobody waits
}

// errSkip is returned by an update fn that decided to change nothing.
var errSkip = errors.New("skip")

func (u *update) size() int { return 1 }

func (u *update) finish(err error) {
	u.err = err
	if u.done != nil {
		close(u.done)
	}
}

func (u *update) apply(q *Queue, txn *badger.Txn) error {
	m, err := q.batch.get(txn, u.tenant, u.id, u.claim)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted meanwhile (tenant or session gone): nothing to do
		}
		return err
	}
	before := m.Status
	dequeue, err := u.fn(&m)
	if errors.Is(err, errSkip) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := q.batch.put(txn, m, u.tenant, u.id); err != nil {
		return err
	}
	if m.Campaign != "" && m.Status != before {
		if tb := q.tracker.Load(); tb != nil {
			if err := tb.t.Track(txn, u.tenant, before, m); err != nil {
				return err
			}
		}
	}
	if u.also != nil {
		if err := u.also(txn, m); err != nil {
			return err
		}
	}
	if dequeue {
		return entries.Delete(txn, u.tenant, m.Session, m.ID)
	}
	return nil
}

// change runs fn on a stored message through the committer and waits for it to be
// durable.
func (q *Queue) change(tenant, id string, fn func(m *Message) (bool, error), also ...func(*badger.Txn, Message) error) error {
	u := &update{tenant: tenant, id: id, fn: fn, done: make(chan struct{})}
	if len(also) > 0 {
		u.also = also[0]
	}
	select {
	case q.in <- u:
	case <-q.stop:
		return ErrClosed
	}
	if err := q.await(u.done); err != nil {
		return err
	}
	return u.err
}

// changeLater hands change's update to the committer and returns it without waiting:
// await(u.done) tells when it is durable (u.err its outcome). The committer applies
// ops in the order they were handed over, so an op handed over after it by the same
// goroutine and awaited is durable only if u is (same or a later commit).
// claim, when set, is the message's claim (update.claim).
func (q *Queue) changeLater(tenant, id string, fn func(m *Message) (bool, error), also func(*badger.Txn, Message) error, claim *entry) (*update, error) {
	u := &update{tenant: tenant, id: id, fn: fn, also: also, claim: claim, done: make(chan struct{})}
	select {
	case q.in <- u:
		return u, nil
	case <-q.stop:
		return nil, ErrClosed
	}
}

// changeAsync is change without waiting (acks: losing one to a crash only loses a
// receipt, and the provider's event loop must not wait on the disk).
func (q *Queue) changeAsync(tenant, id string, fn func(m *Message) (bool, error)) {
	select {
	case q.in <- &update{tenant: tenant, id: id, fn: fn}:
	case <-q.stop:
	}
}

// await waits for a handed-over op to finish, or for the committer to be gone: an op
// left in the channel when the committer stopped never runs (ErrClosed), and the caller
// must not wait for it forever.
func (q *Queue) await(done chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-q.done:
		select {
		case <-done:
			return nil
		default:
			return ErrClosed
		}
	}
}

// batchRecords holds the message records an open batch transaction has read or written,
// decoded, with their queue entry's claim folded in (entry.fold): the updates of one
// message that land in one group commit (its "sent", then the delivered and read
// receipts the transport reported meanwhile) decode its record once, not once each.
// Badger keeps only the last of a transaction's writes to a key, so they cost one write
// either way. Used by the committer goroutine alone; reset with each transaction, so
// that a discarded transaction leaves nothing behind.
type batchRecords struct {
	m map[string]Message
}

func (b *batchRecords) reset() {
	if len(b.m) > 0 {
		clear(b.m)
	}
}

// get returns a message as the transaction sees it. claim, when set, is its claim as
// its worker made it (the entry is then not read).
func (b *batchRecords) get(txn *badger.Txn, tenant, id string, claim *entry) (Message, error) {
	if m, ok := b.m[tenant+"/"+id]; ok {
		return m, nil
	}
	m, err := getFolded(txn, tenant, id, claim)
	if err != nil {
		return Message{}, err
	}
	b.see(tenant, id, m)
	return m, nil
}

// see records m as the transaction's view of the message (written, or its claim).
func (b *batchRecords) see(tenant, id string, m Message) {
	if b.m == nil {
		b.m = make(map[string]Message)
	}
	b.m[tenant+"/"+id] = m
}

func (b *batchRecords) put(txn *badger.Txn, m Message, tenant, id string) error {
	if err := messages.Put(txn, m, tenant, id); err != nil {
		return err
	}
	b.see(tenant, id, m)
	return nil
}

// getFolded reads a message record and folds its queue entry's claim into it (a
// record still "queued" whose entry holds a claim is the message "sending"). claim,
// when set, is used instead of reading the entry.
func getFolded(txn *badger.Txn, tenant, id string, claim *entry) (Message, error) {
	m, err := messages.Get(txn, tenant, id)
	if err != nil || m.Status != StatusQueued {
		return m, err
	}
	if claim != nil {
		claim.fold(&m)
		return m, nil
	}
	if !validID(m.Session) {
		return m, nil
	}
	e, err := entries.Get(txn, tenant, m.Session, id)
	switch {
	case err == nil:
		e.fold(&m)
	case !errors.Is(err, store.ErrNotFound):
		return Message{}, err
	}
	return m, nil
}

// claimOp claims a queued message for a provider call: it writes the claim into the
// message's queue entry alone (see entry), not the record. A claim that a stop left
// behind (the worker did not see it) is first reset, the message flagged
// possibleDuplicate, as recovery does.
type claimOp struct {
	tenant, session, id string
	now                 time.Time
	// known, when set, is the message's queue entry as its worker read it (only the
	// worker changes a claim, so the entry is not read again); nil reads it.
	known *entry
	// out is the message as claimed; its ID is "" when it was not due (expired, failed
	// by a deleted session, retried or delayed meanwhile) or is gone.
	out  Message
	err  error
	done chan struct{}
}

func (c *claimOp) size() int { return 1 }

func (c *claimOp) finish(err error) {
	c.err = err
	close(c.done)
}

func (c *claimOp) apply(q *Queue, txn *badger.Txn) error {
	c.out = Message{}
	m, err := q.batch.get(txn, c.tenant, c.id, c.known)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	before := m.Status
	if m.Status == StatusSending {
		m.Status, m.Reason, m.PossibleDuplicate = StatusQueued, "interrupted_in_flight", true
		m.History = append(m.History, Change{Status: StatusQueued, At: c.now, Reason: "interrupted_in_flight"})
		if err := q.batch.put(txn, m, c.tenant, c.id); err != nil {
			return err
		}
	}
	if m.Status != StatusQueued || m.NextAttemptAt.After(c.now) {
		if before == StatusSending {
			return entries.Put(txn, entry{}, c.tenant, c.session, c.id)
		}
		return nil
	}
	n := len(m.History)
	m.Status, m.Reason, m.Attempts = StatusSending, "", m.Attempts+1
	m.History = append(m.History[:n:n], Change{Status: StatusSending, At: c.now})
	if err := entries.Put(txn, entry{Sending: true, Attempts: m.Attempts, At: c.now}, c.tenant, c.session, c.id); err != nil {
		return err
	}
	q.batch.see(c.tenant, c.id, m)
	if m.Campaign != "" && before != StatusSending {
		if tb := q.tracker.Load(); tb != nil {
			if err := tb.t.Track(txn, c.tenant, before, m); err != nil {
				return err
			}
		}
	}
	c.out = m
	return nil
}

// claim runs a claimOp through the committer and waits for it to be durable.
// known is claimOp.known.
func (q *Queue) claim(tenant, session, id string, now time.Time, known *entry) (Message, error) {
	c := &claimOp{tenant: tenant, session: session, id: id, now: now, known: known, done: make(chan struct{})}
	select {
	case q.in <- c:
	case <-q.stop:
		return Message{}, ErrClosed
	}
	if err := q.await(c.done); err != nil {
		return Message{}, err
	}
	return c.out, c.err
}
