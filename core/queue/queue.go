// Package queue is the durable outbound pipeline: per-session FIFO queues in Badger,
// group-committed so that durability does not cost throughput, idempotency keys, and the
// message records whose status the API reports.
//
// A message is durable before Enqueue returns: its record (msg/<tenant>/<id>) and its
// queue entry (que/<tenant>/<session>/<id>) are written in one transaction, which, with
// store.sync_writes on, is fsynced. Concurrent Enqueue calls share one transaction and
// one fsync (the committer goroutine), so N concurrent requests cost one disk sync.
//
//	q := queue.Open(db, queue.Options{...})
//	defer q.Close()
//	res, err := q.Enqueue(ctx, "acme", []queue.Item{{Message: m, IdempotencyKey: k}})
//	// res[i].ID, res[i].Replayed (same key seen before: nothing enqueued)
package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// Status is where a message is in its life.
type Status string

// Message statuses, in order. failed is final; so are read and, in practice, delivered.
const (
	StatusQueued    Status = "queued"
	StatusSending   Status = "sending"
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusFailed    Status = "failed"
)

// rank orders statuses so a late ack never moves a message backwards.
func (s Status) rank() int {
	switch s {
	case StatusQueued:
		return 0
	case StatusSending:
		return 1
	case StatusSent:
		return 2
	case StatusDelivered:
		return 3
	case StatusRead:
		return 4
	}
	return 5 // failed
}

// Change is one entry of a message's status history.
type Change struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Message is an outbound message and everything known about it.
type Message struct {
	ID      string        `json:"id"`
	Session string        `json:"session"`
	ChatID  string        `json:"chatId"`
	Type    provider.Kind `json:"type"`
	Text    string        `json:"text,omitempty"`
	ReplyTo string        `json:"replyTo,omitempty"`
	// Payload carries what a message other than text has besides its text (media,
	// location, contacts, reaction); nil for text.
	Payload *Payload `json:"payload,omitempty"`

	Status Status `json:"status"`
	// Reason says why a message failed or is waiting to be retried.
	Reason     string `json:"reason,omitempty"`
	ProviderID string `json:"providerId,omitempty"`
	// Attempts counts provider calls made for this message.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when a retry is due (zero when none is).
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	// PossibleDuplicate is set when the gateway stopped while the provider call was in
	// flight: the message is sent again and may reach the recipient twice.
	PossibleDuplicate bool   `json:"possibleDuplicate,omitempty"`
	IdempotencyKey    string `json:"idempotencyKey,omitempty"`
	// Campaign is the id of the campaign that queued the message (core/campaign), ""
	// for any other message. Its status changes are told to the queue's Tracker.
	Campaign string `json:"campaign,omitempty"`
	// QueuedAt is when the message was last queued (accepted, or requeued by a retry
	// request): queue.max_wait counts from it.
	QueuedAt  time.Time `json:"queuedAt"`
	History   []Change  `json:"history"`
	CreatedAt time.Time `json:"createdAt"`

	// Inbound marks a message the session received (inbound.go): Status is
	// "received", From its author (the group, in a group, with Participant the
	// member who wrote), FromMe whether the session's own phone sent it, Timestamp
	// when the sender sent it by the transport's clock. All absent on messages sent
	// through the API.
	Inbound     bool      `json:"inbound,omitempty"`
	From        string    `json:"from,omitempty"`
	Participant string    `json:"participant,omitempty"`
	FromMe      bool      `json:"fromMe,omitempty"`
	Timestamp   time.Time `json:"timestamp,omitzero"`
}

// Item is one message to enqueue.
type Item struct {
	Message Message
	// IdempotencyKey, when set, makes the enqueue happen once per key and tenant within
	// the retention window; a repeat returns the first message's id.
	IdempotencyKey string
	// Fingerprint identifies the request that carried IdempotencyKey (a hash of its
	// canonical form; "" for none). It is stored with the key: a repeat whose
	// fingerprint differs from the stored one is not replayed but answered with
	// Result.Mismatch. Records without one (older ones) match any request.
	Fingerprint string
}

