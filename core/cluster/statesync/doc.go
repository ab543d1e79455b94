// Package statesync makes the gateway's shared key families (tenants, API keys, session
// records, policies and bindings, webhook endpoints, idempotency keys, sticky contacts,
// lists and opt-outs, campaigns, per-node usage counters: SharedPrefixes) one state
// across the nodes of a cluster, while every service keeps its code: it still reads and
// writes its keys in the node's Badger through store.DB.Update.
//
// The contract (docs/cluster.md, "Shared state"):
//
//   - The source of truth is the JetStream KV bucket wagate_state; the local Badger is
//     the node's mirror of it. One Badger key is one bucket key, d.<escaped key> (keys.go).
//     Reads are local Badger reads, as fast as on a single node.
//   - A write transaction that writes a shared key is published before it is committed
//     locally (a store.CommitHook): its shared writes go to the bucket, each expecting
//     the revision the node's mirror had for the key when the transaction read it (kept
//     in rev/<key>, read through the transaction itself, so the expectation and what fn
//     saw are one snapshot); several writes go as one atomic batch. Only when JetStream
//     has stored them is the Badger transaction committed, with the keys' new revisions.
//     A transaction whose expectation fails (another node wrote one of its keys since
//     the mirror last heard) is not committed: the keys' current values are fetched into
//     the mirror and the commit fails with an error wrapping badger.ErrConflict, so that
//     store.DB.Update runs fn again on the fresh values. No update is lost.
//   - Every node follows the bucket (a watch) and applies the other nodes' writes to its
//     mirror in bucket order, never a revision older than the one it has. Start hydrates
//     first: the mirror is made exactly the bucket (keys the bucket lacks are deleted)
//     before any shared write is accepted (ErrNotReady until then; /ready waits for it).
//   - Staleness: the writing node reads its own writes at once; another node sees them
//     after the watch lag (a few milliseconds on a LAN; unbounded while the node is cut
//     off from NATS, when its shared writes fail). Sync waits until this node has applied
//     everything the bucket held when it was called.
//   - Seeding: the first node ever to start on the bucket uploads its local shared keys
//     first, so that turning cluster mode on over a single node's data keeps it.
//   - In-memory caches of the services are not Badger: Options.Applied tells the node
//     which keys its mirror took from the bucket, for it to drop them.
//   - Fencing: a node that claimed a session (Claim with its lease's cluster.Fence)
//     writes that session's record under the fence: the batch also rewrites the
//     session's fence record f.<tenant>.<session> expecting the revision this node last
//     wrote there, atomically. Once a newer owner claimed (a larger token), the older
//     owner's writes are refused with cluster.ErrStaleToken and not committed locally.
//
// Usage, once per node, before the services write:
//
//	st, err := statesync.Open(ctx, js, db, statesync.Options{Replicas: 3})
//	err = st.Start(ctx)           // hydrate, register the hook, follow the bucket
//	defer st.Close()
//	// in the session's Handler.Start:  st.Claim(ctx, lease.Fence()); Handler.Stop: st.Release(key)
package statesync
