// Package backoff computes retry delays: exponential with "equal jitter" (half the
// delay fixed, half random), so that retries of many failures spread out instead of
// arriving together, while a retry never comes sooner than half its nominal delay.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the wait before retry number attempt (1 for the first retry):
// base·2^(attempt-1), capped at max, then jittered into [d/2, d].
func Delay(base, max time.Duration, attempt int) time.Duration {
	d := base << min(max0(attempt-1), 30)
	if d <= 0 || d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}
