package statesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/store"
)

// entry is one bucket revision of a shared key.
type entry struct {
	key    []byte
	value  []byte
	delete bool
	rev    uint64
	absent bool // refresh: the bucket holds no message for the key at all
}

// hdrTxn marks each message of an atomic batch with "<batch id> <index> <count>", so
// that a follower applies a transaction's writes to its mirror in one Badger
// transaction: the bucket's KV entries do not say which writes belong together.
const hdrTxn = "Wagate-Txn"

// entryOf turns a bucket message into an entry; ok is false for keys that are not data
// keys (fences, sync markers) or not of a shared prefix.
func (s *State) entryOf(m jetstream.Msg, rev uint64) (entry, bool, error) {
	key, ok, err := badgerKey(strings.TrimPrefix(m.Subject(), subjectRoot))
	if !ok || err != nil || !s.shared(key) {
		return entry{}, false, err
	}
	op := m.Headers().Get("KV-Operation")
	return entry{key: key, value: m.Data(), rev: rev, delete: op == "DEL" || op == "PURGE"}, true, nil
}

func (s *State) shared(key []byte) bool {
	for _, p := range s.o.Prefixes {
		if len(key) > len(p) && key[len(p)] == '/' && string(key[:len(p)]) == string(p) {
			return true
		}
	}
	return false
}

// apply writes entries to the mirror, each only if it is newer than the revision the
// mirror has for its key. fromFollower: the entries come from the follower, in bucket
// order, so no older revision of their keys can come after them and a deleted key
// needs no tombstone.
func (s *State) apply(entries []entry, fromFollower bool) error {
	s.mu.Lock()
	defer s.unlock()
	return s.applyLocked(entries, fromFollower)
}

// unlock releases s.mu, then tells Options.Applied which keys the mirror took from the
// bucket meanwhile (outside the lock: the callback may write through the store).
func (s *State) unlock() {
	changed := s.changed
	s.changed = nil
	s.mu.Unlock()
	if len(changed) > 0 && s.o.Applied != nil {
		s.o.Applied(changed)
	}
}

func (s *State) applyLocked(entries []entry, fromFollower bool) error {
	for attempt := 0; ; attempt++ {
		err := s.applyOnce(entries, fromFollower)
		if !errors.Is(err, badger.ErrConflict) || attempt == 10 {
			return err
		}
	}
}

func (s *State) applyOnce(entries []entry, fromFollower bool) error {
	bdb := s.db.Badger()
	txn := bdb.NewTransaction(true)
	defer func() { txn.Discard() }()
	var changed [][]byte
	commit := func() error {
		if err := txn.Commit(); err != nil {
			return err
		}
		s.changed = append(s.changed, changed...)
		changed = nil
		return nil
	}
	for _, e := range entries {
		for {
			did, err := applyEntry(txn, e, fromFollower)
			if errors.Is(err, badger.ErrTxnTooBig) {
				if err := commit(); err != nil {
					return err
				}
				txn = bdb.NewTransaction(true)
				continue
			}
			if err != nil {
				return fmt.Errorf("statesync: applying %q at revision %d: %w", e.key, e.rev, err)
			}
			if did {
				changed = append(changed, e.key)
			}
			break
		}
	}
	return commit()
}

// applyEntry writes e into txn if it is newer than the mirror's revision of its key,
// and reports whether the key changed.
func applyEntry(txn *badger.Txn, e entry, fromFollower bool) (bool, error) {
	rk := revKey(e.key)
	if e.absent {
		return true, errors.Join(txn.Delete(e.key), txn.Delete(rk))
	}
	cur, tomb, err := readRev(txn, e.key)
	switch {
	case err != nil:
		return false, err
	case e.rev < cur:
		return false, nil // older than what the mirror has
	case e.rev == cur:
		if fromFollower && tomb && e.delete {
			return false, txn.Delete(rk) // the follower passed the delete: its tombstone can go
		}
		return false, nil
	case e.delete && fromFollower:
		return true, errors.Join(txn.Delete(e.key), txn.Delete(rk))
	case e.delete:
		return true, errors.Join(txn.Delete(e.key), txn.Set(rk, revValue(e.rev, true)))
	}
	return true, errors.Join(txn.Set(e.key, e.value), txn.Set(rk, revValue(e.rev, false)))
}

