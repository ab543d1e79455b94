package wamsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/jsbatch"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

// Replica is one session's state in the bucket, written by the owner of one fence: the
// session's wastore.Replicator. It is safe for concurrent use; wastore serializes a
// session's transactions anyway.
type Replica struct {
	s               *Store
	fence           cluster.Fence
	key             string // the session key, <tenant>.<session>
	tenant, session string

	mu sync.Mutex
	// fresh: the session had no fence record when claimed, so the bucket has never held
	// its state; Hydrate uploads the local copy instead of restoring.
	fresh bool
	// seq is the revision of the fence record this replica last wrote: every batch
	// expects it, so a batch after another owner's claim is refused.
	seq uint64
	// err, once set, refuses every write: closed, fenced out, or outcome unknown.
	err error
}

var _ wastore.Replicator = (*Replica)(nil)

// Fence is the fence the replica writes under.
func (r *Replica) Fence() cluster.Fence { return r.fence }

// Close refuses every later write with ErrClosed. Call it when the session stops.
func (r *Replica) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = ErrClosed
	}
}

// HydrateStats says what Hydrate did.
type HydrateStats struct {
	// Written and Deleted count the local keys Hydrate rewrote and deleted.
	Written, Deleted int
	// Uploaded counts the local keys it wrote to the bucket: a first claim of the session.
	Uploaded int
}

// Hydrate makes the session's local whatsmeow state in db and the bucket's copy equal,
// before the session starts: call it after Claim, before registering the replica.
//
// Normally the bucket's copy wins (wastore.Restore): keys missing or different locally
// are written, local keys the bucket lacks are deleted. On the first claim of a session
// ever (no fence record existed: the bucket never held its state, as when cluster mode
// is turned on over a node's existing data), the local copy is uploaded instead.
func (r *Replica) Hydrate(ctx context.Context, db *store.DB) (HydrateStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return HydrateStats{}, r.err
	}
	if r.fresh {
		n, err := r.upload(ctx, db)
		if err != nil {
			return HydrateStats{}, err
		}
		r.fresh = false
		return HydrateStats{Uploaded: n}, nil
	}
	w, err := r.s.kv.WatchFiltered(ctx, []string{dataFilter(r.key)}, jetstream.IgnoreDeletes())
	if err != nil {
		return HydrateStats{}, fmt.Errorf("wamsync: reading %s: %w", r.key, err)
	}
	defer w.Stop()
	want := map[string][]byte{}
	for done := false; !done; {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return HydrateStats{}, fmt.Errorf("wamsync: reading %s: watch ended", r.key)
			}
			if e == nil { // every current key delivered
				done = true
				break
			}
			rest, err := restOf(r.key, e.Key())
			if err != nil {
				return HydrateStats{}, err
			}
			want[string(rest)] = e.Value()
		case <-ctx.Done():
			return HydrateStats{}, fmt.Errorf("wamsync: reading %s: %w", r.key, ctx.Err())
		}
	}
	written, deleted, err := wastore.Restore(ctx, db, r.tenant, r.session, want)
	return HydrateStats{Written: written, Deleted: deleted}, err
}

// upload writes every local key of the session to the bucket.
func (r *Replica) upload(ctx context.Context, db *store.DB) (int, error) {
	prefix := wastore.SessionPrefix(r.tenant, r.session)
	var writes []wastore.Write
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			writes = append(writes, wastore.Write{Key: it.Item().KeyCopy(nil), Value: v})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("wamsync: reading the local copy of %s: %w", r.key, err)
	}
	n, err := r.replicate(ctx, writes)
	if err != nil {
		return max(n, 0), fmt.Errorf("wamsync: uploading the local copy of %s: %w", r.key, err)
	}
	return n, nil
}

// Replicate writes writes (the writes of one wastore transaction of the session) to the
// bucket, and reports how many of them the bucket holds (see wastore.Replicator): one
// write as one message, stored only while the fence record is at the revision this
// replica last wrote; more as atomic batches of at most MaxBatch-1 writes ending with
// the fence record, rewritten.
func (r *Replica) Replicate(ctx context.Context, writes []wastore.Write) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.replicate(ctx, writes)
}

// replicate is Replicate, with r.mu held.
func (r *Replica) replicate(ctx context.Context, writes []wastore.Write) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	prefix := wastore.SessionPrefix(r.tenant, r.session)
	per := r.s.o.MaxBatch - 1
	done := 0
	for done < len(writes) {
		chunk := writes[done:min(done+per, len(writes))]
		msgs := make([]*nats.Msg, 0, len(chunk)+1)
		for _, w := range chunk {
			rest, ok := bytes.CutPrefix(w.Key, prefix)
			if !ok || len(rest) == 0 {
				return done, fmt.Errorf("wamsync: key %q is not a key of %s", w.Key, r.key)
			}
			m := &nats.Msg{Subject: subjectRoot + dataKey(r.key, rest), Header: nats.Header{}}
			if w.Delete {
				m.Header.Set("KV-Operation", "DEL")
				m.Header.Set(jetstream.MsgTTLHeader, deleteTTL)
			} else {
				m.Data = w.Value
			}
			msgs = append(msgs, m)
		}
		commit := r.commitBatch
		if len(msgs) == 1 {
			commit = r.commitOne
		}
		if err := commit(ctx, msgs); err != nil {
			switch {
			case errors.Is(err, ErrUnknownOutcome):
				r.err = err
				return -1, err
			case errors.Is(err, cluster.ErrStaleToken):
				r.err = err
			}
			return done, err
		}
		done += len(chunk)
	}
	return done, nil
}

