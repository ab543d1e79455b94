package statesync

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/wagate/wagate/core/cluster/jsbatch"
)

// seedKey is the bucket's seed record: written once, by the node that seeded it.
const seedKey = "i.seed"

// seed uploads the local shared keys if this node is the first to start on the bucket:
// it creates the seed record (expecting none), then publishes every local key of the
// shared prefixes, in atomic batches, each expecting the key to be absent.
func (s *State) seed(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	_, err := s.js.Publish(pctx, subjectRoot+seedKey, fmt.Appendf(nil, `{"node":%q}`, s.node), jetstream.WithExpectLastSequencePerSubject(0))
	cancel()
	if jsbatch.IsWrongLastSequence(err) {
		return nil // seeded before
	}
	if err != nil {
		return fmt.Errorf("statesync: creating the seed record: %w", err)
	}
	var msgs []*nats.Msg
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		var err error
		if len(msgs) == 1 {
			pctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
			_, err = s.js.PublishMsg(pctx, msgs[0])
			cancel()
		} else {
			_, err = s.publishBatch(ctx, jsbatch.NewID(), msgs)
		}
		if err != nil {
			return fmt.Errorf("statesync: seeding the bucket: %w", err)
		}
		msgs = msgs[:0]
		return nil
	}
	for _, p := range s.o.Prefixes {
		prefix := []byte(string(p) + "/")
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				m := &nats.Msg{Subject: subjectRoot + dataKey(it.Item().Key()), Header: nats.Header{}, Data: v}
				m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.Itoa(0))
				if msgs = append(msgs, m); len(msgs) == s.o.MaxBatch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return flush()
}
