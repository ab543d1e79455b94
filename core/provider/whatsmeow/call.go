package whatsmeow

import "context"

// bounded runs f and returns its result, or ctx's error as soon as ctx ends, whichever
// comes first. When ctx wins, f goes on in the background until it returns (f should
// take ctx itself where it can, so that it returns soon after); its result is dropped.
//
// whatsmeow calls take a context but may first wait on the client's locks without it
// (a send behind another send, a disconnect behind a connect): bounded is what makes
// every provider call honour its deadline.
func bounded[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if err := ctxDone(ctx); err != nil {
		var zero T
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// boundedDo is bounded for a call without result.
func boundedDo(ctx context.Context, f func() error) error {
	_, err := bounded(ctx, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// ctxDone returns ctx's error if it has ended, without blocking.
func ctxDone(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}
