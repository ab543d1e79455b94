package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/store"
)

// slow is the budget of the tests' Lua calls: the default (20 ms) can be overrun on a
// loaded machine under -race, and the chain then answers with the default.
const slow = policy.Duration(time.Second)

// TestForgetRebuildsChains: two catalogs over one store stand for two nodes whose
// mirrors replicate at once. What A uploads, activates and binds runs on B only once B
// is told of the keys (Forget), and then does; a change of a policy B's chain does not
// bind rebuilds nothing; bindings deleted under B drop its chain for the defaults.
func TestForgetRebuildsChains(t *testing.T) {
	ctx := context.Background()
	a := newHarness(t, t.TempDir())
	b := open(t, a.db)
	settle := func() { b.c.forget.Wait() } // the rebuild Forget started, if any
	uk := "447700900000@c.us"

	if _, err := a.c.Put(ctx, "acme", "router", Upload{Kind: KindLua, Source: []byte(byPrefix)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.c.SetBindings(ctx, "acme", Bindings{Route: []Ref{{Policy: "router", Timeout: slow}}}); err != nil {
		t.Fatal(err)
	}
	if got := a.route(t, uk); got != "uk" {
		t.Fatalf("A bound: %s, want uk", got)
	}
	if got := b.route(t, uk); got != "de" {
		t.Fatalf("B before Forget: %s, want the default (de)", got)
	}
	b.c.Forget([][]byte{
		store.Key(store.PrefixPolicy, "acme", "router"), store.Key(store.PrefixPolicyVersion, "acme", "router", vkey(1)),
		store.Key(store.PrefixPolicyBindings, "acme"), store.Key(store.PrefixSession, "acme", "uk"),
	})
	settle()
	if got := b.route(t, uk); got != "uk" {
		t.Fatalf("B after Forget: %s, want uk", got)
	}

	// An activation on A: B runs v2 after Forget of the policy's record.
	if _, err := a.c.Put(ctx, "acme", "router", Upload{Kind: KindLua, Source: []byte(alwaysUS), Activate: true}); err != nil {
		t.Fatal(err)
	}
	if got := b.route(t, uk); got != "uk" {
		t.Fatalf("B before Forget of the activation: %s, want uk (v1)", got)
	}
	b.c.Forget([][]byte{store.Key(store.PrefixPolicy, "acme", "router"), store.Key(store.PrefixPolicyVersion, "acme", "router", vkey(2))})
	settle()
	if got := b.route(t, uk); got != "us" {
		t.Fatalf("B after Forget of the activation: %s, want us (v2)", got)
	}

	// A policy the chain does not bind: no rebuild.
	if _, err := a.c.Put(ctx, "acme", "unbound", Upload{Kind: KindLua, Source: []byte(byPrefix)}); err != nil {
		t.Fatal(err)
	}
	before := b.chains.For("acme")
	b.c.Forget([][]byte{store.Key(store.PrefixPolicy, "acme", "unbound")})
	settle()
	if b.chains.For("acme") != before {
		t.Error("a change of an unbound policy rebuilt the chain")
	}

	// Bindings deleted (the tenant deleted on another node): the defaults.
	if err := a.db.Update(func(txn *badger.Txn) error { return txn.Delete(store.Key(store.PrefixPolicyBindings, "acme")) }); err != nil {
		t.Fatal(err)
	}
	if got := b.route(t, uk); got != "us" {
		t.Fatalf("B before Forget of the delete: %s, want us", got)
	}
	b.c.Forget([][]byte{store.Key(store.PrefixPolicyBindings, "acme")})
	settle()
	if got := b.route(t, uk); got != "de" {
		t.Fatalf("B after Forget of the delete: %s, want the default (de)", got)
	}

	b.c.Close()
	b.c.Forget([][]byte{store.Key(store.PrefixPolicyBindings, "acme")}) // a no-op after Close
}

// TestForgetUnderTheCatalogsLock: statesync may call Applied from inside a write the
// catalog makes under its lock; Forget must return without that lock, and the rebuild
// happens once the write is done.
func TestForgetUnderTheCatalogsLock(t *testing.T) {
	ctx := context.Background()
	a := newHarness(t, t.TempDir())
	b := open(t, a.db)
	if _, err := a.c.SetBindings(ctx, "acme", Bindings{Route: []Ref{{Builtin: "first"}}}); err != nil {
		t.Fatal(err)
	}
	before := b.chains.For("acme") // the defaults: B was not told of the bindings
	b.c.mu.Lock()
	returned := make(chan struct{})
	go func() {
		b.c.Forget([][]byte{store.Key(store.PrefixPolicyBindings, "acme")})
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Forget waits for the catalog's lock")
	}
	if b.chains.For("acme") != before {
		t.Fatal("the chain was rebuilt while the catalog's lock was held")
	}
	b.c.mu.Unlock()
	b.c.forget.Wait()
	if b.chains.For("acme") == before {
		t.Fatal("no chain built after the lock was released")
	}
}
