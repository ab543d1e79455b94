package wasm

import (
	"testing"

	"github.com/wagate/wagate/core/policy"
)

// TestInstrumentKeepsBehaviour: a module using instructions with every kind of
// immediate, its own globals and a start function computes the same answer once
// rewritten (interrupt.go): the start function runs before the hook, the module's
// global indices are unchanged, loops still loop.
func TestInstrumentKeepsBehaviour(t *testing.T) {
	m := guest(1)
	g := m.global() // the module's own global, 0 before the start function
	m.start = m.fn("", tsNone, tsNone, nil, i32Const(-1000000), globalSet(g))
	m.hasStart = true
	cat := func(parts ...[]byte) (b []byte) {
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	// local 2 counts a loop from 0 to 5; the answer is 1 only if every step below held.
	body := cat(
		opBlock, opLoop, // loop: local2 += 1 while local2 < 5
		localGet(2), i32Const(1), opI32Add, localSet(2),
		localGet(2), i32Const(5), opI32LtU, brIf(0),
		opEnd, opEnd,
		[]byte{0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, opDrop, // f64.const 1.0
		[]byte{0x43, 0, 0, 0x80, 0x3f}, opDrop, // f32.const 1.0
		i64Const(-1<<40), opDrop,
		// memory.fill(0, 7, 4); i32.load8_u(2) == 7
		i32Const(0), i32Const(7), i32Const(4), []byte{0xfc, 0x0b, 0x00},
		// v128.const ...; i32x4.extract_lane 1 == 5
		[]byte{0xfd, 0x0c}, make([]byte, 4), []byte{5, 0, 0, 0}, make([]byte, 8),
		[]byte{0xfd, 0x1b, 0x01}, i32Const(5), opI32Eq,
		i32Const(2), []byte{0x2d, 0x00, 0x00}, i32Const(7), opI32Eq, opI32And, // i32.load8_u
		localGet(2), i32Const(5), opI32Eq, opI32And,
		globalGet(g), i32Const(-1000000), opI32Eq, opI32And,
		localSet(3),
		// a br_table to the end of a block with a result, then the answer
		[]byte{0x02, 0x7f}, i32Const(9), localGet(3), []byte{0x0e, 0x01, 0x00, 0x00}, opEnd, opDrop,
		localGet(3),
	)
	m.fn("wagate_route", tsPtrLen, tsI32, []byte{tI32, tI32}, body)
	p, err := policy.Open(ctx, testRuntime, policy.Spec{Tenant: "acme", Name: "p", Source: m.bytes()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d, err := p.(policy.RouteHook).Route(ctx, policy.RouteInput{Candidates: twoCands})
	if err != nil || d.Session != "s2" {
		t.Fatalf("%+v, %v; want s2 (every step held)", d, err)
	}
}
