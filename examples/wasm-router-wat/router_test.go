package router_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/wasm"
	"github.com/wagate/wagate/core/policy/wasm/wasmtest"
)

// TestRouter assembles router.wat with wat2wasm (skipped without it) and routes through
// it with the gateway's WASM host.
func TestRouter(t *testing.T) {
	ctx := context.Background()
	mod := wasmtest.Wat2Wasm(t, "router.wat")
	rt := wasm.New(wasm.Options{})
	defer rt.Close()
	var log strings.Builder
	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "least-loaded", Source: mod,
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := p.(policy.RouteHook)
	c := func(s, state string, depth, minute int) policy.Candidate {
		return policy.Candidate{Session: s, Provider: "whatsmeow", State: state, QueueDepth: depth, SentMinute: minute}
	}
	long := make([]policy.Candidate, 2000) // an input of ~150 KB: memory grows
	for i := range long {
		long[i] = c(strings.Repeat("x", 10)+string(rune('a'+i%26)), "WORKING", 5000-i, 0)
	}
	for _, tc := range []struct {
		name  string
		cands []policy.Candidate
		want  string
	}{
		{"shortest queue", []policy.Candidate{c("a", "WORKING", 3, 0), c("b", "WORKING", 1, 9), c("c", "WORKING", 2, 0)}, "b"},
		{"tie: fewer sent", []policy.Candidate{c("a", "WORKING", 1, 5), c("b", "WORKING", 1, 2), c("c", "WORKING", 1, 2)}, "b"},
		{"only WORKING", []policy.Candidate{c("a", "STARTING", 0, 0), c("b", "WORKING", 7, 0), c("c", "WORKINGX", 0, 0)}, "b"},
		{"none WORKING", []policy.Candidate{c("a", "FAILED", 0, 0)}, ""},
		{"2000 candidates", long, long[1999].Session},
	} {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		d, err := r.Route(cctx, policy.RouteInput{Message: policy.Message{ID: "m"}, Candidates: tc.cands})
		cancel()
		if err != nil || d.Session != tc.want {
			t.Errorf("%s: %+v, %v; want %q", tc.name, d, err, tc.want)
		}
	}
	if !strings.Contains(log.String(), `level=WARN msg="no WORKING candidate"`) {
		t.Errorf("log: %s", log.String())
	}
}
