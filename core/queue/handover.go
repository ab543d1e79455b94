package queue

import "github.com/dgraph-io/badger/v4"

// Handover is for cluster mode (docs/cluster.md): a session this node ran moved, or
// this node is about to run it again, and the cluster's send stream, not this node's
// queue, holds the messages still to send. It stops the session's worker and removes
// every entry of the session's queue, leaving the message records as they are and
// publishing nothing: each message not yet acknowledged on the stream is delivered
// again to the session's owner, which queues it anew. Call it while the session does
// not run here. It returns how many entries it removed.
func (d *Dispatcher) Handover(tenant, session string) (int, error) {
	k := sessionKey{tenant, session}
	d.retire(k)
	n := 0
	for {
		ids, err := d.q.headAfter(k, "", 256)
		if err != nil {
			return n, err
		}
		if len(ids) == 0 {
			return n, nil
		}
		select {
		case <-d.q.stop:
			return n, ErrClosed
		default:
		}
		err = d.q.db.Update(func(txn *badger.Txn) error {
			for _, id := range ids {
				if err := entries.Delete(txn, k.tenant, k.session, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		d.q.unreserve(k.tenant, k.session, len(ids))
		n += len(ids)
	}
}
