package lua

import (
	lua "github.com/yuin/gopher-lua"
)

// A script whose bytecode stores only into tables it creates itself cannot change an
// input table by assignment, so the host can refill its input tables from what it wrote
// at the previous call (a comparison of Go values) instead of reading every field back
// from the tables (convert.go, fastRefill). What a script can still do through library
// functions (rawset, table.insert/remove/sort on an input table, setmetatable, whose
// __newindex can redirect a store into an input table, wagate.array) is caught where it
// happens: the state then refills by reading back for the rest of its life
// (state.touchInputs).
//
// ownStoresOnly proves the first part at Load, for every function of the chunk: each
// SETTABLE, SETTABLEKS and SETLIST must store into a register that, on every path
// reaching it, holds a table made by NEWTABLE in the same activation (or a copy of such
// a register) and not captured by a closure, which could assign it. The analysis is a forward must-analysis over the function's control
// flow; any instruction it does not know makes the script not qualify. It errs only
// towards "no": a script it refuses runs exactly as before.
func ownStoresOnly(p *lua.FunctionProto) bool {
	if !protoOwnStoresOnly(p) {
		return false
	}
	for _, c := range p.FunctionPrototypes {
		if !ownStoresOnly(c) {
			return false
		}
	}
	return true
}

// regSet is a set of registers (a Lua function has at most 250).
type regSet [4]uint64

func (s *regSet) has(r int) bool { return r >= 0 && r < 256 && s[r>>6]&(1<<(r&63)) != 0 }
func (s *regSet) add(r int) {
	if r >= 0 && r < 256 {
		s[r>>6] |= 1 << (r & 63)
	}
}
func (s *regSet) del(r int) {
	if r >= 0 && r < 256 {
		s[r>>6] &^= 1 << (r & 63)
	}
}

// delFrom removes r and every register above it.
func (s *regSet) delFrom(r int) {
	for ; r < 256; r++ {
		s.del(r)
	}
}

// intersect keeps in s only what o has too.
func (s *regSet) intersect(o regSet) (changed bool) {
	for i := range s {
		n := s[i] & o[i]
		if n != s[i] {
			s[i], changed = n, true
		}
	}
	return changed
}

// Instruction fields (gopher-lua's layout, opcode.go: opcode 6 bits, A 8, C 9, B 9).
func opOf(i uint32) int   { return int(i >> 26) }
func argA(i uint32) int   { return int(i>>18) & 0xff }
func argB(i uint32) int   { return int(i & 0x1ff) }
func argC(i uint32) int   { return int(i>>9) & 0x1ff }
func argBx(i uint32) int  { return int(i & 0x3ffff) }
func argSBx(i uint32) int { return argBx(i) - (1<<18-1)>>1 }

// flowState is what the analysis knows on entry to an instruction: the registers that
// hold an own table on every path (fresh), and those a closure may have captured on
// some path (captured: a closure can assign them at any call, SETUPVAL, until OP_CLOSE
// or the end of the function closes its upvalues).
type flowState struct{ fresh, captured regSet }

// merge adds o's paths to s: fresh on both, captured on either.
func (s *flowState) merge(o flowState) (changed bool) {
	if s.fresh.intersect(o.fresh) {
		changed = true
	}
	for i := range s.captured {
		if n := s.captured[i] | o.captured[i]; n != s.captured[i] {
			s.captured[i], changed = n, true
		}
	}
	return changed
}

func protoOwnStoresOnly(p *lua.FunctionProto) bool {
	code := p.Code
	n := len(code)
	in := make([]flowState, n+1)
	seen := make([]bool, n+1)
	work := []int{0}
	seen[0] = true
	flow := func(to int, s flowState) bool {
		if to < 0 || to > n {
			return false
		}
		if !seen[to] {
			seen[to], in[to] = true, s
			work = append(work, to)
		} else if in[to].merge(s) {
			work = append(work, to)
		}
		return true
	}
	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		if pc == n {
			continue // past the end: no instruction
		}
		inst := code[pc]
		st := in[pc]
		s := &st.fresh
		a := argA(inst)
		next := []int{pc + 1}
		switch opOf(inst) {
		case lua.OP_NEWTABLE:
			if !st.captured.has(a) {
				s.add(a)
			} else {
				s.del(a)
			}
		case lua.OP_MOVE, lua.OP_MOVEN: // MOVEN's following MOVEs are MOVE instructions
			if s.has(argB(inst)) && !st.captured.has(a) {
				s.add(a)
			} else {
				s.del(a)
			}
		case lua.OP_SETTABLE, lua.OP_SETTABLEKS:
			if !s.has(a) {
				return false
			}
		case lua.OP_SETLIST:
			if !s.has(a) {
				return false
			}
			if argC(inst) == 0 { // the next word is the batch number, not an instruction
				next = []int{pc + 2}
			}
		case lua.OP_LOADK, lua.OP_GETUPVAL, lua.OP_GETGLOBAL, lua.OP_GETTABLE, lua.OP_GETTABLEKS,
			lua.OP_ADD, lua.OP_SUB, lua.OP_MUL, lua.OP_DIV, lua.OP_MOD, lua.OP_POW,
			lua.OP_UNM, lua.OP_NOT, lua.OP_LEN, lua.OP_CONCAT:
			s.del(a)
		case lua.OP_LOADBOOL:
			s.del(a)
			if argC(inst) != 0 {
				next = []int{pc + 2}
			}
		case lua.OP_LOADNIL:
			for r := a; r <= argB(inst); r++ {
				s.del(r)
			}
		case lua.OP_SELF:
			s.del(a)
			s.del(a + 1)
		case lua.OP_SETGLOBAL, lua.OP_SETUPVAL, lua.OP_NOP:
		case lua.OP_CLOSE: // upvalues of registers from A on are closed: no longer aliases
			for r := a; r < 256; r++ {
				st.captured.del(r)
			}
		case lua.OP_JMP:
			next = []int{pc + 1 + argSBx(inst)}
		case lua.OP_EQ, lua.OP_LT, lua.OP_LE, lua.OP_TEST:
			next = []int{pc + 1, pc + 2}
		case lua.OP_TESTSET:
			s.del(a)
			next = []int{pc + 1, pc + 2}
		case lua.OP_CALL, lua.OP_TAILCALL, lua.OP_VARARG:
			s.delFrom(a) // the callee's frame and the results start at A
		case lua.OP_RETURN:
			next = nil
		case lua.OP_FORPREP:
			for r := a; r <= a+3; r++ {
				s.del(r)
			}
			next = []int{pc + 1 + argSBx(inst)}
		case lua.OP_FORLOOP:
			for r := a; r <= a+3; r++ {
				s.del(r)
			}
			next = []int{pc + 1 + argSBx(inst), pc + 1}
		case lua.OP_TFORLOOP:
			s.delFrom(a + 2)
			next = []int{pc + 1, pc + 2}
		case lua.OP_CLOSURE:
			s.del(a)
			bx := argBx(inst)
			if bx >= len(p.FunctionPrototypes) {
				return false
			}
			// The upvalue pseudo-instructions that follow are read by CLOSURE, not run:
			// a MOVE names a register the closure captures.
			nup := int(p.FunctionPrototypes[bx].NumUpvalues)
			for i := 1; i <= nup; i++ {
				if pc+i >= n {
					return false
				}
				if u := code[pc+i]; opOf(u) == lua.OP_MOVE {
					st.captured.add(argB(u))
					s.del(argB(u))
				}
			}
			next = []int{pc + 1 + nup}
		default:
			return false
		}
		for _, to := range next {
			if !flow(to, st) {
				return false
			}
		}
	}
	return true
}
