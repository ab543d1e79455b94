package catalog

import (
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Policies and bindings changed by another node.
//
// The catalog's records are read from the store each time, but what it built from them
// is in memory: each tenant's policy.Chain, its policies compiled and pooled. A cluster
// node's store is also written by the other nodes (core/cluster/statesync mirrors pol/,
// plv/ and plb/ into each node's Badger): Forget, called with the keys the mirror took
// from the bucket (statesync's Options.Applied), rebuilds the chains they affect.

// change is what changed of one tenant.
type change struct {
	bindings bool                // plb/<tenant>: the chains themselves
	policies map[string]struct{} // pol/<tenant>/<name>, plv/<tenant>/<name>/<version>
}

// Forget rebuilds the chains that keys (whole store keys; others are ignored) may have
// changed: a tenant's bindings written or deleted (plb/<tenant>) rebuild its chain from
// the stored bindings, or drop it for the defaults when there are none; a policy's
// record or versions (pol/<tenant>/<name>, plv/<tenant>/<name>/...: an activation, a
// rollback, a new version) rebuild the chain if the stored bindings name that policy.
// The new chain is swapped in as after a local change: calls in flight finish on the
// old one. A chain that cannot be built here keeps the old one, and the error is logged.
//
// Forget returns at once: rebuilds run in a goroutine, one at a time, serialized with
// the catalog's own changes. statesync may call Applied from inside a write this
// catalog makes under its lock (a commit that met another node's write refreshes those
// keys), so Forget must not wait for that lock. Each rebuild reads the store as it is
// then, so one running later than the change it was told of is still right.
func (c *Catalog) Forget(keys [][]byte) {
	c.forget.Add(func(pending map[string]*change) {
		at := func(tenant string) *change {
			if pending[tenant] == nil {
				pending[tenant] = &change{policies: map[string]struct{}{}}
			}
			return pending[tenant]
		}
		for _, k := range keys {
			switch p, parts := store.KeyParts(k); {
			case p == store.PrefixPolicyBindings && len(parts) == 1:
				at(parts[0]).bindings = true
			case p == store.PrefixPolicy && len(parts) == 2, p == store.PrefixPolicyVersion && len(parts) == 3:
				at(parts[0]).policies[parts[1]] = struct{}{}
			}
		}
	})
}

// rebuildOne is the forget worker's run: one tenant's chain rebuilt.
func (c *Catalog) rebuildOne(tenant string, ch *change) {
	if err := c.rebuild(context.Background(), tenant, ch); err != nil {
		c.d.Logger.Error("policy chain not rebuilt after a change on another node; the tenant keeps its previous chain",
			"tenant", tenant, "err", err)
	}
}

// Close makes later Forgets no-ops and waits for the rebuild under way. The catalog's
// other methods keep working.
func (c *Catalog) Close() { c.forget.Close() }

// rebuild makes the tenant's chain the one its stored bindings and policies give.
func (c *Catalog) rebuild(ctx context.Context, tenant string, ch *change) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b Bindings
	err := c.d.DB.View(func(txn *badger.Txn) error {
		var err error
		b, err = bindings.Get(txn, tenant)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		if ch.bindings {
			if old := c.d.Chains.Delete(tenant); old != nil {
				old.Close()
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if ch.bindings {
		return c.install(ctx, tenant, b)
	}
	for _, list := range b.lists() {
		for _, r := range *list {
			if _, changed := ch.policies[r.Policy]; changed && r.Policy != "" {
				return c.install(ctx, tenant, b)
			}
		}
	}
	return nil
}
