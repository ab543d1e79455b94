package webhook

import (
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Endpoints changed by another node.
//
// The Service keeps every endpoint in memory (its record and its worker) and assumes it
// makes every write of them. A cluster node's store is also written by the other nodes
// (core/cluster/statesync mirrors whe/ into each node's Badger): Forget, called with the
// keys the mirror took from the bucket (statesync's Options.Applied), reloads those
// endpoints from the store.

// Forget reloads from the store the endpoints under keys (whole store keys,
// whe/<tenant>/<endpoint id>; others are ignored): an endpoint created elsewhere is
// added and its worker started, a changed one takes the stored record (started,
// stopped or kicked to match Enabled), a deleted one is dropped with its worker and
// this node's outbox and delivery log of it.
//
// Forget returns at once: the reload runs in a goroutine, one at a time, after the
// changes in flight on this node. statesync may call Applied from inside a write of
// this very Service (a commit that met another node's write refreshes those keys), so
// Forget must not wait for the Service's lock. Each reload reads the store as it is
// then, so reloads running later than the change they were told of are still right.
func (s *Service) Forget(keys [][]byte) {
	s.forget.Add(func(pending map[[2]string]struct{}) {
		for _, k := range keys {
			if p, parts := store.KeyParts(k); p == store.PrefixWebhookEndpoint && len(parts) == 2 {
				pending[[2]string{parts[0], parts[1]}] = struct{}{}
			}
		}
	})
}

// reloadOne is the forget worker's run: one endpoint {tenant, id} reloaded.
func (s *Service) reloadOne(k [2]string, _ struct{}) {
	if err := s.reload(k[0], k[1]); err != nil {
		s.log.Error("webhook endpoint not reloaded after a change on another node", "tenant", k[0], "endpoint", k[1], "err", err)
	}
}

// reload makes the endpoint in memory the stored one.
func (s *Service) reload(tenant, id string) error {
	s.mu.Lock()
	if s.shut.Load() {
		s.mu.Unlock()
		return nil
	}
	var ep Endpoint
	err := s.d.DB.View(func(txn *badger.Txn) error {
		var err error
		ep, err = endpoints.Get(txn, tenant, id)
		return err
	})
	st := s.tenants[tenant][id]
	switch {
	case errors.Is(err, store.ErrNotFound):
		if st == nil {
			s.mu.Unlock()
			return nil
		}
		w := st.w
		s.stopLocked(st)
		delete(s.tenants[tenant], id)
		if len(s.tenants[tenant]) == 0 {
			delete(s.tenants, tenant)
		}
		s.mu.Unlock()
		s.metrics.endpoints.Dec()
		if w != nil {
			<-w.done // no delivery of it writes after the delete
		}
		// The other node deleted its own outbox of the endpoint; this one is this node's.
		if err := s.d.DB.DeletePrefix(store.ScanPrefix(store.PrefixWebhookPending, tenant, id)); err != nil {
			return err
		}
		return s.d.DB.DeletePrefix(store.ScanPrefix(store.PrefixWebhookDelivery, tenant, id))
	case err != nil:
		s.mu.Unlock()
		return err
	}
	defer s.mu.Unlock()
	if st == nil {
		s.metrics.endpoints.Inc()
	}
	st = s.put(tenant, ep)
	if ep.Enabled {
		s.startLocked(st)
		if st.w != nil {
			st.w.kick()
		}
	} else {
		s.stopLocked(st)
	}
	return nil
}