// feed is an ordered consumer of the whole bucket, last message per key first, then
// every new one, as a channel.
type feed struct {
	it jetstream.MessagesContext
	ch chan jetstream.Msg // closed when the consumer ends
}

func (s *State) subscribe(ctx context.Context) (*feed, error) {
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjectRoot + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("statesync: following %s: %w", Bucket, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("statesync: following %s: %w", Bucket, err)
	}
	f := &feed{it: it, ch: make(chan jetstream.Msg, 256)}
	go func() {
		defer close(f.ch)
		for {
			m, err := it.Next()
			if err != nil {
				return
			}
			f.ch <- m
		}
	}()
	return f, nil
}

func (f *feed) stop() {
	f.it.Stop()
	for range f.ch { // let the reader end
	}
}

// reader turns bucket messages into mirror transactions: the writes of one atomic batch
// (hdrTxn) together, in bucket order.
type reader struct {
	s       *State
	batch   []entry // ready to apply
	group   []entry // an atomic batch not complete yet
	groupID string
	last    uint64 // revision of the last message taken
	pending uint64 // messages left after it
	seen    map[string]bool
}

func (r *reader) take(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		r.s.log.Warn("statesync: skipping a bucket message", "subject", m.Subject(), "err", err)
		return
	}
	r.last, r.pending = md.Sequence.Stream, md.NumPending
	id, i, n := parseTxn(m.Headers().Get(hdrTxn))
	if r.groupID != "" && id != r.groupID {
		// The rest of the group was overwritten before this node read it.
		r.endGroup()
	}
	ent, keep, err := r.s.entryOf(m, md.Sequence.Stream)
	if err != nil {
		r.s.log.Warn("statesync: skipping a bucket key", "subject", m.Subject(), "err", err)
	}
	if keep && r.seen != nil && !ent.delete {
		r.seen[string(ent.key)] = true
	}
	switch {
	case id == "":
		if keep {
			r.batch = append(r.batch, ent)
		}
	default:
		r.groupID = id
		if keep {
			r.group = append(r.group, ent)
		}
		if i == n-1 {
			r.endGroup()
		}
	}
	if r.pending == 0 && r.groupID != "" {
		r.endGroup()
	}
}

func (r *reader) endGroup() {
	r.batch = append(r.batch, r.group...)
	r.group, r.groupID = r.group[:0], ""
}

// flush applies the complete part.
func (r *reader) flush() error {
	if err := r.s.apply(r.batch, true); err != nil {
		return err
	}
	r.batch = r.batch[:0]
	r.s.advance(r.last)
	return nil
}

