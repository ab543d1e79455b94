package wamsync

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream's atomic batch publish (nats-server 2.12+, ADR-50), which nats.go v1.56.0
// does not wrap: every message of a batch carries Nats-Batch-Id and its
// Nats-Batch-Sequence (1, 2, ...); the last also Nats-Batch-Commit: 1, and only its
// acknowledgement comes back. The stream stages the batch, runs every message's checks
// (Nats-Expected-Last-Subject-Sequence included) at the commit, and stores all of it or
// none of it. A message lost on the way leaves a gap the commit refuses.
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"
)

// JetStream error codes of atomic batches (nats-server's jetstream_errors_generated.go)
// after which a batch is known not to be stored and can be sent again.
const (
	errCodeIncompleteBatch jetstream.ErrorCode = 10176 // a message went missing
	errCodeTooManyInflight jetstream.ErrorCode = 10210 // max_batch_inflight_per_stream
	maxBatchIDLen                              = 64
)

// batchAck is the acknowledgement of a batch's commit.
type batchAck struct {
	Error *jetstream.APIError `json:"error,omitempty"`
	Seq   uint64              `json:"seq"`
	Batch string              `json:"batch"`
	Count int                 `json:"count"`
}

// newBatchID returns a random batch id (a NUID, 22 characters).
func newBatchID() string { return nats.NewInbox()[len(nats.InboxPrefix):] }

// publishBatch publishes msgs as one atomic batch with id and returns the stream
// sequence of the last message. An error is a *jetstream.APIError when the stream
// refused the batch (it is not stored), anything else when the outcome is not known.
func (s *Store) publishBatch(ctx context.Context, id string, msgs []*nats.Msg) (uint64, error) {
	if len(id) > maxBatchIDLen || len(msgs) == 0 || len(msgs) > s.o.MaxBatch {
		return 0, fmt.Errorf("wamsync: bad batch (%d messages, id %q)", len(msgs), id)
	}
	for i, m := range msgs {
		m.Header.Set(hdrBatchID, id)
		m.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("wamsync: publishing batch %s: %w", id, err)
			}
		}
	}
	last := msgs[len(msgs)-1]
	last.Header.Set(hdrBatchCommit, "1")
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	resp, err := s.nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		return 0, fmt.Errorf("wamsync: committing batch %s: %w", id, err)
	}
	var ack batchAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, fmt.Errorf("wamsync: committing batch %s: bad acknowledgement %q: %w", id, resp.Data, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Batch != id || ack.Count != len(msgs) {
		return 0, fmt.Errorf("wamsync: committing batch %s: acknowledgement of batch %q with %d messages", id, ack.Batch, ack.Count)
	}
	return ack.Seq, nil
}