// Result is the outcome of one Item.
type Result struct {
	ID     string
	Status Status
	// Replayed is true when the idempotency key was seen before: nothing was enqueued
	// and ID is the original message's.
	Replayed bool
	// Mismatch is true (with Replayed) when the key was seen before with a different
	// Fingerprint: nothing was enqueued, and the caller should refuse the request
	// (the API's 422 idempotency_key_mismatch). Status is then empty.
	Mismatch bool
}

// entry is the value of a queue entry. Sending marks the message claimed for a
// provider call, so that recovery finds the messages a crash caught in flight from the
// queue keys and their small values alone, without reading every message record.
//
// Since 2026-12-07 the claim is recorded in the entry alone: Attempts (the count with
// this call) and At (when it was claimed) are set, and the message record is left
// "queued"; reads fold the claim into the record (entry.fold), so the message is seen
// "sending", as before. Entries of earlier versions ({"s":true}, At zero) came with a
// record whose status itself says "sending".
type entry struct {
	Sending  bool      `json:"s,omitempty"`
	Attempts int       `json:"-"`
	At       time.Time `json:"-"`
}

// claim reports whether e is a claim recorded in the entry alone (see entry).
func (e entry) claim() bool { return e.Sending && !e.At.IsZero() }

// fold applies e's claim to m, the record of a message still "queued": m is then as
// the claim made it (status sending, its attempt counted, the change in its history).
// Anything else is left as it is.
func (e entry) fold(m *Message) {
	if !e.claim() || m.Status != StatusQueued {
		return
	}
	m.Status, m.Reason, m.Attempts = StatusSending, "", e.Attempts
	m.History = append(m.History[:len(m.History):len(m.History)], Change{Status: StatusSending, At: e.At})
}

type idemRecord struct {
	MessageID string    `json:"messageId"`
	ExpiresAt time.Time `json:"expiresAt"`
	// Fingerprint is the Item's, "" in records written before fingerprints existed.
	Fingerprint string `json:"fingerprint,omitempty"`
}

var (
	messages  = store.Table[Message]{Prefix: store.PrefixMessage, Codec: messageCodec{}}
	entries   = store.Table[entry]{Prefix: store.PrefixQueue, Codec: flagCodec[entry]{}}
	idems     = store.Table[idemRecord]{Prefix: store.PrefixIdempotency, Codec: store.JSONCodec[idemRecord]{}}
	chatIndex = store.Table[struct{}]{Prefix: store.PrefixChatMessage, Codec: flagCodec[struct{}]{}}
)

// Errors of the queue.
var (
	// ErrNotFound: no message with that id for this tenant.
	ErrNotFound = errors.New("message not found")
	// ErrClosed: the queue is shutting down.
	ErrClosed = errors.New("queue closed")
	// ErrNotFailed: only a failed message can be retried.
	ErrNotFailed = errors.New("message has not failed")
)

// FullError: accepting the messages would pass a queue limit. Retry after RetryAfter.
type FullError struct {
	// Scope is "session" or "gateway".
	Scope      string
	Limit      int
	RetryAfter time.Duration
}

func (e *FullError) Error() string {
	return fmt.Sprintf("%s queue full (%d messages waiting)", e.Scope, e.Limit)
}

// Options configure a Queue.
type Options struct {
	// MaxPerSession bounds the messages waiting for one session; 0 means 1,000,000.
	MaxPerSession int
	// MaxTotal bounds the messages waiting in the gateway; 0 means 10,000,000.
	MaxTotal int
	// IdempotencyTTL is how long an Idempotency-Key is remembered; 0 means 24h.
	IdempotencyTTL time.Duration
	// MaxBatch bounds the messages in one group commit; 0 means 4096.
	MaxBatch int
	Logger   *slog.Logger
	Now      func() time.Time
}

// Queue is the durable outbound queue of every session. Safe for concurrent use.
type Queue struct {
	db   *store.DB
	opts Options
	log  *slog.Logger

	in     chan op
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once

	depthMu sync.Mutex
	depth   map[sessionKey]int
	total   int

	// notify is called after a commit with the sessions that received messages.
	notifyMu sync.Mutex
	notify   func(tenant, session, minID string)

	// tracker is told of the status changes of campaign messages (SetTracker).
	tracker atomic.Pointer[trackerBox]

	// scanFloor, set by the dispatcher, says where a read of a session's entries may
	// start (see Dispatcher.scanFloor); unset, reads start at the session's first key.
	scanFloor atomic.Pointer[func(sessionKey) string]

	// batch is the committer's view of the records its open transaction touched.
	batch batchRecords
}

