package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Status is what the shared buckets say about the cluster, as an operator sees it
// (`wagate cluster status`): the live nodes and every session's lease.
type Status struct {
	// Nodes are the nodes whose heartbeat has not aged out, by id.
	Nodes []NodeStatus `json:"nodes"`
	// Leases are the sessions that run somewhere, by key.
	Leases []LeaseStatus `json:"leases"`
}

// NodeStatus is one live node.
type NodeStatus struct {
	ID string `json:"id"`
	// Capacity is the sessions the node may run; 0 unlimited.
	Capacity int `json:"capacity"`
	// Sessions counts the leases it holds.
	Sessions int `json:"sessions"`
	// Heartbeat is when the node last wrote its heartbeat (the server's clock).
	Heartbeat time.Time `json:"heartbeat"`
}

// LeaseStatus is one session's lease.
type LeaseStatus struct {
	Key  Key    `json:"key"`
	Node string `json:"node"`
	// Token is the lease's fencing token.
	Token uint64 `json:"token"`
	// Claimed is when the node claimed the session; Renewed when it last renewed the
	// lease (the server's clock): a lease not renewed for the TTL ends.
	Claimed time.Time `json:"claimed"`
	Renewed time.Time `json:"renewed"`
}

// ReadStatus reads the node and lease buckets. Buckets that do not exist yet (no node
// ever started) read as empty.
func ReadStatus(ctx context.Context, js jetstream.JetStream) (Status, error) {
	var st Status
	leases, err := readBucket(ctx, js, LeaseBucket)
	if err != nil {
		return st, err
	}
	held := map[string]int{}
	for _, e := range leases {
		v, err := decodeLease(e.Value(), e.Revision())
		if err != nil {
			continue // an unreadable lease is no lease
		}
		st.Leases = append(st.Leases, LeaseStatus{Key: Key(e.Key()), Node: v.Node, Token: v.Token,
			Claimed: v.Claimed, Renewed: e.Created()})
		held[v.Node]++
	}
	nodes, err := readBucket(ctx, js, NodeBucket)
	if err != nil {
		return st, err
	}
	for _, e := range nodes {
		var m member
		if json.Unmarshal(e.Value(), &m) != nil || m.ID != e.Key() {
			continue
		}
		st.Nodes = append(st.Nodes, NodeStatus{ID: m.ID, Capacity: m.Capacity, Sessions: held[m.ID], Heartbeat: e.Created()})
	}
	slices.SortFunc(st.Nodes, func(a, b NodeStatus) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Leases, func(a, b LeaseStatus) int { return cmp.Compare(a.Key, b.Key) })
	return st, nil
}

// readBucket returns the current entries of a bucket (none when it does not exist).
func readBucket(ctx context.Context, js jetstream.JetStream, name string) ([]jetstream.KeyValueEntry, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: binding %s: %w", name, err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: listing %s: %w", name, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	var out []jetstream.KeyValueEntry
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // gone since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: reading %s %s: %w", name, k, err)
		}
		out = append(out, e)
	}
	return out, nil
}
