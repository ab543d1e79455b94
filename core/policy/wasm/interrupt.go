package wasm

import (
	"errors"
	"fmt"
	"strings"
)

// How a call is stopped at its deadline.
//
// wazero's own mechanism (RuntimeConfig.WithCloseOnContextDone) compiles, at every loop
// header, a call out of the compiled code into Go that looks at the module's exit code,
// and starts a goroutine per call to close the module when the context is done. The
// Go compiler's WebAssembly jumps back to a function's dispatch loop at most branches,
// so a Go guest paid that exit (~40 ns) per branch taken: most of a Go route call.
//
// Instead, the host rewrites every module before compiling it. It adds two mutable i32
// globals, $fuel and $intr (exported as interruptExport), a function $slow, and at the
// start of every function body and of every loop body the check
//
//	global.get $intr  if  unreachable  end
//	global.get $fuel  i32.const 1  i32.sub  global.set $fuel
//	global.get $fuel  i32.eqz  if  call $slow  end
//
// a few instructions that stay in compiled code. Every slowEvery checks, $slow runs:
//
//	i32.const slowEvery  global.set $fuel
//	i32.const 0  memory.grow  drop        ;; a no-op that leaves compiled code for Go
//	global.get $intr  if  unreachable  end
//
// A call arms a context.AfterFunc that sets $intr to 1 when the call's context is done;
// the guest traps at its next check and the instance, failed, is discarded. The exit to
// Go in $slow matters: compiled code cannot be preempted by the Go scheduler, so guests
// spinning on every P would otherwise keep the timer and the AfterFunc from ever
// running; at the exit the scheduler can take the P back. Every unbounded execution in
// WebAssembly goes through a loop or a call (a function body without either runs each
// instruction at most once), so every call still ends within its budget plus the
// scheduler's preemption delay and slowEvery checks (microseconds). Nothing else of the
// module changes: indices of existing functions, types and globals stay (the new ones
// come last); DWARF sections (which point at code offsets the rewrite moves) are
// dropped, the name section is kept.

// interruptExport is the name of the $intr global added to every module. A module may
// not export this name itself.
const interruptExport = "wagate.interrupt"

// startExport names the module's start function, if it has one: the rewrite removes the
// start section and exports the function under this name, and the host calls it right
// after instantiation (before anything else, as the start section would), under the
// same watch as every other call. Without it a start function would run inside
// InstantiateModule, before the host can reach $intr.
const startExport = "wagate.start"

// slowEvery is how many checks pass between two runs of $slow.
const slowEvery = 4096

// errInstrument: a function body the rewrite could not read.
var errInstrument = errors.New("wasm: cannot instrument the module")

// Section ids, and the rank of each in the order the binary format requires.
const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secCode     = 10
)

var sectionRank = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

type section struct {
	id         byte
	start, end int // the contents, after the id and size
}

