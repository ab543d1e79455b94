package policy

import (
	"context"
	"testing"
)

func TestChains(t *testing.T) {
	ctx := context.Background()
	cs := NewChains(ChainOptions{Defaults: Defaults{Route: first}})
	in := RouteInput{Candidates: cands3}
	def := cs.For("acme")
	if def != cs.For("acme") || def.Tenant() != "acme" || cs.For("other") == def {
		t.Fatal("For does not keep one chain per tenant")
	}
	if d := def.Route(ctx, in); d.Session != "a" {
		t.Errorf("default chain: %q", d.Session)
	}
	own, err := NewChain("acme", cs.Options(), Binding{Name: "p", Plugin: router("c")})
	if err != nil {
		t.Fatal(err)
	}
	if old := cs.Set("acme", own); old != def {
		t.Error("Set did not return the replaced chain")
	}
	if d := cs.For("acme").Route(ctx, in); d.Session != "c" {
		t.Errorf("after Set: %q", d.Session)
	}
	if err := cs.Delete("nobody").Close(); err != nil {
		t.Errorf("closing no chain: %v", err)
	}
	if old := cs.Delete("acme"); old != own {
		t.Error("Delete did not return the chain")
	}
	if d := cs.For("acme").Route(ctx, in); d.Session != "a" {
		t.Errorf("after Delete: %q, want a new default chain", d.Session)
	}
}

func TestChainsCloseClosesEveryChain(t *testing.T) {
	cs := NewChains(ChainOptions{})
	a, b := cs.For("a"), cs.For("b")
	cs.Close()
	for _, c := range []*Chain{a, b} {
		if !c.closed.Load() {
			t.Fatal("a chain was left open")
		}
	}
	if cs.For("a") == a {
		t.Fatal("For after Close returned a closed chain")
	}
}
