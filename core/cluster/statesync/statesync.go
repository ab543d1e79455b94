package statesync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/jsbatch"
	"github.com/wagate/wagate/core/store"
)

// SharedPrefixes are the key families every node must see, the default of
// Options.Prefixes. The others stay node-local; docs/cluster.md ("Shared state") says
// why for each.
var SharedPrefixes = []store.Prefix{
	store.PrefixTenant, store.PrefixAPIKey, store.PrefixSession,
	store.PrefixIdempotency, store.PrefixContact,
	store.PrefixWebhookEndpoint,
	store.PrefixPolicy, store.PrefixPolicyVersion, store.PrefixPolicyBindings,
	store.PrefixCloudInbound,
	store.PrefixList, store.PrefixListContact, store.PrefixOptOut,
	store.PrefixCampaign,
	// Usage counters: in cluster mode each node writes only its own,
	// use/<tenant>/<day>/<node> (core/tenant Options.NodeID), so a shared counter never
	// conflicts; every node sums them all for the plan's daily limit.
	store.PrefixUsage,
}

// Errors of shared writes. A refused fence is cluster.ErrStaleToken (errors.Is).
var (
	// ErrConflict: another node wrote a key of the transaction since this node's mirror
	// last heard of it. It wraps badger.ErrConflict, so store.DB.Update runs the
	// transaction again, on the values the mirror was just given.
	ErrConflict = fmt.Errorf("statesync: a key was written by another node first: %w", badger.ErrConflict)
	// ErrNotReady: a shared write before the mirror was hydrated (Start), or while the
	// node rebuilds its mirror after losing its watch.
	ErrNotReady = errors.New("statesync: shared state not hydrated yet")
	// ErrClosed: a shared write after Close.
	ErrClosed = errors.New("statesync: shared state closed")
	// ErrUnknownOutcome: the bucket's acknowledgement was lost; the write may or may not
	// have landed. Nothing was committed locally; if it landed, the watch brings it.
	ErrUnknownOutcome = errors.New("statesync: outcome of a shared write unknown")
)

// Options configures the bucket and the mirror.
type Options struct {
	// Replicas of the bucket's stream: 3 in a 3-node NATS cluster. Default 1.
	Replicas int
	// Prefixes are the shared key families. Default SharedPrefixes.
	Prefixes []store.Prefix
	// MaxBatch is the most messages of one atomic batch: the server's jetstream
	// max_batch_size (default 1000). Default 1000.
	MaxBatch int
	// Timeout bounds one JetStream operation. Default 5s.
	Timeout time.Duration
	// FenceOf says which session fence, if any, covers a key: a write of it by a node
	// that claimed the session (Claim) carries the fence. Default: session records,
	// ses/<tenant>/<session>.
	FenceOf func(key []byte) (cluster.Key, bool)
	// Applied, when set, is called with the keys the mirror took from the bucket
	// (other nodes' writes, hydration), after each mirror transaction committed, outside
	// any lock, from the follower or from a writer whose commit fetched fresh values. The mirror is Badger only: a service that caches records in memory (the
	// tenant and key cache of core/tenant, the endpoints of core/webhook, compiled
	// policies) must drop them here, or it keeps serving what it cached:
	// tenant.Service.Forget, webhook.Service.Forget and catalog.Catalog.Forget do.
	Applied func(keys [][]byte)
	// Log receives the follower's warnings; nil discards them.
	Log *slog.Logger
}

// SessionRecordFence is the default Options.FenceOf: ses/<tenant>/<session> is
// covered by the session's fence.
func SessionRecordFence(key []byte) (cluster.Key, bool) {
	p, parts := store.KeyParts(key)
	if p != store.PrefixSession || len(parts) != 2 {
		return "", false
	}
	k, err := cluster.SessionKey(parts[0], parts[1])
	return k, err == nil
}

// deleteTTL is how long the bucket keeps the marker of a deleted key (Nats-TTL), so that
// the markers of expired idempotency keys do not pile up. A node that was away longer
// learns of the delete at its hydration (keys the bucket lacks are deleted).
const deleteTTL = "24h"

// State is one node's view of the shared state: its Badger mirror and the bucket.
type State struct {
	db     *store.DB
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue // fence records only: the mirror follows the stream itself (feed)
	o      Options
	node   string // this State's sync subject token
	log    *slog.Logger

	// mu is held by a shared commit from its publish to its local commit, and by every
	// change of the mirror from the bucket: so a node's own commit and what it applies
	// from others never interleave on the revision index.
	mu     sync.Mutex
	ready  bool
	closed bool
	fences map[cluster.Key]*fenceState
	// changed collects the keys applied from the bucket under mu, for Options.Applied.
	changed [][]byte

	posMu    sync.Mutex
	pos      uint64        // the last bucket revision the follower applied (or skipped)
	advanced chan struct{} // closed and replaced when pos moves

	cancel context.CancelFunc
	done   chan struct{}
}

// fenceState is a claimed session's fence: the token and the revision of the fence
// record this node last wrote.
type fenceState struct {
	token uint64
	seq   uint64
	stale error // set once a newer owner claimed: every write refused
}

