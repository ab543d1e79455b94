package policy

import (
	"context"
	"fmt"
	"time"
)

// WithBudget is how a host bounds a call: ctx as is when it has a deadline (a chain's
// call always has), else ctx with def as its budget (a direct caller forgot one).
func WithBudget(ctx context.Context, def time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, def)
}

// TimeoutError is the error of a call whose context ended while the host was at what:
// ErrTimeout (wrapping context.DeadlineExceeded) when the budget passed, the caller's
// own cancellation as is otherwise.
func TimeoutError(ctx context.Context, what string) error {
	if err := ctx.Err(); err != context.DeadlineExceeded {
		return err
	}
	return Timeout(what)
}

// Timeout is ErrTimeout for a budget that passed while the host was at what.
func Timeout(what string) error {
	return fmt.Errorf("%w: %s: %w", ErrTimeout, what, context.DeadlineExceeded)
}