// instrument returns src with the interrupt globals, $slow and the checks added.
func instrument(src []byte) ([]byte, error) {
	if len(src) < 8 || string(src[:4]) != "\x00asm" {
		return nil, ErrNotWasm
	}
	r := reader{b: src, pos: 8}
	var secs []section
	var importedGlobals, definedGlobals, importedFuncs, definedFuncs, types uint32
	voidType := int64(-1)
	hasMemory, hasCode := false, false
	start := int64(-1)
	for r.pos < len(src) {
		id := r.byte()
		size := r.u32()
		if r.err != nil || size > uint32(len(src)-r.pos) {
			return nil, fmt.Errorf("%w: truncated section", ErrNotWasm)
		}
		s := section{id: id, start: r.pos, end: r.pos + int(size)}
		secs = append(secs, s)
		r.pos = s.end
		sr := reader{b: src[:s.end], pos: s.start}
		switch id {
		case secType:
			types = sr.u32()
			for i := uint32(0); i < types && sr.err == nil; i++ {
				if sr.byte() != 0x60 {
					return nil, fmt.Errorf("%w: malformed type section", ErrNotWasm)
				}
				np := sr.u32()
				sr.skip(int(np))
				nr := sr.u32()
				sr.skip(int(nr))
				if np == 0 && nr == 0 && voidType < 0 {
					voidType = int64(i)
				}
			}
		case secImport:
			imps, err := importsOf(src)
			if err != nil {
				return nil, err
			}
			for _, d := range imps {
				switch d.kind {
				case 0:
					importedFuncs++
				case 3:
					importedGlobals++
				}
			}
		case secFunction:
			definedFuncs = sr.u32()
		case secMemory:
			hasMemory = sr.u32() > 0
		case secGlobal:
			definedGlobals = sr.u32()
		case secCode:
			hasCode = true
		case 8:
			start = int64(sr.u32())
		}
		if sr.err != nil {
			return nil, fmt.Errorf("%w: malformed section %d", ErrNotWasm, id)
		}
	}
	if !hasCode {
		return src, nil // no function: nothing runs, nothing to check
	}
	fuel, intr := importedGlobals+definedGlobals, importedGlobals+definedGlobals+1
	slow := importedFuncs + definedFuncs
	addType := voidType < 0
	if addType {
		voidType = int64(types)
	}

	check := appendU32([]byte{0x23}, fuel)       // global.get $fuel
	check = append(check, 0x41, 0x01, 0x6b)      // i32.const 1, i32.sub
	check = appendU32(append(check, 0x24), fuel) // global.set $fuel
	check = appendU32(append(check, 0x23), fuel) // global.get $fuel
	check = append(check, 0x45, 0x04, 0x40)      // i32.eqz, if
	check = appendU32(append(check, 0x10), slow) // call $slow
	check = append(check, 0x0b)                  // end

	slowBody := []byte{0x00}                                // no locals
	slowBody = appendU32(append(slowBody, 0x41), slowEvery) // i32.const (4096: the same bytes signed or not)
	slowBody = appendU32(append(slowBody, 0x24), fuel)      // global.set $fuel
	if hasMemory {
		slowBody = append(slowBody, 0x41, 0x00, 0x40, 0x00, 0x1a) // i32.const 0, memory.grow 0, drop
	}
	slowBody = appendU32(append(slowBody, 0x23), intr)        // global.get $intr
	slowBody = append(slowBody, 0x04, 0x40, 0x00, 0x0b, 0x0b) // if unreachable end, end
	slowEntry := appendU32(nil, uint32(len(slowBody)))
	slowEntry = append(slowEntry, slowBody...)

	newGlobals := []byte{0x7f, 0x01, 0x41, 0x01, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b} // $fuel = 1 (the first check runs $slow), $intr = 0
	newExport := appendName(nil, interruptExport)
	newExport = appendU32(append(newExport, 0x03), intr) // a global
	nExports := uint32(1)
	if start >= 0 {
		newExport = appendName(newExport, startExport)
		newExport = appendU32(append(newExport, 0x00), uint32(start)) // a function
		nExports++
	}
	newType := []byte{0x60, 0x00, 0x00}
	newFunc := appendU32(nil, uint32(voidType))

	out := make([]byte, 0, len(src)+len(src)/4+64)
	out = append(out, src[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	// extend emits section id with n more entries, entries appended.
	extend := func(id byte, body []byte, n uint32, entries []byte) {
		r := reader{b: body}
		count := r.u32()
		b := appendU32(make([]byte, 0, len(body)+len(entries)+5), count+n)
		b = append(b, body[r.pos:]...)
		emit(id, append(b, entries...))
	}
	seen := map[byte]bool{}
	missing := func(rank int) { // emits the added sections the module lacks, before rank
		for _, m := range []struct {
			id      byte
			n       uint32
			entries []byte
			want    bool
		}{
			{secType, 1, newType, addType},
			{secFunction, 1, newFunc, true},
			{secGlobal, 2, newGlobals, true},
			{secExport, nExports, newExport, true},
		} {
			if m.want && !seen[m.id] && sectionRank[m.id] < rank {
				emit(m.id, append(appendU32(nil, m.n), m.entries...))
				seen[m.id] = true
			}
		}
	}
	for _, s := range secs {
		if s.id != secCustom {
			missing(sectionRank[s.id])
		}
		body := src[s.start:s.end]
		seen[s.id] = true
		switch s.id {
		case secCustom:
			sr := reader{b: src[:s.end], pos: s.start}
			if name := sr.name(); sr.err == nil && strings.HasPrefix(name, ".debug_") {
				continue
			}
			emit(s.id, body)
		case secType:
			if addType {
				extend(s.id, body, 1, newType)
			} else {
				emit(s.id, body)
			}
		case secFunction:
			extend(s.id, body, 1, newFunc)
		case secGlobal:
			extend(s.id, body, 2, newGlobals)
		case secExport:
			if err := checkExportNames(body); err != nil {
				return nil, err
			}
			extend(s.id, body, nExports, newExport)
		case 8: // the start section: exported as startExport instead
		case secCode:
			b, err := instrumentCode(body, check)
			if err != nil {
				return nil, err
			}
			extend(s.id, b, 1, slowEntry)
		default:
			emit(s.id, body)
		}
	}
	return out, nil
}

// checkExportNames refuses a module that exports interruptExport itself.
func checkExportNames(body []byte) error {
	r := reader{b: body}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := r.name()
		r.byte()
		r.u32()
		if name == interruptExport || name == startExport {
			return fmt.Errorf("%w: the module exports %q, a name the host reserves", ErrExport, name)
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: malformed export section", ErrNotWasm)
	}
	return nil
}

// instrumentCode inserts check at the start of every function body and of every loop.
func instrumentCode(body, check []byte) ([]byte, error) {
	r := reader{b: body}
	n := r.u32()
	out := make([]byte, 0, len(body)+len(body)/8)
	out = appendU32(out, n)
	var fn []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		if r.err != nil || size > uint32(len(body)-r.pos) {
			return nil, fmt.Errorf("%w: truncated code section", ErrNotWasm)
		}
		var err error
		fn, err = instrumentFunc(fn[:0], body[r.pos:r.pos+int(size)], check)
		if err != nil {
			return nil, fmt.Errorf("%w: function %d: %v", errInstrument, i, err)
		}
		out = appendU32(out, uint32(len(fn)))
		out = append(out, fn...)
		r.pos += int(size)
	}
	if r.err != nil || r.pos != len(body) {
		return nil, fmt.Errorf("%w: malformed code section", ErrNotWasm)
	}
	return out, nil
}

// instrumentFunc appends to out the function body b with check inserted after its
// locals and after every loop's block type.
func instrumentFunc(out, b, check []byte) ([]byte, error) {
	r := reader{b: b}
	groups := r.u32()
	for i := uint32(0); i < groups && r.err == nil; i++ {
		r.u32()  // count
		r.byte() // value type
	}
	if r.err != nil {
		return nil, errors.New("malformed locals")
	}
	out = append(out, b[:r.pos]...)
	out = append(out, check...)
	last := r.pos
	for r.pos < len(b) {
		op := r.byte()
		switch {
		case op == 0x03: // loop
			blockType(&r)
			out = append(out, b[last:r.pos]...)
			out = append(out, check...)
			last = r.pos
		case op == 0x02 || op == 0x04: // block, if
			blockType(&r)
		case op == 0x0c || op == 0x0d || op == 0x10 || // br, br_if, call
			(op >= 0x20 && op <= 0x26) || // local.*, global.*, table.get/set
			op == 0x3f || op == 0x40 || op == 0xd2: // memory.size/grow, ref.func
			r.u32()
		case op == 0x0e: // br_table
			n := r.u32()
			for j := uint32(0); j <= n && r.err == nil; j++ {
				r.u32()
			}
		case op == 0x11: // call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select t*
			n := r.u32()
			r.skip(int(n))
		case op >= 0x28 && op <= 0x3e: // loads, stores
			r.u32()
			r.u32()
		case op == 0x41 || op == 0x42: // i32.const, i64.const
			r.u32()
		case op == 0x43:
			r.skip(4)
		case op == 0x44:
			r.skip(8)
		case op == 0xd0: // ref.null
			r.byte()
		case op == 0xfc:
			misc(&r)
		case op == 0xfd:
			simd(&r)
		case op <= 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b ||
			(op >= 0x45 && op <= 0xc4) || op == 0xd1:
			// no immediate
		default:
			return nil, fmt.Errorf("opcode %#x at %d (not in WebAssembly 2.0)", op, r.pos-1)
		}
		if r.err != nil {
			return nil, fmt.Errorf("truncated instruction at %d", r.pos)
		}
	}
	return append(out, b[last:]...), nil
}

// blockType skips a block type: empty (0x40), a value type, or a type index (s33).
func blockType(r *reader) {
	if r.pos < len(r.b) {
		switch c := r.b[r.pos]; {
		case c == 0x40 || (c >= 0x6f && c <= 0x7f):
			r.pos++
			return
		}
	}
	r.u32()
}

// misc skips the immediates of a 0xFC instruction.
func misc(r *reader) {
	switch sub := r.u32(); {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init data, memory
		r.u32()
		r.byte()
	case sub == 9 || sub == 13 || sub == 15 || sub == 16 || sub == 17: // data.drop, elem.drop, table.grow/size/fill
		r.u32()
	case sub == 10: // memory.copy
		r.byte()
		r.byte()
	case sub == 11: // memory.fill
		r.byte()
	case sub == 12 || sub == 14: // table.init, table.copy
		r.u32()
		r.u32()
	default:
		r.err = ErrNotWasm
	}
}

// simd skips the immediates of a 0xFD instruction.
func simd(r *reader) {
	switch sub := r.u32(); {
	case sub <= 11 || sub == 92 || sub == 93: // v128 loads and stores
		r.u32()
		r.u32()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.skip(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		r.byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		r.u32()
		r.u32()
		r.byte()
	}
}

func (r *reader) skip(n int) {
	if r.err != nil || n > len(r.b)-r.pos {
		r.err = ErrNotWasm
		return
	}
	r.pos += n
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}

// lenU32 is the length of the LEB128 number at the start of b.
func lenU32(b []byte) int {
	for i, c := range b {
		if c < 0x80 {
			return i + 1
		}
	}
	return len(b)
}
