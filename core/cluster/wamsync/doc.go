// Package wamsync keeps each session's whatsmeow state (core/store/wastore) in the
// JetStream KV bucket wagate_wam, so that it follows the session from node to node in
// cluster mode (docs/cluster.md, "whatsmeow device state"). The local Badger stays the
// working copy; a Replica, registered with wastore.SetReplicator, is written through:
// each wastore transaction of the session becomes one message (one write) or one atomic
// batch (several), fenced by the session's lease token, before it commits locally.
//
// In a session's Handler.Start, in this order:
//
//	wam, err := wamsync.Open(ctx, js, wamsync.Options{Replicas: 3}) // once per node
//	rep, err := wam.Claim(ctx, lease.Fence())   // ErrStaleToken if a newer owner claimed
//	_, err = rep.Hydrate(ctx, db)               // the local copy := the bucket's
//	err = wastore.SetReplicator(db, tenant, session, rep)
//	// start whatsmeow on wastore.New(db, tenant, session, log)
//
// and in Handler.Stop: stop whatsmeow, rep.Close(), then
// wastore.SetReplicator(db, tenant, session, nil).
//
// Files: wamsync.go (Store, Open, Claim, Purge), replica.go (Replica: Replicate,
// Hydrate), batch.go (atomic batch publish), keys.go (subjects and key escaping).
package wamsync
