package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
	luahost "github.com/wagate/wagate/core/policy/lua"
	"github.com/wagate/wagate/core/store"
)

// byPrefix routes chats starting with "44" to "uk" and the rest to no opinion.
const byPrefix = `
function route(msg, candidates)
  if string.sub(msg.chat_id, 1, 2) == "44" then
    for i = 1, #candidates do
      if candidates[i].session == "uk" then return candidates[i] end
    end
  end
  return nil
end
`

// alwaysUS routes everything to "us".
const alwaysUS = `
function route(msg, candidates)
  for i = 1, #candidates do
    if candidates[i].session == "us" then return candidates[i] end
  end
end
`

type harness struct {
	db     *store.DB
	chains *policy.Chains
	c      *Catalog
}

func newHarness(t *testing.T, dir string) *harness {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return open(t, db)
}

func open(t *testing.T, db *store.DB) *harness {
	reg := policy.NewRegistry()
	if err := reg.Register("first", func(policy.Spec) policy.Plugin { return first{} }); err != nil {
		t.Fatal(err)
	}
	chains := policy.NewChains(policy.ChainOptions{Defaults: policy.Defaults{Route: first{}}})
	c := New(Deps{DB: db, Chains: chains, Runtimes: map[string]policy.Runtime{KindLua: luahost.New(luahost.Options{})},
		Builtins: reg, KV: policy.NewMemKV(policy.KVLimits{})}, Options{})
	return &harness{db: db, chains: chains, c: c}
}

// first routes to the first candidate: the default and a built-in.
type first struct{}

func (first) Info() policy.Info                                { return policy.NativeInfo(policy.HookRoute) }
func (first) Configure(context.Context, json.RawMessage) error { return nil }
func (first) Close() error                                     { return nil }
func (first) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	return policy.RouteDecision{Session: in.Candidates[0].Session}, nil
}

func (h *harness) route(t *testing.T, chat string) string {
	t.Helper()
	in := policy.RouteInput{Now: time.Now(), Message: policy.Message{ID: "msg_1", Tenant: "acme", ChatID: chat, Kind: "text"},
		Candidates: []policy.Candidate{{Session: "de", State: "WORKING"}, {Session: "uk", State: "WORKING"}, {Session: "us", State: "WORKING"}}}
	return h.chains.For("acme").Route(context.Background(), in).Session
}