// Open creates the bucket if it does not exist (or updates its stream to this
// configuration) and returns the node's State, not started: call Start.
func Open(ctx context.Context, js jetstream.JetStream, db *store.DB, o Options) (*State, error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxBatch <= 1 {
		o.MaxBatch = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Prefixes == nil {
		o.Prefixes = SharedPrefixes
	}
	if o.FenceOf == nil {
		o.FenceOf = SessionRecordFence
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	stream, kv, err := jsbatch.OpenBucket(ctx, js, Bucket, "wagate: shared state, mirrored in every node's Badger (core/cluster/statesync)", o.Replicas)
	if err != nil {
		return nil, fmt.Errorf("statesync: %w", err)
	}
	return &State{db: db, nc: js.Conn(), js: js, stream: stream, kv: kv, o: o, log: o.Log,
		node: nats.NewInbox()[len(nats.InboxPrefix):], fences: map[cluster.Key]*fenceState{},
		advanced: make(chan struct{})}, nil
}

// Start registers the commit hook (shared writes fail with ErrNotReady until the mirror
// is hydrated), seeds the bucket if it never was (see below), hydrates the mirror — every shared key made exactly the bucket's, local
// shared keys the bucket lacks deleted — and follows the bucket from then on. It returns
// when the mirror is hydrated: the node may then report ready.
//
// Seeding: the first node ever to start on a bucket (the one that creates its seed
// record i.seed) uploads its local shared keys to the bucket before it hydrates, so
// that turning cluster mode on over a single node's data dir keeps that data. Every
// later node's mirror is made the bucket's: start the node that holds the data first.
func (s *State) Start(ctx context.Context) error {
	if err := s.db.SetCommitHook(s.o.Prefixes, (*hook)(s)); err != nil {
		return err
	}
	if err := s.seed(ctx); err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(context.Background())
	f, r, err := s.hydrate(ctx, fctx)
	if err != nil {
		cancel()
		return err
	}
	s.advance(r.last)
	s.cancel, s.done = cancel, make(chan struct{})
	go s.follow(fctx, f, r)
	return nil
}

// Ready reports whether the mirror is hydrated and followed: shared writes are accepted.
func (s *State) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready && !s.closed
}

// Close stops following the bucket. The hook stays registered and refuses shared
// writes with ErrClosed: a closed node must not write shared keys locally only.
func (s *State) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// Sync waits until this node's mirror has applied every write the bucket held when Sync
// was called (it publishes a marker and waits for the follower to pass it): a read after
// Sync sees every write acknowledged to any node before it.
func (s *State) Sync(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	ack, err := s.js.Publish(pctx, subjectRoot+"s."+s.node, nil)
	cancel()
	if err != nil {
		return fmt.Errorf("statesync: sync marker: %w", err)
	}
	for {
		s.posMu.Lock()
		pos, ch := s.pos, s.advanced
		s.posMu.Unlock()
		if pos >= ack.Sequence {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("statesync: sync at revision %d, applied %d: %w", ack.Sequence, pos, ctx.Err())
		}
	}
}

// Claim makes fence's owner the writer of its session's fenced keys (Options.FenceOf):
// it refuses with cluster.ErrStaleToken when the session's fence record holds a larger
// token, and otherwise writes its own token there by compare-and-set, so that the
// fenced writes of every earlier owner are refused from then on. Call it when the
// session starts on this node (after the lease is claimed), Release when it stops.
func (s *State) Claim(ctx context.Context, fence cluster.Fence) error {
	t, ses := fence.Key.Split()
	if _, err := cluster.SessionKey(t, ses); err != nil {
		return err
	}
	key := "f." + string(fence.Key)
	for range 10 {
		cur, rev, err := s.readFence(ctx, key)
		if err != nil {
			return err
		}
		if cur > fence.Token {
			return fmt.Errorf("%w: %s, the session's state is written with token %d", cluster.ErrStaleToken, fence, cur)
		}
		var ack *jetstream.PubAck
		err = jsbatch.RetryBusy(ctx, func() error {
			pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
			defer cancel()
			ack, err = s.js.Publish(pctx, subjectRoot+key, fenceValue(fence.Token), jetstream.WithExpectLastSequencePerSubject(rev))
			return err
		})
		if jsbatch.IsWrongLastSequence(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("statesync: claiming %s: %w", fence, err)
		}
		s.mu.Lock()
		s.fences[fence.Key] = &fenceState{token: fence.Token, seq: ack.Sequence}
		s.mu.Unlock()
		return nil
	}
	return fmt.Errorf("statesync: claiming %s: the fence record kept changing", fence)
}

// Release ends this node's writes under the session's fence (the session stopped):
// its writes of the session's keys are plain shared writes again.
func (s *State) Release(key cluster.Key) {
	s.mu.Lock()
	delete(s.fences, key)
	s.mu.Unlock()
}

func fenceValue(token uint64) []byte { return fmt.Appendf(nil, `{"token":%d}`, token) }

// readFence reads a fence record's token and revision (0, 0: none).
func (s *State) readFence(ctx context.Context, key string) (token, rev uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("statesync: reading fence %s: %w", key, err)
	}
	if _, err := fmt.Sscanf(string(e.Value()), `{"token":%d}`, &token); err != nil {
		return 0, 0, fmt.Errorf("statesync: decoding fence %s %q: %w", key, e.Value(), err)
	}
	return token, e.Revision(), nil
}

// The revision index: rev/<key> -> 8 bytes big-endian revision, then 1 if the key was
// deleted at that revision (a tombstone, kept until the follower passes it).
func revKey(key []byte) []byte {
	return append([]byte(string(store.PrefixRevision)+"/"), key...)
}

func revValue(rev uint64, deleted bool) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9), rev)
	if deleted {
		return append(b, 1)
	}
	return append(b, 0)
}

// readRev reads key's revision in txn's snapshot (0: none).
func readRev(txn *badger.Txn, key []byte) (rev uint64, tomb bool, err error) {
	it, err := txn.Get(revKey(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	err = it.Value(func(v []byte) error {
		if len(v) != 9 {
			return fmt.Errorf("statesync: bad revision record for %q", key)
		}
		rev, tomb = binary.BigEndian.Uint64(v), v[8] == 1
		return nil
	})
	return rev, tomb, err
}
