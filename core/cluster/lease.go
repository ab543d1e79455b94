package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Fence is what a state write or a provider call of a session carries to prove that it
// comes from the session's current owner: the session's key and the fencing token of
// the lease it was issued under. Tokens of one key only grow: every claim gets the lease
// bucket's next revision, which is larger than any before it.
type Fence struct {
	Key   Key
	Token uint64
}

// String formats the fence as key@token.
func (f Fence) String() string { return fmt.Sprintf("%s@%d", f.Key, f.Token) }

// StopReason says why a node stops a session.
type StopReason int

const (
	// StopReleased: the node gave the session up (rebalance, no longer wanted, shutdown).
	StopReleased StopReason = iota
	// StopExpired: the node could not renew the lease before its safety margin.
	StopExpired
	// StopLost: a renewal found the lease taken over or gone.
	StopLost
)

func (r StopReason) String() string {
	switch r {
	case StopReleased:
		return "released"
	case StopExpired:
		return "expired"
	case StopLost:
		return "lost"
	}
	return "unknown"
}

func (r StopReason) err() error {
	switch r {
	case StopExpired:
		return ErrLeaseExpired
	case StopLost:
		return ErrLeaseLost
	}
	return ErrLeaseReleased
}

// leaseValue is a lease's value in the leases bucket.
type leaseValue struct {
	// Node owns the session.
	Node string `json:"node"`
	// Token is the revision of the claim; 0 in the claim itself, whose revision it is.
	Token uint64 `json:"token,omitempty"`
	// Claimed is when the node claimed the session (informational).
	Claimed time.Time `json:"claimed"`
}

func decodeLease(b []byte, rev uint64) (leaseValue, error) {
	var v leaseValue
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("cluster: decoding lease: %w", err)
	}
	if v.Token == 0 {
		v.Token = rev
	}
	return v, nil
}

// Lease is this node's ownership of one session. The session runs while Valid is true;
// every write and provider call of the session carries Fence().
//
// Valid is a local check against the monotonic clock and answers at once, also just
// after the process resumes from a pause (SIGSTOP, a long GC, a frozen VM): a lease
// whose renewal deadline passed while the process was stopped is invalid before any
// goroutine of the node has had a chance to notice. Node.Check asks the leases bucket
// and is the authority.
type Lease struct {
	key   Key
	token uint64
	ttl   time.Duration

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	rev      uint64    // latest revision (each renewal writes one)
	deadline time.Time // the node stops the session at this instant unless renewed
	expiry   time.Time // the earliest the bucket can expire the lease
	ended    error     // why the lease ended, nil while held

	run         sync.Mutex // serializes the handler's Start and Stop of this session
	stopped     bool       // Stop was called, or will never be
	startCalled bool
}

func newLease(parent context.Context, key Key, rev uint64, sent time.Time, ttl, margin time.Duration) *Lease {
	l := &Lease{key: key, token: rev, rev: rev, ttl: ttl, deadline: sent.Add(ttl - margin), expiry: sent.Add(ttl)}
	l.ctx, l.cancel = context.WithCancel(parent)
	return l
}

// Key is the session's key.
func (l *Lease) Key() Key { return l.key }

// Token is the fencing token: the revision of the claim.
func (l *Lease) Token() uint64 { return l.token }

// Fence is the value to carry with the session's writes and provider calls.
func (l *Lease) Fence() Fence { return Fence{Key: l.key, Token: l.token} }

// Context is canceled when the lease ends.
func (l *Lease) Context() context.Context { return l.ctx }

// Valid reports whether the lease is held and its renewal deadline has not passed.
func (l *Lease) Valid() bool { return l.Err() == nil }

// Released reports whether the node gave the lease up itself (a rebalance, a
// shutdown, the session stopped) rather than it expiring or being taken.
func (l *Lease) Released() bool { return errors.Is(l.Err(), ErrLeaseReleased) }

// Err is nil while the lease is valid, else ErrLeaseExpired, ErrLeaseLost or ErrLeaseReleased.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended != nil {
		return l.ended
	}
	if !time.Now().Before(l.deadline) {
		return ErrLeaseExpired
	}
	return nil
}

// Deadline is when the node stops the session unless the lease is renewed first.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline
}

func (l *Lease) revision() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev
}

// renewed records a renewal sent at sent and acknowledged with revision rev. It reports
// false when the lease had already ended or its deadline passed before the
// acknowledgement came: the node has stopped the session, the new revision must be
// given up.
func (l *Lease) renewed(rev uint64, sent time.Time, margin time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended != nil || !time.Now().Before(l.deadline) {
		return false
	}
	l.rev, l.deadline, l.expiry = rev, sent.Add(l.ttl-margin), sent.Add(l.ttl)
	return true
}

// end marks the lease ended for reason; it reports false when it had already ended.
func (l *Lease) end(reason error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended != nil {
		return false
	}
	if errors.Is(reason, ErrLeaseReleased) && !time.Now().Before(l.deadline) {
		// Given up after its deadline passed (a node resumed from a pause releases
		// before its watchdog runs): it had expired, and what it held may be another
		// node's already. Released must not say otherwise.
		reason = ErrLeaseExpired
	}
	l.ended = reason
	l.cancel()
	return true
}

// Floor is the store side of fencing: it remembers the highest token it admitted per
// key and refuses any lower one, so that a write from a node that lost its lease, however
// late it arrives, cannot overwrite one from the owner that followed. It is safe for
// concurrent use; a store keeps one per shared resource.
type Floor struct {
	mu  sync.Mutex
	max map[Key]uint64
}

// Admit refuses f with ErrStaleToken when a higher token of f.Key was admitted before,
// and otherwise records f.Token.
func (fl *Floor) Admit(f Fence) error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.max == nil {
		fl.max = map[Key]uint64{}
	}
	if f.Token < fl.max[f.Key] {
		return fmt.Errorf("%w: %s, the session's owner holds token %d", ErrStaleToken, f, fl.max[f.Key])
	}
	fl.max[f.Key] = f.Token
	return nil
}