func TestUploadBindActivateRollback(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	h := newHarness(t, dir)
	v1, err := h.c.Put(ctx, "acme", "router", Upload{Kind: KindLua, Source: []byte(byPrefix), Tests: []TestVector{{
		Hook: "route", Input: json.RawMessage(`{"message":{"ChatID":"447700900000@c.us"},"candidates":[{"Session":"uk"},{"Session":"de"}]}`),
		Want: json.RawMessage(`{"session":"uk"}`),
	}}})
	if err != nil || v1.Version != 1 || v1.Hooks != "route" || v1.SHA256 == "" {
		t.Fatalf("put v1: %+v %v", v1, err)
	}
	if got := h.route(t, "447700900000@c.us"); got != "de" {
		t.Fatalf("before binding: %s, want the default (de)", got)
	}
	if _, err := h.c.SetBindings(ctx, "acme", Bindings{Route: []Ref{{Policy: "router"}}}); err != nil {
		t.Fatal(err)
	}
	if got := h.route(t, "447700900000@c.us"); got != "uk" {
		t.Fatalf("bound: %s, want uk", got)
	}
	if got := h.route(t, "15551230000@c.us"); got != "de" {
		t.Fatalf("no opinion: %s, want the default (de)", got)
	}
	// v2 is stored but not active until activated; activation swaps the chain.
	v2, err := h.c.Put(ctx, "acme", "router", Upload{Kind: KindLua, Source: []byte(alwaysUS)})
	if err != nil || v2.Version != 2 {
		t.Fatalf("put v2: %+v %v", v2, err)
	}
	if got := h.route(t, "447700900000@c.us"); got != "uk" {
		t.Fatalf("v2 not active yet: %s, want uk", got)
	}
	if _, err := h.c.Activate(ctx, "acme", "router", 2); err != nil {
		t.Fatal(err)
	}
	if got := h.route(t, "447700900000@c.us"); got != "us" {
		t.Fatalf("after activating v2: %s, want us", got)
	}
	// Rollback, then a restart loads the stored chain.
	if _, err := h.c.Activate(ctx, "acme", "router", 1); err != nil {
		t.Fatal(err)
	}
	h2 := open(t, h.db)
	if err := h2.c.LoadAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h2.route(t, "447700900000@c.us"); got != "uk" {
		t.Fatalf("after restart: %s, want uk (v1 active)", got)
	}
	p, vs, err := h.c.Get("acme", "router")
	if err != nil || p.Active != 1 || p.Latest != 2 || len(vs) != 2 || vs[0].Version != 2 || vs[0].Source != nil {
		t.Fatalf("get: %+v %+v %v", p, vs, err)
	}
	if err := h.c.Delete(ctx, "acme", "router"); !errors.Is(err, ErrBound) {
		t.Fatalf("delete while bound: %v", err)
	}
	if _, err := h.c.SetBindings(ctx, "acme", Bindings{Route: []Ref{{Builtin: "first"}}}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.Delete(ctx, "acme", "router"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.c.Get("acme", "router"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestUploadsRefused(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, t.TempDir())
	for _, c := range []struct {
		name string
		up   Upload
		want error
	}{
		{"unknown kind", Upload{Kind: "python", Source: []byte("x")}, ErrUnknownKind},
		{"empty", Upload{Kind: KindLua}, ErrInvalid},
		{"too big", Upload{Kind: KindLua, Source: make([]byte, 65<<10)}, ErrInvalid},
		{"syntax error", Upload{Kind: KindLua, Source: []byte("function route(")}, ErrInvalid},
		{"no hooks", Upload{Kind: KindLua, Source: []byte("x = 1")}, ErrInvalid},
		{"failing vector", Upload{Kind: KindLua, Source: []byte(alwaysUS), Tests: []TestVector{{Hook: "route",
			Input: json.RawMessage(`{"candidates":[{"Session":"us"}]}`), Want: json.RawMessage(`{"session":"uk"}`)}}}, ErrTestFailed},
		{"vector for a missing hook", Upload{Kind: KindLua, Source: []byte(alwaysUS), Tests: []TestVector{{Hook: "rate",
			Input: json.RawMessage(`{}`), Want: json.RawMessage(`{}`)}}}, ErrTestFailed},
	} {
		if _, err := h.c.Put(ctx, "acme", "p", c.up); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if ps, _ := h.c.List("acme"); len(ps) != 0 {
		t.Fatalf("refused uploads were stored: %+v", ps)
	}
	for _, b := range []Bindings{
		{Route: []Ref{{Policy: "absent"}}},
		{Route: []Ref{{Builtin: "nope"}}},
		{Route: []Ref{{}}},
		{Rate: []Ref{{Builtin: "first"}}}, // first has no rate hook
	} {
		if _, err := h.c.SetBindings(ctx, "acme", b); err == nil {
			t.Errorf("bindings %+v accepted", b)
		}
	}
}

// A binding may name an operator's go-plugin binary; without a go-plugin runtime it is
// refused, and naming two kinds in one entry is refused.
func TestGopluginRefs(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, t.TempDir())
	if _, err := h.c.SetBindings(ctx, "acme", Bindings{Route: []Ref{{Goplugin: "router"}}}); !errors.Is(err, ErrBadBinding) {
		t.Fatalf("no go-plugin runtime: %v", err)
	}
	if _, err := h.c.SetBindings(ctx, "acme", Bindings{Route: []Ref{{Goplugin: "router", Builtin: "first"}}}); !errors.Is(err, ErrBadBinding) {
		t.Fatalf("two kinds: %v", err)
	}
	// A native registry with a "last" rule stands in for the go-plugin runtime.
	reg := policy.NewRegistry()
	if err := reg.Register("last", func(policy.Spec) policy.Plugin { return last{} }); err != nil {
		t.Fatal(err)
	}
	h.c.d.Goplugins = reg
	if _, err := h.c.SetBindings(ctx, "acme", Bindings{Route: []Ref{{Goplugin: "last"}}}); err != nil {
		t.Fatal(err)
	}
	if got := h.route(t, "447700900000@c.us"); got != "us" {
		t.Fatalf("routed %s, want us (the go-plugin entry's answer)", got)
	}
}

// last routes to the last candidate.
type last struct{ first }

func (last) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	return policy.RouteDecision{Session: in.Candidates[len(in.Candidates)-1].Session}, nil
}
