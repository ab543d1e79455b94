package policy

import "sync"

// Chains holds every tenant's chain: what the dispatcher and the webhook outbox ask.
// A tenant without a chain of its own gets one with no policy and the defaults, created
// on first use. Safe for concurrent use.
//
//	chains := policy.NewChains(policy.ChainOptions{Defaults: defs, Metrics: m, OnFailure: report})
//	d := chains.For(tenant).Route(ctx, in)
//	old := chains.Set(tenant, newChain) // a tenant uploaded new rules
//	_ = old.Close()                     // in-flight calls on old finish first
type Chains struct {
	opts ChainOptions
	mu   sync.RWMutex
	m    map[string]*Chain
}

// NewChains returns an empty set; opts configure the default chains it creates.
func NewChains(opts ChainOptions) *Chains {
	return &Chains{opts: opts, m: make(map[string]*Chain)}
}

// Options returns the options of the default chains, for building a tenant's own chain
// with the same defaults, metrics and failure report.
func (cs *Chains) Options() ChainOptions { return cs.opts }

// For returns tenant's chain.
func (cs *Chains) For(tenant string) *Chain {
	cs.mu.RLock()
	c, ok := cs.m[tenant]
	cs.mu.RUnlock()
	if ok {
		return c
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[tenant]; ok {
		return c
	}
	c, _ = NewChain(tenant, cs.opts) // no binding: cannot fail
	cs.m[tenant] = c
	return c
}

// Set makes c tenant's chain and returns the one it replaces (nil if none), for the
// caller to Close.
func (cs *Chains) Set(tenant string, c *Chain) (old *Chain) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old = cs.m[tenant]
	cs.m[tenant] = c
	return old
}

// Delete forgets tenant's chain (tenant deleted) and returns it for the caller to Close.
func (cs *Chains) Delete(tenant string) *Chain {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old := cs.m[tenant]
	delete(cs.m, tenant)
	return old
}

// Close closes every chain (shutdown): their plugins are released — go-plugin
// processes killed, WASM instances and Lua states closed. Later For calls get fresh
// default chains.
func (cs *Chains) Close() {
	cs.mu.Lock()
	all := cs.m
	cs.m = make(map[string]*Chain)
	cs.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
