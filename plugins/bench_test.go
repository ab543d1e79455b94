package plugins

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
	luahost "github.com/wagate/wagate/core/policy/lua"
)

// tenCandidates is the benchmark's route input: ten sessions with full statistics, one
// of which talked with the chat.
func tenCandidates() policy.RouteInput {
	in := policy.RouteInput{Now: now, Message: msg}
	for i := range 10 {
		c := policy.Candidate{Session: fmt.Sprintf("session-%02d", i), Provider: "whatsmeow", State: "WORKING",
			QueueDepth: 10 - i, SentMinute: i, SentHour: 10 * i, SentDay: 100 * i,
			LinkedAt: ago(time.Duration(i+1) * 24 * time.Hour), LastSentAt: ago(time.Duration(i) * time.Second)}
		if i == 7 {
			c.LastContact = ago(time.Hour)
		}
		in.Candidates = append(in.Candidates, c)
	}
	return in
}

var routeRules = []struct{ native, lua, config string }{
	{"sticky-contact", "sticky/sticky-contact.lua", `{}`},
	{"least-loaded", "leastloaded/least-loaded.lua", `{}`},
	{"round-robin", "roundrobin/round-robin.lua", `{}`},
	{"weighted", "weighted/weighted.lua", `{"weights":{"session-00":3}}`},
}

// chainWith binds p alone in a chain with the sticky-contact default, as the gateway does.
func chainWith(tb testing.TB, p policy.Plugin) *policy.Chain {
	defs, err := Defaults(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := policy.NewChain("acme", policy.ChainOptions{Defaults: defs, OnFailure: func(f policy.Failure) {
		tb.Errorf("policy failed: %+v", f)
	}}, policy.Binding{Name: "router", Plugin: p, Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func nativeRoute(tb testing.TB, name, config string) *policy.Chain {
	reg := policy.NewRegistry()
	if err := Register(reg); err != nil {
		tb.Fatal(err)
	}
	p, err := policy.Open(context.Background(), reg, policy.Spec{Tenant: "acme", Name: "router", Source: []byte(name), Config: []byte(config)})
	if err != nil {
		tb.Fatal(err)
	}
	return chainWith(tb, p)
}

func luaRoute(tb testing.TB, file, config string) *policy.Chain {
	src, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := policy.Open(context.Background(), luahost.New(luahost.Options{}), policy.Spec{Tenant: "acme", Name: "router",
		Source: src, Config: []byte(config), KV: policy.NewMemKV(policy.KVLimits{}).For("acme")})
	if err != nil {
		tb.Fatal(err)
	}
	return chainWith(tb, p)
}

// TestNativeRouteAllocs: a route call through the chain to a native rule allocates
// nothing (the budget is measured, not armed; metrics are resolved at bind time).
func TestNativeRouteAllocs(t *testing.T) {
	ctx := context.Background()
	in := tenCandidates()
	for _, r := range routeRules {
		c := nativeRoute(t, r.native, r.config)
		if n := testing.AllocsPerRun(1000, func() {
			if d := c.Route(ctx, in); d.Session == "" {
				t.Fatal("no session")
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per route call, want 0", r.native, n)
		}
	}
}

// BenchmarkRoute: one route call with 10 candidates through a tenant's chain (the
// binding's budget, metrics, the candidate check), native and Lua. The Lua cases also
// report cpu-ns/op, the CPU time of the calling thread per call (loopCPU).
//
//	go test -run '^$' -bench 'BenchmarkRoute' -benchmem ./plugins
func BenchmarkRoute(b *testing.B) {
	ctx := context.Background()
	in := tenCandidates()
	for _, r := range routeRules {
		b.Run("native/"+r.native, func(b *testing.B) {
			c := nativeRoute(b, r.native, r.config)
			b.ReportAllocs()
			for b.Loop() {
				c.Route(ctx, in)
			}
		})
	}
	for _, r := range routeRules {
		b.Run("lua/"+r.native, func(b *testing.B) {
			c := luaRoute(b, r.lua, r.config)
			b.ReportAllocs()
			loopCPU(b, func() { c.Route(ctx, in) })
		})
	}
	b.Run("lua/least-loaded/parallel", func(b *testing.B) {
		c := luaRoute(b, "leastloaded/least-loaded.lua", `{}`)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Route(ctx, in)
			}
		})
	})
	b.Run("abi-encode", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			buf = policy.AppendRouteInput(buf[:0], &in)
		}
	})
}
