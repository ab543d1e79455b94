package wasm

import (
	"fmt"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/wasm/wasmtest"
)

// tenCandidates is the route input of the benchmarks, as plugins/bench_test.go's: ten
// sessions with full statistics.
func tenCandidates() policy.RouteInput {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	in := policy.RouteInput{Now: now, Message: policy.Message{ID: "msg_1", Tenant: "acme", ChatID: "15551230000@c.us",
		Kind: "text", Text: "hi", CreatedAt: now.Add(-time.Second)}}
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

// BenchmarkRoute: one route call with 10 candidates through a tenant's chain, to the
// least-loaded rule in plain WebAssembly (leastLoaded): the chain's budget (a context
// with a deadline), metrics and candidate check; a pooled instance; the input encoded
// and written through wagate_alloc; the guest's run; the interruption watch (one
// context.AfterFunc for both calls, interrupt.go).
//
//	go test -run '^$' -bench 'BenchmarkRoute' -benchmem ./core/policy/wasm
//
// Besides ns/op, the single-caller cases report cpu-ns/op, the CPU time of the calling
// thread per call (loopCPU). go-sdk/least-loaded is the same rule written with the Go SDK
// (examples/wasm-builtins/least-loaded), built from source first.
func BenchmarkRoute(b *testing.B) {
	in := tenCandidates()
	for _, g := range []struct {
		name string
		mod  func(testing.TB) []byte
	}{
		{"least-loaded", func(testing.TB) []byte { return leastLoaded().bytes() }},
		{"go-sdk/least-loaded", func(tb testing.TB) []byte { return wasmtest.Builtin(tb, "least-loaded") }},
	} {
		b.Run(g.name, func(b *testing.B) { benchRoute(b, g.mod(b), in) })
	}
	b.Run("least-loaded/parallel", func(b *testing.B) {
		p, err := policy.Open(ctx, testRuntime, policy.Spec{Tenant: "acme", Name: "router", Source: leastLoaded().bytes()})
		if err != nil {
			b.Fatal(err)
		}
		c, err := policy.NewChain("acme", policy.ChainOptions{Defaults: policy.Defaults{Route: firstCandidate{}}},
			policy.Binding{Name: "router", Plugin: p, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Route(ctx, in)
			}
		})
	})
}

func benchRoute(b *testing.B, mod []byte, in policy.RouteInput) {
	p, err := policy.Open(ctx, testRuntime, policy.Spec{Tenant: "acme", Name: "router", Source: mod})
	if err != nil {
		b.Fatal(err)
	}
	c, err := policy.NewChain("acme", policy.ChainOptions{Defaults: policy.Defaults{Route: firstCandidate{}},
		OnFailure: func(f policy.Failure) { b.Errorf("policy failed: %+v", f) }},
		policy.Binding{Name: "router", Plugin: p, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if d := c.Route(ctx, in); d.Session != "session-09" {
		b.Fatalf("routed to %q", d.Session)
	}
	b.ReportAllocs()
	loopCPU(b, func() { c.Route(ctx, in) })
}
