package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A lease given up while valid is Released; one given up after its deadline passed (a
// node resumed from a pause releases before its watchdog runs) had expired, and says so:
// what it held may be another node's already.
func TestLeaseReleasedOnlyWhileValid(t *testing.T) {
	valid := newLease(context.Background(), "acme.s1", 7, time.Now(), 10*time.Second, time.Second)
	valid.end(ErrLeaseReleased)
	if !valid.Released() || !errors.Is(valid.Err(), ErrLeaseReleased) {
		t.Errorf("given up in time: Released %v, Err %v", valid.Released(), valid.Err())
	}
	late := newLease(context.Background(), "acme.s2", 8, time.Now().Add(-time.Minute), 10*time.Second, time.Second)
	late.end(ErrLeaseReleased)
	if late.Released() || !errors.Is(late.Err(), ErrLeaseExpired) {
		t.Errorf("given up after its deadline: Released %v, Err %v (want expired)", late.Released(), late.Err())
	}
	if late.Context().Err() == nil {
		t.Error("an ended lease's context is not done")
	}
}
