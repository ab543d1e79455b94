package statesync

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/catalog"
	luahost "github.com/wagate/wagate/core/policy/lua"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/tenant"
	"github.com/wagate/wagate/core/webhook"
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

// TestUsageLimitAcrossNodes: core/tenant in cluster mode on two nodes (NodeID a and b,
// each counting under its own key, Forget on Applied): a daily limit of 10 is reached by
// the sum of both nodes' sends, and then refused on both; no write conflicted.
func TestUsageLimitAcrossNodes(t *testing.T) {
	url := startJS(t)
	var svcA, svcB atomic.Pointer[tenant.Service]
	forget := func(p *atomic.Pointer[tenant.Service]) func([][]byte) {
		return func(keys [][]byte) {
			if s := p.Load(); s != nil {
				s.Forget(keys)
			}
		}
	}
	a := startNode(t, url, t.TempDir(), Options{Applied: forget(&svcA)})
	b := startNode(t, url, t.TempDir(), Options{Applied: forget(&svcB)})
	ctx := context.Background()
	plan := tenant.Plan{MaxSessions: 5, MaxMessagesPerDay: 10}
	flush := 20 * time.Millisecond
	sa := tenant.NewService(a.db, tenant.Options{DefaultPlan: plan, NodeID: "a", UsageFlush: flush})
	sb := tenant.NewService(b.db, tenant.Options{DefaultPlan: plan, NodeID: "b", UsageFlush: flush})
	svcA.Store(sa)
	svcB.Store(sb)
	t.Cleanup(func() { sa.Close(); sb.Close() })
	_, _, err := sa.Create(ctx, tenant.CreateInput{ID: "acme"})
	must(t, err)
	b.sync()

	send := func(s *tenant.Service, db *store.DB) error {
		if err := s.CountMessages(ctx, "acme", 1); err != nil {
			return err
		}
		return db.Update(func(txn *badger.Txn) error { return s.WriteUsage(txn, "acme") })
	}
	for i := range 6 {
		must(t, send(sa, a.db))
		if i < 4 {
			must(t, send(sb, b.db))
		}
	}
	// Both counters published and each node's mirror has the other's: the sum is 10.
	day := time.Now().UTC().Format("2006-01-02")
	keyA, keyB := "use/acme/"+day+"/a", "use/acme/"+day+"/b"
	deadline := time.Now().Add(10 * time.Second)
	count := func(n *node, k string) int {
		v, err := store.JSONCodec[int]{}.Decode([]byte(n.get(k)))
		if err != nil {
			return -1
		}
		return v
	}
	for count(a, keyB) != 4 || count(b, keyA) != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("A's mirror holds b=%d, B's holds a=%d; want 4 and 6", count(a, keyB), count(b, keyA))
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, c := range []struct {
		name string
		s    *tenant.Service
		db   *store.DB
	}{{"a", sa, a.db}, {"b", sb, b.db}} {
		if err := send(c.s, c.db); !errors.Is(err, tenant.ErrDailyLimit) {
			t.Errorf("node %s's 11th message of the tenant: %v, want ErrDailyLimit", c.name, err)
		}
		u, err := c.s.Messages(ctx, "acme")
		must(t, err)
		if u.Today != 10 {
			t.Errorf("node %s counts %d today, want 10", c.name, u.Today)
		}
	}
	// One counter per node in the bucket, nothing else of the tenant's usage.
	info, err := a.st.stream.Info(ctx, jetstream.WithSubjectFilter(subjectRoot+">"))
	must(t, err)
	var got []string
	for subj := range info.State.Subjects {
		if k, ok := strings.CutPrefix(subj, subjectRoot+"d.use/"); ok {
			got = append(got, "use/"+k)
		}
	}
	slices.Sort(got)
	if want := []string{keyA, keyB}; !slices.Equal(got, want) {
		t.Errorf("usage keys in the bucket %q, want %q", got, want)
	}
}