// next reads what has arrived and applies it: it blocks for the first message, and
// for more while an atomic batch is incomplete.
func (r *reader) next(ctx context.Context, f *feed) error {
	select {
	case m, ok := <-f.ch:
		if !ok {
			return errors.New("statesync: the bucket's consumer ended")
		}
		r.take(m)
	case <-ctx.Done():
		return ctx.Err()
	}
	for len(r.batch) < 512 || r.groupID != "" {
		if r.groupID != "" {
			select {
			case m, ok := <-f.ch:
				if !ok {
					return errors.New("statesync: the bucket's consumer ended")
				}
				r.take(m)
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		select {
		case m, ok := <-f.ch:
			if !ok {
				return r.flush()
			}
			r.take(m)
			continue
		default:
		}
		break
	}
	return r.flush()
}

func parseTxn(h string) (id string, i, n int) {
	if h == "" {
		return "", 0, 0
	}
	if _, err := fmt.Sscanf(h, "%s %d %d", &id, &i, &n); err != nil || n <= 0 {
		return "", 0, 0
	}
	return id, i, n
}

// hydrate subscribes to the bucket (the consumer lives as long as fctx) and applies its
// current content to the mirror; then it deletes the local shared keys, and the
// revision records, that the bucket lacks, marks the State ready, and returns the feed
// and its reader for follow to go on with.
func (s *State) hydrate(ctx, fctx context.Context) (*feed, *reader, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("statesync: hydrating: %w", err)
	}
	f, err := s.subscribe(fctx)
	if err != nil {
		return nil, nil, err
	}
	r := &reader{s: s, seen: map[string]bool{}}
	if info.State.Msgs > 0 {
		for r.pending > 0 || r.last == 0 {
			if err := r.next(ctx, f); err != nil {
				f.stop()
				return nil, nil, fmt.Errorf("statesync: hydrating: %w", err)
			}
		}
	}
	s.mu.Lock()
	defer s.unlock()
	if err := s.removeAbsent(r.seen); err != nil {
		f.stop()
		return nil, nil, err
	}
	r.seen = nil
	s.ready = true
	return f, r, nil
}

// removeAbsent deletes the local keys of the shared prefixes that are not in seen, and
// the revision records of keys not in seen.
func (s *State) removeAbsent(seen map[string]bool) error {
	prefixes := [][]byte{[]byte(string(store.PrefixRevision) + "/")}
	for _, p := range s.o.Prefixes {
		prefixes = append(prefixes, []byte(string(p)+"/"))
	}
	for i, prefix := range prefixes {
		var gone [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				k := it.Item().Key()
				data := k
				if i == 0 {
					data = bytes.TrimPrefix(k, prefix)
				}
				if !seen[string(data)] {
					gone = append(gone, it.Item().KeyCopy(nil))
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("statesync: hydrating: %w", err)
		}
		if err := deleteKeys(s.db.Badger(), gone); err != nil {
			return fmt.Errorf("statesync: hydrating: removing %d keys under %s: %w", len(gone), prefix, err)
		}
		if i > 0 {
			s.changed = append(s.changed, gone...)
		}
	}
	return nil
}

func deleteKeys(bdb *badger.DB, keys [][]byte) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := bdb.Update(func(txn *badger.Txn) error {
			for _, k := range keys[:n] {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (s *State) advance(rev uint64) {
	s.posMu.Lock()
	defer s.posMu.Unlock()
	if rev > s.pos {
		s.pos = rev
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
}

// follow applies the bucket's changes to the mirror as they come. If the consumer ends
// (not by Close), shared writes are refused until the mirror has been hydrated again.
func (s *State) follow(ctx context.Context, f *feed, r *reader) {
	defer close(s.done)
	for {
		var err error
		for err == nil {
			err = r.next(ctx, f)
		}
		f.stop()
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		s.ready = false
		s.mu.Unlock()
		s.log.Warn("statesync: following the bucket stopped; hydrating again", "err", err)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			hctx, cancel := context.WithTimeout(ctx, time.Minute)
			f, r, err = s.hydrate(hctx, ctx)
			cancel()
			if err == nil {
				break
			}
			s.log.Warn("statesync: hydrating", "err", err)
		}
	}
}

// refresh fetches the bucket's current revision of each key and applies it to the
// mirror (s.mu held): what a commit does after its expectation failed.
func (s *State) refresh(ctx context.Context, keys [][]byte) error {
	var entries []entry
	for _, k := range keys {
		pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		m, err := s.stream.GetLastMsgForSubject(pctx, subjectRoot+dataKey(k))
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			entries = append(entries, entry{key: k, absent: true})
			continue
		case err != nil:
			return fmt.Errorf("statesync: reading %q: %w", k, err)
		}
		op := m.Header.Get("KV-Operation")
		entries = append(entries, entry{key: k, value: m.Data, rev: m.Sequence, delete: op == "DEL" || op == "PURGE"})
	}
	return s.applyLocked(entries, false)
}
