package wamsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/jsbatch"
)

// Bucket is the KV bucket of whatsmeow state; its stream is KV_wagate_wam.
const Bucket = "wagate_wam"

// deleteTTL is how long the bucket keeps the marker of a deleted key (Nats-TTL). A
// hydration reads current keys only, so markers need not stay; the TTL keeps the
// stream from filling with the markers of consumed prekeys and pruned buffers.
const deleteTTL = "24h"

// Errors of the replica. Stale fences are cluster.ErrStaleToken (errors.Is).
var (
	// ErrClosed: a write through a Replica that was closed (its session stopped).
	ErrClosed = errors.New("wamsync: replica closed")
	// ErrUnknownOutcome: a batch whose acknowledgement was lost, and whose fate the
	// fence record could not tell; the replica refuses every later write.
	ErrUnknownOutcome = errors.New("wamsync: outcome of a replicated batch unknown")
)

// Options configures the bucket and the replicas.
type Options struct {
	// Replicas of the bucket's stream: 3 in a 3-node NATS cluster. Default 1.
	Replicas int
	// MaxBatch is the most messages of one atomic batch, the fence record included:
	// the server's jetstream max_batch_size (default 1000). Default 1000.
	MaxBatch int
	// Timeout bounds one JetStream operation (a batch, a read). Default 5s.
	Timeout time.Duration
}

// Store is the wagate_wam bucket, shared by every session of a node.
type Store struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	o      Options
}

// Open creates the bucket if it does not exist (or updates its stream to this
// configuration) and returns it. The stream is a KV bucket's, with history 1, atomic
// batch publish and per-message TTLs on, and direct gets off: a read of the fence
// record goes to the stream leader, so it sees every acknowledged batch.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (*Store, error) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.MaxBatch <= 1 {
		o.MaxBatch = 1000
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	stream, kv, err := jsbatch.OpenBucket(ctx, js, Bucket, "wagate: whatsmeow device state per session (core/cluster/wamsync)", o.Replicas)
	if err != nil {
		return nil, fmt.Errorf("wamsync: %w", err)
	}
	return &Store{nc: js.Conn(), js: js, stream: stream, kv: kv, o: o}, nil
}

// fenceRecord is the value of a session's fence record: the token of the owner that
// last wrote the session's state, and the id of the batch it last wrote.
type fenceRecord struct {
	Token uint64 `json:"token"`
	Batch string `json:"batch"`
	// Purged: Purge wrote the record; the session's state was deleted.
	Purged bool `json:"purged,omitempty"`
}

// readFence reads a session's fence record and its revision (0, zero record: none).
func (s *Store) readFence(ctx context.Context, sessionKey string) (fenceRecord, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	e, err := s.kv.Get(ctx, fenceKey(sessionKey))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fenceRecord{}, 0, nil
	}
	if err != nil {
		return fenceRecord{}, 0, fmt.Errorf("wamsync: reading the fence of %s: %w", sessionKey, err)
	}
	var f fenceRecord
	if err := json.Unmarshal(e.Value(), &f); err != nil {
		return fenceRecord{}, 0, fmt.Errorf("wamsync: decoding the fence of %s: %w", sessionKey, err)
	}
	return f, e.Revision(), nil
}

// Claim makes fence's owner the only writer of its session's state: it refuses with
// cluster.ErrStaleToken when the fence record holds a larger token, and otherwise
// writes its own token there by compare-and-set on the record's revision, so that
// every batch of an earlier owner is refused from then on. Call Hydrate next.
func (s *Store) Claim(ctx context.Context, fence cluster.Fence) (*Replica, error) {
	tenant, session := fence.Key.Split()
	if _, err := cluster.SessionKey(tenant, session); err != nil {
		return nil, err
	}
	sk := string(fence.Key)
	for range 10 {
		cur, rev, err := s.readFence(ctx, sk)
		if err != nil {
			return nil, err
		}
		if cur.Token > fence.Token {
			return nil, fmt.Errorf("%w: %s, the session's state was claimed with token %d", cluster.ErrStaleToken, fence, cur.Token)
		}
		b, _ := json.Marshal(fenceRecord{Token: fence.Token, Batch: "claim." + nats.NewInbox()[len(nats.InboxPrefix):]})
		var ack *jetstream.PubAck
		err = jsbatch.RetryBusy(ctx, func() error {
			pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
			defer cancel()
			ack, err = s.js.Publish(pctx, subjectRoot+fenceKey(sk), b, jetstream.WithExpectLastSequencePerSubject(rev))
			return err
		})
		if jsbatch.IsWrongLastSequence(err) {
			continue // another claim came between: read again
		}
		if err != nil {
			return nil, fmt.Errorf("wamsync: claiming %s: %w", fence, err)
		}
		return &Replica{s: s, fence: fence, key: sk, tenant: tenant, session: session, seq: ack.Sequence, fresh: rev == 0}, nil
	}
	return nil, fmt.Errorf("wamsync: claiming %s: the fence record kept changing", fence)
}

// Purge deletes a session's state from the bucket (the session was deleted) and
// rewrites its fence record, keeping its token: a replica of the session still open is
// refused from then on, and the next claim finds a record, so it restores the (empty)
// state over any local copy a node kept, instead of uploading that copy as a first
// claim does.
func (s *Store) Purge(ctx context.Context, tenant, session string) error {
	k, err := cluster.SessionKey(tenant, session)
	if err != nil {
		return err
	}
	sk := string(k)
	pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	err = s.stream.Purge(pctx, jetstream.WithPurgeSubject(subjectRoot+dataFilter(sk)))
	cancel()
	if err != nil {
		return fmt.Errorf("wamsync: purging %s: %w", k, err)
	}
	for range 10 {
		cur, rev, err := s.readFence(ctx, sk)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(fenceRecord{Token: cur.Token, Batch: "purge." + jsbatch.NewID(), Purged: true})
		err = jsbatch.RetryBusy(ctx, func() error {
			pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
			defer cancel()
			_, err := s.js.Publish(pctx, subjectRoot+fenceKey(sk), b, jetstream.WithExpectLastSequencePerSubject(rev))
			return err
		})
		if !jsbatch.IsWrongLastSequence(err) {
			if err != nil {
				return fmt.Errorf("wamsync: purging %s: %w", k, err)
			}
			return nil
		}
	}
	return fmt.Errorf("wamsync: purging %s: the fence record kept changing", k)
}
