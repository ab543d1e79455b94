package tenant

import (
	"sync"
)

// cache keeps tenant records and API key records in memory after their first read, so
// that authenticating a request and checking its plan cost no store read: these two
// reads were a third of the send path's CPU (docs/benchmarks.md).
//
// The store stays the source of truth. Every write of a tenant or key record in this
// package invalidates the cached copy after its transaction commits (invalidate), and
// a reader stores what it read only if no invalidation happened since it began
// (begin/put), so a read racing a revoke can never cache the key as still valid.
// Misses are not cached: memory is bounded by the records in the store, not by the
// keys strangers try. One gateway process owns its store (the store's directory lock),
// so no other writer can make the cache stale.
type cache struct {
	mu      sync.RWMutex
	gen     uint64 // bumped by every invalidation
	tenants map[string]Tenant
	keys    map[string]Key // "<tenant>/<key id>"
}

func newCache() *cache {
	return &cache{tenants: map[string]Tenant{}, keys: map[string]Key{}}
}

// begin returns the generation a reader must pass to putTenant/putKey.
func (c *cache) begin() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *cache) tenant(id string) (Tenant, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tenants[id]
	return t, ok
}

func (c *cache) key(tenantID, keyID string) (Key, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[tenantID+"/"+keyID]
	return k, ok
}

func (c *cache) putTenant(gen uint64, t Tenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.tenants[t.ID] = t
	}
}

func (c *cache) putKey(gen uint64, tenantID string, k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.keys[tenantID+"/"+k.ID] = k
	}
}

// invalidate forgets the tenant and, when keyID is "", all of its keys; otherwise
// that one key.
func (c *cache) invalidate(tenantID, keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.tenants, tenantID)
	if keyID != "" {
		delete(c.keys, tenantID+"/"+keyID)
		return
	}
	prefix := tenantID + "/"
	for k := range c.keys {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			delete(c.keys, k)
		}
	}
}
