// Package jsbatch is what core/cluster/wamsync and core/cluster/statesync share to write
// a KV bucket's stream in atomic batches: JetStream's atomic batch publish (nats-server
// 2.12+, ADR-50), which nats.go v1.56.0 does not wrap, the retry of the refusals after
// which nothing was stored, and the bucket stream both open.
//
// Every message of a batch carries Nats-Batch-Id and its Nats-Batch-Sequence (1, 2, ...);
// the last also Nats-Batch-Commit: 1, and only its acknowledgement comes back. The stream
// stages the batch, runs every message's checks (Nats-Expected-Last-Subject-Sequence
// included) at the commit, and stores all of it or none of it. A message lost on the way
// leaves a gap the commit refuses.
package jsbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a batch's messages.
const (
	HeaderID     = "Nats-Batch-Id"
	HeaderSeq    = "Nats-Batch-Sequence"
	HeaderCommit = "Nats-Batch-Commit"
)

// JetStream error codes of atomic batches (nats-server's jetstream_errors_generated.go)
// after which a batch is known not to be stored and can be sent again.
const (
	ErrCodeIncompleteBatch jetstream.ErrorCode = 10176 // a message went missing
	ErrCodeTooManyInflight jetstream.ErrorCode = 10210 // max_batch_inflight_per_stream
)

// MaxIDLen is the longest batch id the server takes.
const MaxIDLen = 64

// ack is the acknowledgement of a batch's commit.
type ack struct {
	Error *jetstream.APIError `json:"error,omitempty"`
	Seq   uint64              `json:"seq"`
	Batch string              `json:"batch"`
	Count int                 `json:"count"`
}

// NewID returns a random batch id (a NUID, 22 characters).
func NewID() string { return nats.NewInbox()[len(nats.InboxPrefix):] }

// Publish publishes msgs as one atomic batch with id and returns the stream sequence of
// the last message, waiting at most timeout for the acknowledgement. An error is a
// *jetstream.APIError when the stream refused the batch (it is not stored), anything
// else when the outcome is not known. msgs may be published again with another id.
func Publish(ctx context.Context, nc *nats.Conn, id string, msgs []*nats.Msg, timeout time.Duration) (uint64, error) {
	if len(id) > MaxIDLen || len(msgs) == 0 {
		return 0, fmt.Errorf("jsbatch: bad batch (%d messages, id %q)", len(msgs), id)
	}
	for i, m := range msgs {
		m.Header.Set(HeaderID, id)
		m.Header.Set(HeaderSeq, strconv.Itoa(i+1))
		m.Header.Del(HeaderCommit)
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return 0, fmt.Errorf("jsbatch: publishing batch %s: %w", id, err)
			}
		}
	}
	last := msgs[len(msgs)-1]
	last.Header.Set(HeaderCommit, "1")
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		return 0, fmt.Errorf("jsbatch: committing batch %s: %w", id, err)
	}
	var a ack
	if err := json.Unmarshal(resp.Data, &a); err != nil {
		return 0, fmt.Errorf("jsbatch: committing batch %s: bad acknowledgement %q: %w", id, resp.Data, err)
	}
	if a.Error != nil {
		return 0, a.Error
	}
	if a.Batch != id || a.Count != len(msgs) {
		return 0, fmt.Errorf("jsbatch: committing batch %s: acknowledgement of batch %q with %d messages", id, a.Batch, a.Count)
	}
	return a.Seq, nil
}

// IsWrongLastSequence reports a refused compare-and-set: the subject is not at the
// expected sequence.
func IsWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// busyCodes are refusals after which nothing was stored and the same publish can be
// sent again: on a replicated stream, a compare-and-set on a subject with a proposal
// still being applied (10164, which says nothing about the sequence); a batch beyond
// max_batch_inflight_per_stream; a batch that lost a message on the way.
var busyCodes = []jetstream.ErrorCode{jetstream.JSErrCodeStreamWrongLastSequenceConstant, ErrCodeTooManyInflight, ErrCodeIncompleteBatch}

// RetryBusy runs publish until it returns anything but a busy refusal, at most 8 times,
// pausing 1 ms, 2 ms, 4 ms ... in between; it returns the last error.
func RetryBusy(ctx context.Context, publish func() error) error {
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := publish()
		var apiErr *jetstream.APIError
		if attempt == 8 || !errors.As(err, &apiErr) || !slices.Contains(busyCodes, apiErr.ErrorCode) {
			return err
		}
		select {
		case <-time.After(backoff):
			backoff *= 2
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		}
	}
}

// OpenBucket creates (or updates) the stream of KV bucket bucket — one value per key,
// atomic batch publish and per-message TTLs on, deletes denied (a delete is a marker,
// rollups allowed), direct gets off so that reads go to the stream leader and see every
// acknowledged batch — and binds the bucket.
func OpenBucket(ctx context.Context, js jetstream.JetStream, bucket, description string, replicas int) (jetstream.Stream, jetstream.KeyValue, error) {
	cfg := jetstream.StreamConfig{
		Name:               "KV_" + bucket,
		Description:        description,
		Subjects:           []string{"$KV." + bucket + ".>"},
		MaxMsgsPerSubject:  1,
		MaxBytes:           -1,
		MaxMsgSize:         -1,
		MaxMsgs:            -1,
		MaxConsumers:       -1,
		Storage:            jetstream.FileStorage,
		Replicas:           replicas,
		Discard:            jetstream.DiscardNew,
		AllowRollup:        true,
		DenyDelete:         true,
		Duplicates:         2 * time.Minute,
		AllowMsgTTL:        true,
		AllowAtomicPublish: true,
	}
	stream, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("creating stream %s: %w", cfg.Name, err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, nil, fmt.Errorf("binding bucket %s: %w", bucket, err)
	}
	return stream, kv, nil
}
