package tenant

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestKeyScopes(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{DefaultPlan: Plan{MaxSessions: 1}})
	_, first, err := s.Create(ctx, CreateInput{ID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first.Scopes, []Scope{ScopeAdmin}) {
		t.Errorf("first key scopes %v, want [admin]", first.Scopes)
	}
	for _, tc := range []struct {
		name string
		in   []Scope
		want []Scope
		err  bool
	}{
		{"none is admin", nil, []Scope{ScopeAdmin}, false},
		{"read", []Scope{ScopeRead}, []Scope{ScopeRead}, false},
		{"sorted, deduplicated", []Scope{ScopeSend, ScopeRead, ScopeSend}, []Scope{ScopeRead, ScopeSend}, false},
		{"unknown", []Scope{ScopeRead, "write"}, nil, true},
		{"empty string", []Scope{""}, nil, true},
	} {
		nk, err := s.CreateKey(ctx, "acme", tc.name, tc.in...)
		if tc.err {
			var se *ScopeError
			if !errors.Is(err, ErrInvalidScope) || !errors.As(err, &se) {
				t.Errorf("%s: err %v, want ErrInvalidScope", tc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(nk.Scopes, tc.want) {
			t.Errorf("%s: scopes %v, want %v", tc.name, nk.Scopes, tc.want)
		}
		p, err := s.Authenticate(ctx, nk.Key)
		if err != nil || !slices.Equal(p.Scopes, tc.want) {
			t.Errorf("%s: principal %+v %v, want scopes %v", tc.name, p, err, tc.want)
		}
	}
	keys, err := s.ListKeys(ctx, "acme")
	if err != nil || len(keys) != 4 || !slices.Equal(keys[0].Scopes, []Scope{ScopeAdmin}) {
		t.Errorf("list: %+v %v", keys, err)
	}

	// A key stored before scopes existed may do everything.
	old := Key{ID: "x"}
	if got := old.EffectiveScopes(); !slices.Equal(got, []Scope{ScopeAdmin}) {
		t.Errorf("old key scopes %v", got)
	}
}

func TestPrincipalAllows(t *testing.T) {
	for _, tc := range []struct {
		p    Principal
		need Scope
		want bool
	}{
		{Principal{Admin: true}, ScopeAdmin, true},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeAdmin}}, ScopeSend, true},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeRead}}, ScopeRead, true},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeRead}}, ScopeSend, false},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeRead}}, ScopeAdmin, false},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeSend}}, ScopeRead, false},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeRead, ScopeSend}}, ScopeSend, true},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeRead, ScopeSend}}, ScopeAdmin, false},
		{Principal{Tenant: "a", Scopes: []Scope{ScopeRead}}, "", true},
	} {
		if got := tc.p.Allows(tc.need); got != tc.want {
			t.Errorf("%v allows %q = %v, want %v", tc.p.Scopes, tc.need, got, tc.want)
		}
	}
}

func TestUpdatePlan(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{DefaultPlan: Plan{MaxSessions: 1, MaxMessagesPerDay: 1}})
	if _, _, err := s.Create(ctx, CreateInput{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CountMessages(ctx, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.CountMessages(ctx, "acme", 1); !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("over the old plan: %v", err)
	}
	ten, name := 10, "Acme Inc"
	got, err := s.Update(ctx, "acme", UpdateInput{MaxMessagesPerDay: &ten, Name: &name})
	if err != nil || got.Plan.MaxMessagesPerDay != 10 || got.Plan.MaxSessions != 1 || got.Name != name {
		t.Fatalf("update: %+v %v", got, err)
	}
	// At once, through the cache: today's usage is kept.
	if err := s.CountMessages(ctx, "acme", 9); err != nil {
		t.Errorf("under the new plan: %v", err)
	}
	if err := s.CountMessages(ctx, "acme", 1); !errors.Is(err, ErrDailyLimit) {
		t.Errorf("past the new plan: %v", err)
	}
	zero, neg, empty := 0, -1, ""
	for _, tc := range []struct {
		name string
		id   string
		in   UpdateInput
		want error
	}{
		{"unknown tenant", "nope", UpdateInput{MaxSessions: &ten}, ErrNotFound},
		{"bad id", "NOPE!", UpdateInput{MaxSessions: &ten}, ErrNotFound},
		{"zero sessions", "acme", UpdateInput{MaxSessions: &zero}, ErrInvalidPlan},
		{"negative messages", "acme", UpdateInput{MaxMessagesPerDay: &neg}, ErrInvalidPlan},
		{"empty name", "acme", UpdateInput{Name: &empty}, ErrInvalidName},
	} {
		if _, err := s.Update(ctx, tc.id, tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if got, _ := s.Get(ctx, "acme"); got.Plan.MaxSessions != 1 || got.Plan.MaxMessagesPerDay != 10 {
		t.Errorf("a refused update changed the tenant: %+v", got)
	}
}