// floorOf is where a read of session k's entries may start ("" its first key).
func (q *Queue) floorOf(k sessionKey) string {
	if f := q.scanFloor.Load(); f != nil {
		return (*f)(k)
	}
	return ""
}

// Tracker follows the messages of campaigns. Track is called inside the transaction
// that changes a message whose Campaign is set, after the change and before the
// commit, with the status before it: what Track writes commits with the message or not
// at all, so a campaign's counts can never disagree with its messages. An error fails
// the change (the committer retries it as it does a store error). Track runs on the
// queue's single committer goroutine: it must be quick and must not call the queue.
type Tracker interface {
	Track(txn *badger.Txn, tenant string, before Status, m Message) error
}

type trackerBox struct{ t Tracker }

// SetTracker sets the Tracker of campaign messages; nil removes it. Set it before the
// dispatcher starts: changes made before are not told.
func (q *Queue) SetTracker(t Tracker) {
	if t == nil {
		q.tracker.Store(nil)
		return
	}
	q.tracker.Store(&trackerBox{t})
}

type sessionKey struct{ tenant, session string }

// Open starts the queue's committer and counts what is waiting from a previous run.
// Messages a crash left "sending" go back to "queued", flagged PossibleDuplicate.
func Open(db *store.DB, o Options) (*Queue, error) {
	if o.MaxPerSession <= 0 {
		o.MaxPerSession = 1_000_000
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = 10_000_000
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 24 * time.Hour
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	q := &Queue{db: db, opts: o, log: o.Logger, in: make(chan op, 1024),
		stop: make(chan struct{}), done: make(chan struct{}), depth: make(map[sessionKey]int)}
	if err := q.recover(); err != nil {
		return nil, err
	}
	go q.committer()
	return q, nil
}

// OnEnqueue sets the function told, after each commit, which sessions got queue
// entries, with the smallest message id put for each (the dispatcher wakes their
// workers, which read their queue from a cursor and must look back when an entry lands
// behind it: a concurrent request's smaller id committed late, a retried message).
func (q *Queue) OnEnqueue(fn func(tenant, session, minID string)) {
	q.notifyMu.Lock()
	q.notify = fn
	q.notifyMu.Unlock()
}

// recover counts queue entries and resets the messages a crash left in flight. It reads
// entries only (keys and a few bytes each); message records are read for the entries
// marked sending alone.
func (q *Queue) recover() error {
	type inFlight struct {
		tenant, session, id string
		e                   entry
	}
	var found []inFlight
	err := q.db.View(func(txn *badger.Txn) error {
		return entries.Scan(txn, func(rest []string, e entry) error {
			if len(rest) != 3 {
				return nil
			}
			q.depth[sessionKey{rest[0], rest[1]}]++
			q.total++
			if e.Sending {
				found = append(found, inFlight{rest[0], rest[1], rest[2], e})
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("queue: counting waiting messages: %w", err)
	}
	for _, x := range found {
		err := q.db.Update(func(txn *badger.Txn) error {
			m, err := getFolded(txn, x.tenant, x.id, &x.e)
			if err == nil && m.Status == StatusSending {
				m.Status, m.Reason, m.PossibleDuplicate = StatusQueued, "interrupted_in_flight", true
				m.History = append(m.History, Change{Status: StatusQueued, At: q.opts.Now().UTC(), Reason: "interrupted_in_flight"})
				if err := messages.Put(txn, m, x.tenant, x.id); err != nil {
					return err
				}
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return entries.Put(txn, entry{}, x.tenant, x.session, x.id)
		})
		if err != nil {
			return fmt.Errorf("queue: resetting in-flight message %s: %w", x.id, err)
		}
	}
	if len(found) > 0 {
		q.log.Warn("messages interrupted in flight will be sent again, flagged possibleDuplicate", "count", len(found))
	}
	return nil
}

// Depth returns how many messages wait for a session, and in the whole gateway.
func (q *Queue) Depth(tenant, session string) (int, int) {
	q.depthMu.Lock()
	defer q.depthMu.Unlock()
	return q.depth[sessionKey{tenant, session}], q.total
}

// reserve claims room for n messages per session, or returns a *FullError.
func (q *Queue) reserve(tenant string, items []Item) error {
	per := map[string]int{}
	for _, it := range items {
		per[it.Message.Session]++
	}
	q.depthMu.Lock()
	defer q.depthMu.Unlock()
	if q.total+len(items) > q.opts.MaxTotal {
		return &FullError{Scope: "gateway", Limit: q.opts.MaxTotal, RetryAfter: 5 * time.Second}
	}
	for s, n := range per {
		if q.depth[sessionKey{tenant, s}]+n > q.opts.MaxPerSession {
			return &FullError{Scope: "session", Limit: q.opts.MaxPerSession, RetryAfter: 2 * time.Second}
		}
	}
	for s, n := range per {
		q.depth[sessionKey{tenant, s}] += n
	}
	q.total += len(items)
	return nil
}

func (q *Queue) unreserve(tenant, session string, n int) {
	q.depthMu.Lock()
	defer q.depthMu.Unlock()
	k := sessionKey{tenant, session}
	q.depth[k] -= n
	if q.depth[k] <= 0 {
		delete(q.depth, k)
	}
	q.total -= n
}

// Enqueue makes items durable and queued, in order, and returns one Result per item.
// It completes each item's Message in place (status, times, history).
// Items whose idempotency key was seen (in this call or before, within the TTL) are
// not enqueued again.
//
// also, when given, writes into the same transaction (the tenant's usage count), so
// that it is durable with the messages at no extra sync.
func (q *Queue) Enqueue(ctx context.Context, tenant string, items []Item, also ...func(*badger.Txn) error) ([]Result, error) {
	// Records are complete and encoded here, in the caller's goroutine.
	now := q.opts.Now().UTC()
	encoded := make([][]byte, len(items))
	for i := range items {
		m := &items[i].Message
		m.Status, m.IdempotencyKey, m.CreatedAt, m.QueuedAt = StatusQueued, items[i].IdempotencyKey, now, now
		m.History = []Change{{Status: StatusQueued, At: now}}
		b, err := messages.Codec.Encode(*m)
		if err != nil {
			return nil, fmt.Errorf("queue: encoding message %s: %w", m.ID, err)
		}
		encoded[i] = b
	}
	if err := q.reserve(tenant, items); err != nil {
		return nil, err
	}
	c := &commit{tenant: tenant, items: items, encoded: encoded, also: also, done: make(chan struct{})}
	select {
	case q.in <- c:
	case <-q.stop:
		q.release(tenant, items, nil)
		return nil, ErrClosed
	case <-ctx.Done():
		q.release(tenant, items, nil)
		return nil, ctx.Err()
	}
	// Once handed to the committer, the outcome is awaited whatever ctx says: the
	// caller must learn whether its messages were accepted.
	if err := q.await(c.done); err != nil {
		q.release(tenant, items, nil)
		return nil, err
	}
	if c.err != nil {
		q.release(tenant, items, nil)
		return nil, c.err
	}
	q.release(tenant, items, c.results) // replayed items took no room
	q.notifyMu.Lock()
	notify := q.notify
	q.notifyMu.Unlock()
	if notify != nil {
		least := map[string]string{}
		for i, it := range items {
			if c.results[i].Replayed {
				continue
			}
			if m, ok := least[it.Message.Session]; !ok || it.Message.ID < m {
				least[it.Message.Session] = it.Message.ID
			}
		}
		for session, id := range least {
			notify(tenant, session, id)
		}
	}
	return c.results, nil
}

// release gives back the room of items not enqueued (all when results is nil).
func (q *Queue) release(tenant string, items []Item, results []Result) {
	for i, it := range items {
		if results == nil || results[i].Replayed {
			q.unreserve(tenant, it.Message.Session, 1)
		}
	}
}

// validID reports whether id can be a message id (and so a key part).
func validID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsRune(id, '/')
}

// Get returns one message of a tenant.
func (q *Queue) Get(ctx context.Context, tenant, id string) (Message, error) {
	if !validID(id) {
		return Message{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var m Message
	err := q.db.View(func(txn *badger.Txn) error {
		var err error
		m, err = getFolded(txn, tenant, id, nil)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Message{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return m, err
}

// record returns a message's record as stored, without its queue entry's claim
// (entry.fold): the dispatcher's read of a message it is about to claim, which is
// checked again, claim included, by the claim itself.
func (q *Queue) record(tenant, id string) (Message, error) {
	var m Message
	err := q.db.View(func(txn *badger.Txn) error {
		var err error
		m, err = messages.Get(txn, tenant, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Message{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return m, err
}

// Close stops the committer after the commits already handed to it.
func (q *Queue) Close() {
	q.closed.Do(func() {
		close(q.stop)
		<-q.done
	})
}

func idemKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

// Requeue puts a failed message back in its session's queue with a fresh
// retry budget (POST /api/messages/{id}/retry).
func (q *Queue) Requeue(ctx context.Context, tenant, id string) (Message, error) {
	m, err := q.Get(ctx, tenant, id)
	if err != nil {
		return Message{}, err
	}
	if m.Status != StatusFailed {
		return m, fmt.Errorf("%w: it is %s", ErrNotFailed, m.Status)
	}
	if err := q.reserve(tenant, []Item{{Message: m}}); err != nil {
		return m, err
	}
	now := q.opts.Now().UTC()
	var out Message
	err = q.change(tenant, id, func(m *Message) (bool, error) {
		if m.Status != StatusFailed {
			return false, fmt.Errorf("%w: it is %s", ErrNotFailed, m.Status)
		}
		m.Status, m.Reason, m.Attempts, m.NextAttemptAt, m.QueuedAt = StatusQueued, "retry_requested", 0, time.Time{}, now
		m.History = append(m.History, Change{Status: StatusQueued, At: now, Reason: "retry_requested"})
		out = *m
		return false, nil
	}, func(txn *badger.Txn, m Message) error {
		// Back in the queue at its place in id order: ahead of messages accepted after
		// it, as it was when first queued.
		return entries.Put(txn, entry{}, tenant, m.Session, m.ID)
	})
	if err != nil {
		q.unreserve(tenant, m.Session, 1)
		return m, err
	}
	q.notifyMu.Lock()
	notify := q.notify
	q.notifyMu.Unlock()
	if notify != nil {
		notify(tenant, m.Session, m.ID)
	}
	return out, nil
}

// Page is one page of a chat's messages.
type Page struct {
	Messages []Message `json:"messages"`
	// Next is the cursor of the following page ("" on the last one).
	Next string `json:"next,omitempty"`
}

// ChatMessages lists the messages a session sent (or queued) to a chat, newest first,
// limit at a time, starting after cursor (the Next of the previous page).
func (q *Queue) ChatMessages(ctx context.Context, tenant, session, chat, cursor string, limit int) (Page, error) {
	page := Page{Messages: []Message{}}
	prefix := store.ScanPrefix(store.PrefixChatMessage, tenant, session, chat)
	err := q.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
		defer it.Close()
		start := append(append([]byte{}, prefix...), 0xff)
		if cursor != "" {
			start = append(append([]byte{}, prefix...), cursor...)
		}
		for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
			id := string(it.Item().Key()[len(prefix):])
			if id == cursor {
				continue
			}
			if len(page.Messages) == limit {
				page.Next = page.Messages[len(page.Messages)-1].ID
				return nil
			}
			m, err := getFolded(txn, tenant, id, nil)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			page.Messages = append(page.Messages, m)
		}
		return nil
	})
	return page, err
}

type waiting struct {
	k  sessionKey
	id string
}

// olderThan lists queue entries whose message was accepted before t (from the ULID in
// the id; ids that do not parse are skipped).
func (q *Queue) olderThan(t time.Time) []waiting {
	var out []waiting
	_ = q.db.View(func(txn *badger.Txn) error {
		prefix := []byte(string(store.PrefixQueue) + "/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			_, parts := store.KeyParts(it.Item().Key())
			if len(parts) != 3 {
				continue
			}
			if at, ok := ids.Time(parts[2]); ok && at.Before(t) {
				out = append(out, waiting{sessionKey{parts[0], parts[1]}, parts[2]})
			}
		}
		return nil
	})
	return out
}
