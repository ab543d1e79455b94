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
	runConformanceOn(t, seed, n, got, 0, nil)
	return c.db, c.tenant, c.session
}

// RunConformanceMoving runs the conformance sequence of seed (n operations) on a
// session of tenant that moves every every operations: move(from) is called with the
// DB the session ran on and returns the DB it runs on next (having done there what a
// new owner does: claim, hydrate, register); whatsmeow's device handles are loaded
// afresh there, and the reference's too. It returns the last DB and the session name.
func RunConformanceMoving(t *testing.T, seed uint64, n int, tenant string, every int, first func(db *store.DB, tenant, session string), move func(from *store.DB) *store.DB) (*store.DB, string) {
	got := newBadgerWorld(t)
	c := got.c.(*Container)
	c.tenant = tenant
	first(c.db, c.tenant, c.session)
	runConformanceOn(t, seed, n, got, every, func() *store.DB { return move(got.c.(*Container).db) })
	return got.c.(*Container).db, c.session
}

// DumpSession returns every key and value of a session's whatsmeow state.
func DumpSession(t testing.TB, db *store.DB, tenant, session string) map[string]string {
	return dumpSession(t, db, tenant, session)
}

// DiffDumps describes how two dumps differ, "" when equal.
func DiffDumps(want, got map[string]string) string { return diffDumps(want, got) }
