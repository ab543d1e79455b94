// Package cluster is wagate's cluster mode on NATS JetStream (docs/cluster.md): session
// ownership by leases in the wagate_leases KV bucket, with the claim's revision as a
// fencing token (Lease, Fence, Node.Check, Floor); membership by heartbeats in the
// wagate_nodes bucket; placement of sessions over live nodes by capacity with a bounded
// rebalance; and an embedded nats-server for a first node or tests (StartEmbedded,
// StartLocalCluster). It depends on nothing else in wagate. The gateway does not use it
// yet.
//
// Files: node.go (the Node: claim, renew, release, watchdog, reconcile), lease.go
// (Lease, Fence, Floor), placement.go (pure placement), key.go, embed.go, errors.go.
package cluster