// hdrWrite carries the id of a single-message write, so that resolve can tell whether
// it landed.
const hdrWrite = "Wagate-Write"

// commitOne publishes msgs[0], one write, as one message that the stream stores only
// if the fence record is still at the revision this replica last wrote
// (Nats-Expected-Last-Subject-Sequence with -Subject: the check is on the fence
// record, which the message does not write). Cheaper than a batch: no staging.
func (r *Replica) commitOne(ctx context.Context, msgs []*nats.Msg) error {
	m, id := msgs[0], jsbatch.NewID()
	m.Header.Set(hdrWrite, id)
	err := jsbatch.RetryBusy(ctx, func() error {
		pctx, cancel := context.WithTimeout(ctx, r.s.o.Timeout)
		defer cancel()
		_, err := r.s.js.PublishMsg(pctx, m, jetstream.WithExpectLastSequenceForSubject(r.seq, subjectRoot+fenceKey(r.key)))
		return err
	})
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case jsbatch.IsWrongLastSequence(err):
		return r.resolve(ctx, id, m.Subject, err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("wamsync: write for %s refused: %w", r.fence, err)
	}
	return r.resolve(ctx, id, m.Subject, err)
}

// commitBatch publishes msgs and the fence record as one atomic batch that the stream
// stores only if the fence record is still at the revision this replica last wrote.
func (r *Replica) commitBatch(ctx context.Context, msgs []*nats.Msg) error {
	var id string
	var seq uint64
	err := jsbatch.RetryBusy(ctx, func() error {
		id = jsbatch.NewID()
		b, _ := json.Marshal(fenceRecord{Token: r.fence.Token, Batch: id})
		f := &nats.Msg{Subject: subjectRoot + fenceKey(r.key), Header: nats.Header{}, Data: b}
		f.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(r.seq, 10))
		for _, m := range msgs {
			m.Header.Del(jsbatch.HeaderCommit)
		}
		var err error
		seq, err = r.s.publishBatch(ctx, id, append(msgs[:len(msgs):len(msgs)], f))
		return err
	})
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		r.seq = seq
		return nil
	case jsbatch.IsWrongLastSequence(err):
		return r.resolve(ctx, id, "", err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("wamsync: batch for %s refused: %w", r.fence, err)
	}
	return r.resolve(ctx, id, "", err)
}

// resolve finds out what became of write id (a batch, or the single message on subj)
// after cause, when the stream's answer did not say (a lost acknowledgement, a refused
// fence revision). First it writes a barrier: the fence record, rewritten under the
// revision the write expected. If that succeeds, no write expecting that revision can
// land any more: a batch (which rewrites the fence) had not landed, and a single
// message landed if its subject's last message is it. If the fence record had moved, it
// says the rest: the batch landed, a newer owner claimed the session
// (cluster.ErrStaleToken), or nobody can tell (ErrUnknownOutcome). It returns nil when
// the write landed, cause when it did not.
func (r *Replica) resolve(ctx context.Context, id, subj string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.s.o.Timeout)
	defer cancel()
	notWritten := fmt.Errorf("wamsync: write for %s not stored: %w", r.fence, cause)
	b, _ := json.Marshal(fenceRecord{Token: r.fence.Token, Batch: "barrier." + jsbatch.NewID()})
	var ack *jetstream.PubAck
	err := jsbatch.RetryBusy(ctx, func() error {
		var err error
		ack, err = r.s.js.Publish(ctx, subjectRoot+fenceKey(r.key), b, jetstream.WithExpectLastSequencePerSubject(r.seq))
		return err
	})
	if err == nil {
		r.seq = ack.Sequence
		if subj == "" {
			return notWritten
		}
		last, err := r.s.stream.GetLastMsgForSubject(ctx, subj)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return notWritten
		case err != nil:
			return fmt.Errorf("%w: %w; reading %s: %w", ErrUnknownOutcome, cause, subj, err)
		case last.Header.Get(hdrWrite) == id:
			return nil
		}
		return notWritten
	}
	if !jsbatch.IsWrongLastSequence(err) {
		return fmt.Errorf("%w: %w; fencing the write out: %w", ErrUnknownOutcome, cause, err)
	}
	cur, rev, err := r.s.readFence(ctx, r.key)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w; reading the fence: %w", ErrUnknownOutcome, cause, err)
	case subj == "" && cur.Batch == id:
		r.seq = rev
		return nil
	case cur.Purged:
		return fmt.Errorf("%w: %s: the session's state was purged", cluster.ErrStaleToken, r.fence)
	case cur.Token != r.fence.Token:
		return fmt.Errorf("%w: %s, the session's state is now written with token %d (0: purged)", cluster.ErrStaleToken, r.fence, cur.Token)
	}
	return fmt.Errorf("%w: %w; the fence moved to revision %d under the same token", ErrUnknownOutcome, cause, rev)
}
