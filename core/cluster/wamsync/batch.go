package wamsync

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/wagate/wagate/core/cluster/jsbatch"
)

// publishBatch publishes msgs as one atomic batch with id (jsbatch.Publish), at most
// Options.MaxBatch messages, and returns the stream sequence of the last message. An
// error is a *jetstream.APIError when the stream refused the batch (it is not stored),
// anything else when the outcome is not known.
func (s *Store) publishBatch(ctx context.Context, id string, msgs []*nats.Msg) (uint64, error) {
	if len(msgs) > s.o.MaxBatch {
		return 0, fmt.Errorf("wamsync: batch of %d messages, more than %d", len(msgs), s.o.MaxBatch)
	}
	seq, err := jsbatch.Publish(ctx, s.nc, id, msgs, s.o.Timeout)
	if err != nil {
		return 0, fmt.Errorf("wamsync: %w", err)
	}
	return seq, nil
}
