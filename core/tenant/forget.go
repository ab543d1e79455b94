package tenant

import "github.com/wagate/wagate/core/store"

// Forget drops the cached copies of the tenant and key records under keys (whole store
// keys: ten/<tenant>, key/<tenant>/<key id>), and in cluster mode the cached sum of the
// other nodes' usage counters of a day (use/<tenant>/<day>[/<node>]; this node's own
// counter is ignored, its count in memory is newer). Other keys are ignored. The cache assumes this
// service makes every write of those records; a cluster node's store is also written by
// the other nodes (core/cluster/statesync), whose changes it must be told of with
// Forget (statesync's Options.Applied), or a key revoked elsewhere stays valid here.
func (s *Service) Forget(keys [][]byte) {
	for _, k := range keys {
		switch p, parts := store.KeyParts(k); {
		case p == store.PrefixTenant && len(parts) == 1:
			s.cache.invalidate(parts[0], "")
		case p == store.PrefixAPIKey && len(parts) == 2:
			s.cache.invalidate(parts[0], parts[1])
		case p == store.PrefixUsage:
			s.forgetUsage(parts)
		}
	}
}
