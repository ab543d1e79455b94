package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/core/provider"
)

// The timeout handler. Every provider call the manager makes (start, stop, logout,
// send, ping, pairing code, webhook, media download) goes through callProvider, which
// runs it under a deadline and in a goroutine of its own. A provider that honours its
// context returns at the deadline and its own error is returned; one that does not is
// abandoned callGrace after the deadline: the caller gets ErrProviderHung (wrapping
// context.DeadlineExceeded) and goes on, while the stuck goroutine is counted in
// wagate_session_provider_calls_stuck until it returns. So no provider can hang an API
// request, a session's lifecycle, the dispatcher or shutdown.

// ErrProviderHung: a provider call did not return even after its deadline had passed;
// it was abandoned. It wraps context.DeadlineExceeded.
var ErrProviderHung = errors.New("provider call did not return after its deadline")

// defaultCallGrace is how long past its deadline a provider call may take to return
// its own answer before it is abandoned.
const defaultCallGrace = time.Second

// Provider call names, the op label of the timeout metrics.
const (
	opStart    = "start"
	opStop     = "stop"
	opLogout   = "logout"
	opSend     = "send"
	opPing     = "ping"
	opPairCode = "pairing_code"
	opWebhook  = "webhook"
	opDownload = "download"
)

// callOps lists the op labels, so that every series exists from the first scrape.
// Capability calls (session.Call) are labelled by capability name (provider.Capabilities).
var callOps = append([]string{opStart, opStop, opLogout, opSend, opPing, opPairCode, opWebhook, opDownload}, provider.Capabilities...)

// call states of one callProvider run.
const (
	callRunning int32 = iota
	callReturned
	callAbandoned
)

type callResult[T any] struct {
	v   T
	err error
}

// callProvider runs fn under a deadline of d (real time) below ctx. It returns fn's
// result, or ErrProviderHung when fn had not returned callGrace after ctx ended.
// Timeouts (fn's error is the deadline's, or fn was abandoned) are counted under op.
func callProvider[T any](m *Manager, ctx context.Context, op string, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	ch := make(chan callResult[T], 1)
	var state atomic.Int32
	go func() {
		v, err := fn(cctx)
		ch <- callResult[T]{v, err}
		if !state.CompareAndSwap(callRunning, callReturned) {
			m.metrics.stuck.Add(-1) // it was abandoned; it has returned now
		}
	}()
	timedOut := func(err error) bool {
		// Our deadline, not the caller's: a caller that went away is not the provider's fault.
		return errors.Is(err, context.DeadlineExceeded) && cctx.Err() != nil && ctx.Err() == nil
	}
	select {
	case r := <-ch:
		if timedOut(r.err) {
			m.metrics.callTimeouts.WithLabelValues(op).Inc()
		}
		return r.v, r.err
	case <-cctx.Done():
	}
	grace := time.NewTimer(m.callGrace)
	defer grace.Stop()
	select {
	case r := <-ch:
		if r.err != nil && ctx.Err() == nil {
			m.metrics.callTimeouts.WithLabelValues(op).Inc()
		}
		return r.v, r.err
	case <-grace.C:
	}
	if !state.CompareAndSwap(callRunning, callAbandoned) {
		r := <-ch // it returned just now
		return r.v, r.err
	}
	m.metrics.stuck.Add(1)
	m.metrics.callAbandoned.WithLabelValues(op).Inc()
	if ctx.Err() == nil {
		m.metrics.callTimeouts.WithLabelValues(op).Inc()
	}
	var zero T
	return zero, fmt.Errorf("%w: %s abandoned %s past its deadline: %w", ErrProviderHung, op, m.callGrace, cctx.Err())
}

// callProviderErr is callProvider for calls that return only an error.
func callProviderErr(m *Manager, ctx context.Context, op string, d time.Duration, fn func(context.Context) error) error {
	_, err := callProvider(m, ctx, op, d, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}
