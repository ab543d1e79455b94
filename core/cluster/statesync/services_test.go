package statesync

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/wagate/wagate/core/tenant"
)

// TestTenantServiceAcrossNodes: core/tenant, unchanged but for its cache being told
// (Forget on Applied), on two nodes: a tenant and key created on A authenticate on B; a
// key revoked on A is refused on B once B's mirror has the revocation.
func TestTenantServiceAcrossNodes(t *testing.T) {
	url := startJS(t)
	var svcB atomic.Pointer[tenant.Service]
	a := startNode(t, url, t.TempDir(), Options{})
	b := startNode(t, url, t.TempDir(), Options{Applied: func(keys [][]byte) {
		if s := svcB.Load(); s != nil {
			s.Forget(keys)
		}
	}})
	ctx := context.Background()
	plan := tenant.Plan{MaxSessions: 5, MaxMessagesPerDay: 1000}
	sa := tenant.NewService(a.db, tenant.Options{DefaultPlan: plan})
	sb := tenant.NewService(b.db, tenant.Options{DefaultPlan: plan})
	svcB.Store(sb)
	_, nk, err := sa.Create(ctx, tenant.CreateInput{ID: "acme"})
	must(t, err)
	b.sync()
	p, err := sb.Authenticate(ctx, nk.Key)
	if err != nil || p.Tenant != "acme" {
		t.Fatalf("B authenticates A's key: %+v, %v", p, err)
	}
	must(t, sa.RevokeKey(ctx, "acme", nk.ID))
	b.sync()
	if _, err := sb.Authenticate(ctx, nk.Key); !errors.Is(err, tenant.ErrUnauthenticated) {
		t.Fatalf("B after the revocation on A: %v, want ErrUnauthenticated", err)
	}
	// And the other way: a tenant created on B is one A sees; its id is taken on A.
	_, _, err = sb.Create(ctx, tenant.CreateInput{ID: "beta"})
	must(t, err)
	a.sync()
	if _, err := sa.Get(ctx, "beta"); err != nil {
		t.Fatalf("A reads B's tenant: %v", err)
	}
	if _, _, err := sa.Create(ctx, tenant.CreateInput{ID: "beta"}); err == nil {
		t.Fatal("A created a tenant B had created")
	}
}
