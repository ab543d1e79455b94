package wastore

import (
	"testing"

	"github.com/wagate/wagate/core/store"
)

// For the external tests (replica_cluster_test.go): the conformance suite with a
// replicator, and a session's keys.

// RunConformanceReplicated runs the conformance sequence of seed (n operations) with
// the wastore world's session (of tenant) replicated through newReplicator's replicator, and
// returns the world's DB, tenant and session.
func RunConformanceReplicated(t *testing.T, seed uint64, n int, tenant string, newReplicator func(db *store.DB, tenant, session string) Replicator) (*store.DB, string, string) {
	got := newBadgerWorld(t)
	c := got.c.(*Container)
	c.tenant = tenant
	if err := SetReplicator(c.db, c.tenant, c.session, newReplicator(c.db, c.tenant, c.session)); err != nil {
		t.Fatal(err)
	}
	runConformanceOn(t, seed, n, got)
	return c.db, c.tenant, c.session
}

// DumpSession returns every key and value of a session's whatsmeow state.
func DumpSession(t testing.TB, db *store.DB, tenant, session string) map[string]string {
	return dumpSession(t, db, tenant, session)
}

// DiffDumps describes how two dumps differ, "" when equal.
func DiffDumps(want, got map[string]string) string { return diffDumps(want, got) }
