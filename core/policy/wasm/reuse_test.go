package wasm

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wagate/wagate/core/policy"
)

// countingGuest is leastLoaded with a wagate_alloc that counts its calls (export
// "allocs" returns the count) and, when reuse >= 0, a wagate_input_reuse returning it.
func countingGuest(reuse int32) *mod {
	m := &mod{memMin: 1}
	g := m.global()
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, globalGet(g), i32Const(1), opI32Add, globalSet(g), i32Const(inputAt))
	m.fn("allocs", tsNone, tsI32, nil, globalGet(g))
	if reuse >= 0 {
		m.fn("wagate_input_reuse", tsNone, tsI32, nil, i32Const(reuse))
	}
	return withLeastLoaded(m)
}

// leastLoadedIndex is the rule of leastLoaded, in Go.
func leastLoadedIndex(cs []policy.Candidate) int {
	best := 0
	for i, c := range cs {
		b := cs[best]
		if c.QueueDepth < b.QueueDepth || c.QueueDepth == b.QueueDepth && c.SentMinute < b.SentMinute {
			best = i
		}
	}
	return best
}

// TestInputReuse: a module exporting wagate_input_reuse returning 1 is asked for a buffer
// once and then gets every input that fits written over it; one growing past it gets a
// new one. Its answers are those of the same module without the export (asked for a
// buffer at every call) and of the rule in Go, over a table of inputs.
func TestInputReuse(t *testing.T) {
	reuse, plain, off := mustOpen(t, countingGuest(1).bytes(), loadOpts{}),
		mustOpen(t, countingGuest(-1).bytes(), loadOpts{}), mustOpen(t, countingGuest(0).bytes(), loadOpts{})
	var inputs [][]policy.Candidate
	for k := range 6 {
		cs := make([]policy.Candidate, 1+k*3)
		for i := range cs {
			cs[i] = policy.Candidate{Session: fmt.Sprintf("s%d-%d", k, i), QueueDepth: (i*7 + k) % 5, SentMinute: (i + k) % 3}
		}
		inputs = append(inputs, cs)
	}
	for _, cs := range inputs {
		want := cs[leastLoadedIndex(cs)].Session
		for name, p := range map[string]*Plugin{"reuse": reuse, "plain": plain, "reuse 0": off} {
			d, err := p.Route(ctx, policy.RouteInput{Candidates: cs})
			if err != nil || d.Session != want {
				t.Errorf("%s, %d candidates: %q, %v; want %q", name, len(cs), d.Session, err, want)
			}
		}
	}
	allocs := func(p *Plugin) (uint32, uint32) {
		t.Helper()
		in, err := p.acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer p.release(in, true)
		r, err := in.mod.ExportedFunction("allocs").Call(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(r[0]), in.inCap
	}
	// Load's and Configure's instance serves the calls one at a time; Configure's "{}"
	// needs no wagate_alloc (no wagate_configure).
	if n, c := allocs(reuse); n != 1 || c != minReusedInput {
		t.Errorf("reuse: %d wagate_alloc calls for %d inputs, buffer of %d; want 1, %d", n, len(inputs), c, minReusedInput)
	}
	if n, _ := allocs(plain); n != uint32(len(inputs)) {
		t.Errorf("without the export: %d wagate_alloc calls for %d inputs", n, len(inputs))
	}
	if n, _ := allocs(off); n != uint32(len(inputs)) {
		t.Errorf("reuse 0: %d wagate_alloc calls for %d inputs", n, len(inputs))
	}
	big := make([]policy.Candidate, 150) // 150 records of 64 bytes: past 4 KiB
	for i := range big {
		big[i] = policy.Candidate{Session: fmt.Sprintf("big-%03d", i), QueueDepth: 150 - i}
	}
	for range 2 {
		if d, err := reuse.Route(ctx, policy.RouteInput{Candidates: big}); err != nil || d.Session != "big-149" {
			t.Errorf("a larger input: %q, %v", d.Session, err)
		}
	}
	if n, c := allocs(reuse); n != 2 || c != 16<<10 {
		t.Errorf("after a larger input, twice: %d wagate_alloc calls, buffer of %d; want 2, %d", n, c, 16<<10)
	}
	if d, err := reuse.Route(ctx, policy.RouteInput{Candidates: inputs[1]}); err != nil || d.Session != inputs[1][leastLoadedIndex(inputs[1])].Session {
		t.Errorf("a small input again: %q, %v", d.Session, err)
	}
}

// TestInputReuseRefused: wagate_input_reuse must return 0 or 1 and have type () -> i32.
func TestInputReuseRefused(t *testing.T) {
	if _, err := open(t, countingGuest(2).bytes(), loadOpts{}); !errors.Is(err, ErrExport) {
		t.Errorf("returning 2: %v", err)
	}
	m := leastLoaded()
	m.fn("wagate_input_reuse", tsI32, tsI32, nil, i32Const(1))
	if _, err := open(t, m.bytes(), loadOpts{}); !errors.Is(err, ErrExport) {
		t.Errorf("of type (i32) -> i32: %v", err)
	}
}
