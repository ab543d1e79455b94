package statesync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/jsbatch"
	"github.com/wagate/wagate/core/store"
)

// hook is the State as the store's commit hook.
type hook State

var _ store.CommitHook = (*hook)(nil)

// Commit publishes the transaction's shared writes, then commits it locally with their
// new revisions (the contract in the package documentation). It runs with s.mu held
// from the first publish to the local commit.
func (h *hook) Commit(txn *badger.Txn, writes []store.Write) error {
	s := (*State)(h)
	s.mu.Lock()
	defer s.unlock()
	switch {
	case s.closed:
		return ErrClosed
	case !s.ready:
		return ErrNotReady
	}
	ctx := context.Background()
	msgs := make([]*nats.Msg, len(writes))
	var fenced []cluster.Key
	for i, w := range writes {
		rev, _, err := readRev(txn, w.Key)
		if err != nil {
			return fmt.Errorf("statesync: reading the revision of %q: %w", w.Key, err)
		}
		m := &nats.Msg{Subject: subjectRoot + dataKey(w.Key), Header: nats.Header{}}
		if w.Delete {
			m.Header.Set("KV-Operation", "DEL")
			m.Header.Set(jetstream.MsgTTLHeader, deleteTTL)
		} else {
			m.Data = w.Value
		}
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
		msgs[i] = m
		if k, ok := s.o.FenceOf(w.Key); ok && s.fences[k] != nil && !slices.Contains(fenced, k) {
			if err := s.fences[k].stale; err != nil {
				return err
			}
			fenced = append(fenced, k)
		}
	}
	slices.Sort(fenced)
	revs := make([]uint64, len(writes))
	per := s.o.MaxBatch - len(fenced)
	for done := 0; done < len(writes); {
		n := min(per, len(writes)-done)
		err := s.publish(ctx, msgs[done:done+n], fenced, revs[done:done+n])
		if err != nil {
			if done > 0 {
				// Earlier batches landed: the mirror takes them, so that it still holds
				// nothing the bucket lacks and everything this node wrote.
				if aerr := s.applyLocked(entriesOf(writes[:done], revs[:done]), false); aerr != nil {
					err = errors.Join(err, aerr)
				}
			}
			if errors.Is(err, errRefused) {
				keys := make([][]byte, n)
				for i, w := range writes[done : done+n] {
					keys[i] = append([]byte(nil), w.Key...) // Applied may keep it
				}
				if rerr := s.refresh(ctx, keys); rerr != nil {
					return errors.Join(ErrConflict, rerr)
				}
				return ErrConflict
			}
			return err
		}
		done += n
	}
	// The transaction's writes and the new revisions: what the mirror must hold now.
	all := store.PendingWrites(txn)
	for i, w := range writes {
		all = append(all, store.Write{Key: revKey(w.Key), Value: revValue(revs[i], w.Delete)})
	}
	for _, w := range all[len(all)-len(writes):] {
		if err := txn.Set(w.Key, w.Value); err != nil {
			return s.forceWrites(all, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return s.forceWrites(all, err)
	}
	return nil
}

// forceWrites commits writes as they are, after the bucket took the transaction's
// shared writes but its local commit failed (cause): a conflict, because a key it read
// changed since (a key it only read: the ones it wrote were checked by the bucket), or a
// transaction too big once the revisions were added. The transaction happened in the
// shared state, so it happens in the mirror too.
func (s *State) forceWrites(writes []store.Write, cause error) error {
	bdb := s.db.Badger()
	for len(writes) > 0 {
		txn := bdb.NewTransaction(true)
		n := 0
		for _, w := range writes {
			var err error
			if w.Delete {
				err = txn.Delete(w.Key)
			} else {
				err = txn.Set(w.Key, w.Value)
			}
			if errors.Is(err, badger.ErrTxnTooBig) && n > 0 {
				break
			}
			if err != nil {
				txn.Discard()
				return fmt.Errorf("statesync: committing locally after %v: %w", cause, err)
			}
			n++
		}
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("statesync: committing locally after %v: %w", cause, err)
		}
		writes = writes[n:]
	}
	return nil
}

func entriesOf(writes []store.Write, revs []uint64) []entry {
	out := make([]entry, len(writes))
	for i, w := range writes {
		out[i] = entry{key: append([]byte(nil), w.Key...), value: w.Value, delete: w.Delete, rev: revs[i]}
	}
	return out
}

// errRefused marks a publish refused because an expected revision did not hold.
var errRefused = errors.New("statesync: expected revision did not hold")

// publish stores msgs (and a rewrite of each fenced session's fence record) in the
// bucket, all or none, and fills revs with the revisions msgs got. One message without
// fence is a plain publish; anything else an atomic batch. It returns an error wrapping
// errRefused when an expectation failed, cluster.ErrStaleToken when the reason was a
// newer owner's claim, ErrUnknownOutcome when the answer was lost.
func (s *State) publish(ctx context.Context, msgs []*nats.Msg, fenced []cluster.Key, revs []uint64) error {
	if len(msgs) == 1 && len(fenced) == 0 {
		var ack *jetstream.PubAck
		err := jsbatch.RetryBusy(ctx, func() error {
			pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
			defer cancel()
			var err error
			ack, err = s.js.PublishMsg(pctx, msgs[0])
			return err
		})
		if err != nil {
			return s.failed(ctx, err, nil)
		}
		revs[0] = ack.Sequence
		return nil
	}
	all := slices.Clip(msgs)
	for _, k := range fenced {
		f := &nats.Msg{Subject: subjectRoot + "f." + string(k), Header: nats.Header{}, Data: fenceValue(s.fences[k].token)}
		f.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(s.fences[k].seq, 10))
		all = append(all, f)
	}
	var last uint64
	err := jsbatch.RetryBusy(ctx, func() error {
		id := jsbatch.NewID()
		for i, m := range all {
			m.Header.Set(hdrTxn, fmt.Sprintf("%s %d %d", id, i, len(all)))
		}
		var err error
		last, err = s.publishBatch(ctx, id, all)
		return err
	})
	if err != nil {
		return s.failed(ctx, err, fenced)
	}
	// A batch is stored as consecutive messages: the last one got last.
	first := last - uint64(len(all)-1)
	for i := range msgs {
		revs[i] = first + uint64(i)
	}
	for j, k := range fenced {
		s.fences[k].seq = first + uint64(len(msgs)+j)
	}
	return nil
}

