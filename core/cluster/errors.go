package cluster

import "errors"

// Errors of leases and fences. Match them with errors.Is.
var (
	// ErrStaleToken is a fence whose token is not the session's current lease: another
	// node claimed the session since, or the lease expired. The write or call it guards
	// must not happen.
	ErrStaleToken = errors.New("cluster: stale fencing token")
	// ErrLeaseExpired is a lease this node could not renew before its safety margin: the
	// node has stopped, or is stopping, the session.
	ErrLeaseExpired = errors.New("cluster: lease expired")
	// ErrLeaseLost is a lease found taken over or deleted when this node renewed it.
	ErrLeaseLost = errors.New("cluster: lease lost")
	// ErrLeaseReleased is a lease this node gave up (rebalance, session no longer wanted, shutdown).
	ErrLeaseReleased = errors.New("cluster: lease released")
	// ErrBadKey is a tenant or session name that cannot be a lease key.
	ErrBadKey = errors.New("cluster: bad session key")
)