// TestUsageCoalesced: a node's counter is published at most once per UsageFlush, however
// many sends it counts: sends in a tight loop for 300 ms cost about 300ms/UsageFlush
// publishes, not one each, and the last count lands.
func TestUsageCoalesced(t *testing.T) {
	url := startJS(t)
	a := startNode(t, url, t.TempDir(), Options{})
	ctx := context.Background()
	flush := 50 * time.Millisecond
	s := tenant.NewService(a.db, tenant.Options{DefaultPlan: tenant.Plan{MaxSessions: 5}, NodeID: "a", UsageFlush: flush})
	_, _, err := s.Create(ctx, tenant.CreateInput{ID: "acme"})
	must(t, err)
	before := a.lastSeq()
	start := time.Now()
	sends := 0
	for ; time.Since(start) < 300*time.Millisecond; sends++ {
		must(t, s.CountMessages(ctx, "acme", 1))
		// A queue transaction of its own per send, with other (node-local) writes, as
		// the queue's committer does: the usage mark does not make it a shared commit.
		must(t, a.db.Update(func(txn *badger.Txn) error {
			if err := txn.Set([]byte("que/acme/main/x"), []byte("x")); err != nil {
				return err
			}
			return s.WriteUsage(txn, "acme")
		}))
	}
	took := time.Since(start)
	must(t, s.Close())
	publishes := a.lastSeq() - before
	limit := uint64(took/flush) + 2
	t.Logf("%d sends in %v: %d publishes of the usage counter (flush every %v)", sends, took.Round(time.Millisecond), publishes, flush)
	if publishes > limit {
		t.Errorf("%d publishes for %d sends in %v, want at most %d", publishes, sends, took, limit)
	}
	day := time.Now().UTC().Format("2006-01-02")
	codec := store.JSONCodec[int]{}
	if v, err := codec.Decode([]byte(a.get("use/acme/" + day + "/a"))); err != nil || v != sends {
		t.Errorf("stored count %d (%v), want %d", v, err, sends)
	}
}

// TestWebhooksAndPoliciesAcrossNodes: core/webhook and core/policy/catalog on two
// nodes, told of the other node's writes by Forget on Applied: an endpoint created on A
// is listed by B and disabled on B when A disables it; a policy uploaded and bound on A
// routes B's messages, and an activation on A swaps B's chain.
func TestWebhooksAndPoliciesAcrossNodes(t *testing.T) {
	url := startJS(t)
	type services struct {
		hooks *webhook.Service
		cat   *catalog.Catalog
	}
	var onB atomic.Pointer[services]
	a := startNode(t, url, t.TempDir(), Options{})
	b := startNode(t, url, t.TempDir(), Options{Applied: func(keys [][]byte) {
		if s := onB.Load(); s != nil {
			s.hooks.Forget(keys)
			s.cat.Forget(keys)
		}
	}})
	ctx := context.Background()
	open := func(db *store.DB) (*webhook.Service, *catalog.Catalog, *policy.Chains) {
		hooks, err := webhook.New(webhook.Deps{DB: db}, webhook.Options{
			URLPolicy: &webhook.URLPolicy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
		must(t, err)
		t.Cleanup(hooks.Close)
		chains := policy.NewChains(policy.ChainOptions{})
		cat := catalog.New(catalog.Deps{DB: db, Chains: chains, Runtimes: map[string]policy.Runtime{catalog.KindLua: luahost.New(luahost.Options{})}}, catalog.Options{})
		t.Cleanup(cat.Close)
		return hooks, cat, chains
	}
	hooksA, catA, _ := open(a.db)
	hooksB, catB, chainsB := open(b.db)
	onB.Store(&services{hooks: hooksB, cat: catB})
	poll := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("B never saw %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	ep, err := hooksA.Create(ctx, "acme", webhook.Input{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}, Enabled: true})
	must(t, err)
	poll("A's endpoint", func() bool { got, err := hooksB.Get("acme", ep.ID); return err == nil && got.Enabled })
	in := webhook.Input{URL: ep.URL, Events: ep.Events, Enabled: false}
	_, err = hooksA.Update(ctx, "acme", ep.ID, in)
	must(t, err)
	poll("A's endpoint disabled", func() bool { got, err := hooksB.Get("acme", ep.ID); return err == nil && !got.Enabled })

	route := func(chains *policy.Chains) string {
		in := policy.RouteInput{Now: time.Now(), Message: policy.Message{ID: "msg_1", Tenant: "acme", ChatID: "447700900000@c.us", Kind: "text"},
			Candidates: []policy.Candidate{{Session: "uk", State: "WORKING"}, {Session: "us", State: "WORKING"}}}
		return chains.For("acme").Route(ctx, in).Session
	}
	to := func(session string) []byte {
		return []byte(`function route(msg, candidates)
  for i = 1, #candidates do
    if candidates[i].session == "` + session + `" then return candidates[i] end
  end
end`)
	}
	_, err = catA.Put(ctx, "acme", "router", catalog.Upload{Kind: catalog.KindLua, Source: to("us")})
	must(t, err)
	_, err = catA.SetBindings(ctx, "acme", catalog.Bindings{Route: []catalog.Ref{{Policy: "router", Timeout: policy.Duration(time.Second)}}})
	must(t, err)
	poll("A's binding", func() bool { return route(chainsB) == "us" })
	_, err = catA.Put(ctx, "acme", "router", catalog.Upload{Kind: catalog.KindLua, Source: to("uk"), Activate: true})
	must(t, err)
	poll("A's activation", func() bool { return route(chainsB) == "uk" })
}
