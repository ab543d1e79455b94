package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/goplugin"
	"github.com/wagate/wagate/sdk/goplugin/goplugintest"
)

// The router as the gateway sees it, served in process by goplugintest: no binary.
func TestRouter(t *testing.T) {
	p, err := goplugintest.Open(t, &Router{}, []byte(`{"routes":{"49":"de","1":"us","1212":"nyc"}}`))
	if err != nil {
		t.Fatal(err)
	}
	route := p.(policy.RouteHook)
	cands := []policy.Candidate{{Session: "de"}, {Session: "nyc"}, {Session: "us"}}
	for _, tc := range []struct{ chat, want string }{
		{"4915123456789@c.us", "de"},
		{"15551230000@c.us", "us"},
		{"12125550000@s.whatsapp.net", "nyc"}, // the longest prefix wins
		{"+49 151 2345678", "de"},
		{"447700900000@c.us", ""},       // no route for 44
		{"120363000000000000@g.us", ""}, // a group
		{"abc@lid", ""},                 // not a phone number
	} {
		in := policy.RouteInput{Now: time.Now(), Message: policy.Message{ID: "m", Tenant: "test", ChatID: tc.chat}, Candidates: cands}
		d, err := route.Route(context.Background(), in)
		if err != nil || d.Session != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.chat, d.Session, err, tc.want)
		}
	}
	// The country's session is not among the candidates: no opinion.
	d, err := route.Route(context.Background(), policy.RouteInput{Now: time.Now(),
		Message: policy.Message{ChatID: "4915123456789@c.us"}, Candidates: cands[1:]})
	if err != nil || d.Session != "" {
		t.Errorf("absent session: got %q, %v; want no opinion", d.Session, err)
	}
}

func TestRouterConfig(t *testing.T) {
	for _, cfg := range []string{
		`{"routes":{"+49":"de"}}`,
		`{"routes":{"49":""}}`,
		`{"routes":{"":"x"}}`,
		`{"route":{"49":"de"}}`,
		`{"routes":["49"]}`,
	} {
		if _, err := goplugintest.Open(t, &Router{}, []byte(cfg)); !errors.Is(err, policy.ErrBadConfig) {
			t.Errorf("%s: got %v, want ErrBadConfig", cfg, err)
		}
	}
	if _, err := goplugintest.Open(t, &Router{}, nil); err != nil {
		t.Errorf("no configuration: %v", err)
	}
}

// The router built as a binary, pinned and run by the gateway's go-plugin runtime: what
// README.md tells an operator to do.
func TestRouterBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	path := filepath.Join(t.TempDir(), "goplugin-router")
	if out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	rt, err := goplugin.New(goplugin.Options{Binaries: []goplugin.Binary{{Name: "country-router", Path: path, SHA256: hex.EncodeToString(sum[:])}}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Open(context.Background(), rt, policy.Spec{Tenant: "acme", Name: "router", Source: []byte("country-router"),
		Config: []byte(`{"routes":{"49":"de"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := policy.NewChain("acme", policy.ChainOptions{}, policy.Binding{Name: "router", Plugin: p, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := c.Route(context.Background(), policy.RouteInput{Message: policy.Message{ID: "m", ChatID: "4915123456789@c.us"},
		Candidates: []policy.Candidate{{Session: "us"}, {Session: "de"}}})
	if d.Session != "de" {
		t.Fatalf("got %q, want de", d.Session)
	}
}
