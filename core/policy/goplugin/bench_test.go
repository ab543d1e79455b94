package goplugin

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/policy"
)

// tenCandidates is the route input of the policy benchmarks (as plugins/bench_test.go):
// ten sessions with full statistics.
func tenCandidates() policy.RouteInput {
	in := routeIn("hi")
	in.Candidates = nil
	for i := range 10 {
		c := policy.Candidate{Session: fmt.Sprintf("session-%02d", i), Provider: "whatsmeow", State: "WORKING",
			QueueDepth: 10 - i, SentMinute: i, SentHour: 10 * i, SentDay: 100 * i,
			LinkedAt: now.Add(-time.Duration(i+1) * 24 * time.Hour), LastSentAt: now.Add(-time.Duration(i) * time.Second)}
		if i == 7 {
			c.LastContact = now.Add(-time.Hour)
		}
		in.Candidates = append(in.Candidates, c)
	}
	return in
}

// BenchmarkRoute: one route call with 10 candidates through a tenant's chain to the test
// plugin's least-loaded rule in its own process: the chain's budget (a context with a
// 20ms deadline), encoding, the gRPC round trip over the Unix socket, decoding on both
// sides, the rule, the candidate check.
//
//	go test -run '^$' -bench 'BenchmarkRoute' -benchmem ./core/policy/goplugin
func BenchmarkRoute(b *testing.B) {
	rt, err := New(Options{Binaries: []Binary{bin("router")}})
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "router", Source: []byte("router")})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	// A call past its budget on a loaded machine is the chain doing its job (the default
	// answers), not a benchmark failure: such calls are counted (failed/op).
	var failed atomic.Int64
	c, err := policy.NewChain("acme", policy.ChainOptions{Defaults: policy.Defaults{Route: lastCandidate{}},
		OnFailure: func(policy.Failure) { failed.Add(1) }},
		policy.Binding{Name: "router", Plugin: p, Timeout: policy.DefaultTimeout})
	if err != nil {
		b.Fatal(err)
	}
	in := tenCandidates()
	b.Run("chain", func(b *testing.B) {
		failed.Store(0)
		b.ReportAllocs()
		for b.Loop() {
			if d := c.Route(ctx, in); d.Session != "session-09" {
				b.Fatalf("got %q", d.Session)
			}
		}
		b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
	})
	b.Run("chain/parallel", func(b *testing.B) {
		failed.Store(0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Route(ctx, in)
			}
		})
		b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := proto.Marshal(routeRequest(&in)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