// failed classifies a publish error.
func (s *State) failed(ctx context.Context, err error, fenced []cluster.Key) error {
	var apiErr *jetstream.APIError
	switch {
	case jsbatch.IsWrongLastSequence(err):
		// A data key or a fence record moved. A newer token on a fence record means this
		// node lost the session: refuse this and every later fenced write.
		for _, k := range fenced {
			token, rev, ferr := s.readFence(ctx, "f."+string(k))
			if ferr != nil {
				return fmt.Errorf("%w: %w", ErrUnknownOutcome, ferr)
			}
			f := s.fences[k]
			if token > f.token {
				f.stale = fmt.Errorf("%w: %s@%d, the session's state is written with token %d", cluster.ErrStaleToken, k, f.token, token)
				return f.stale
			}
			f.seq = rev // the same token: a write of ours whose answer was lost landed
		}
		return fmt.Errorf("%w: %w", errRefused, err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("statesync: write refused: %w", err)
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
		// Never stored: too big for the server, or no stream to take it.
		return fmt.Errorf("statesync: write not stored: %w", err)
	}
	return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
}

// publishBatch publishes msgs as one atomic batch (jsbatch.Publish): all of it stored, as
// consecutive messages, or none of it.
func (s *State) publishBatch(ctx context.Context, id string, msgs []*nats.Msg) (uint64, error) {
	seq, err := jsbatch.Publish(ctx, s.nc, id, msgs, s.o.Timeout)
	if err != nil {
		return 0, fmt.Errorf("statesync: %w", err)
	}
	return seq, nil
}
