//go:build !wasip1

package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/wasm"
	"github.com/wagate/wagate/core/policy/wasm/wasmtest"
)

// TestRouter builds the example from source and routes through it with the gateway's
// WASM host, in a chain whose default answers "default".
func TestRouter(t *testing.T) {
	ctx := context.Background()
	mod := wasmtest.BuildGo(t, ".")
	rt := wasm.New(wasm.Options{})
	defer rt.Close()
	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "by-country", Source: mod,
		Config: json.RawMessage(`{"routes":{"49":["de-1","de-2"],"44":["uk-1"],"1":["us-1"],"1242":["bs-1"]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := policy.NewChain("acme", policy.ChainOptions{Defaults: policy.Defaults{Route: fallback{}},
		OnFailure: func(f policy.Failure) { t.Errorf("failure: %+v", f) }},
		policy.Binding{Name: "by-country", Plugin: p, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all := candidates("default", "de-1", "de-2", "uk-1", "us-1", "bs-1")
	for _, tc := range []struct {
		chat  string
		cands []policy.Candidate
		want  string
	}{
		{"4915123456789@c.us", all, "de-1"},
		{"4915123456789@s.whatsapp.net", candidates("default", "de-2", "uk-1"), "de-2"},
		{"+44 7700 900123", all, "uk-1"},
		{"12125550123@c.us", all, "us-1"},
		{"12425550123@c.us", all, "bs-1"}, // the longest code wins
		{"4915123456789@c.us", candidates("default", "uk-1"), "default"},
		{"33612345678@c.us", all, "default"},
		{"120363025246125888@g.us", all, "default"},
	} {
		in := policy.RouteInput{Message: policy.Message{ID: "msg_1", ChatID: tc.chat}, Candidates: tc.cands}
		if d := c.Route(ctx, in); d.Session != tc.want {
			t.Errorf("%s: %q, want %q", tc.chat, d.Session, tc.want)
		}
	}
	for _, bad := range []string{`{"routes":{"4a":["x"]}}`, `{"routes":{"49":[]}}`, `{"route":{}}`} {
		if _, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "bad", Source: mod, Config: json.RawMessage(bad)}); !errors.Is(err, policy.ErrBadConfig) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

type fallback struct{}

func (fallback) Route(context.Context, policy.RouteInput) (policy.RouteDecision, error) {
	return policy.RouteDecision{Session: "default"}, nil
}

func candidates(names ...string) []policy.Candidate {
	var cs []policy.Candidate
	for _, n := range names {
		cs = append(cs, policy.Candidate{Session: n, State: "WORKING"})
	}
	return cs
}
