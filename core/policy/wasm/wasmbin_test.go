package wasm

// A minimal WebAssembly binary assembler for the tests: the modules of the tests are
// built here, so that the tests need no external tool (wat2wasm, clang).

// Value types.
const (
	tI32 byte = 0x7f
	tI64 byte = 0x7e
)

type funcType struct{ params, results []byte }

type wasmImport struct {
	module, name string
	kind         byte // 0 function, 2 memory, 3 global
	typ          int  // function type index
}

type wasmFunc struct {
	typ    int
	locals []byte // one entry per local
	body   []byte // without the final end
}

type wasmExport struct {
	name  string
	kind  byte // 0 function, 2 memory
	index uint32
}

// mod is a module being assembled. Import functions before defining any.
type mod struct {
	types    []funcType
	imports  []wasmImport
	funcs    []wasmFunc
	exports  []wasmExport
	memMin   uint32
	memMax   uint32 // 0: none
	noMemory bool
	data     []struct {
		offset uint32
		b      []byte
	}
	globals  int // mutable i32 globals, initialised to 0
	start    uint32
	hasStart bool
}

func (m *mod) typeOf(params, results []byte) int {
	for i, t := range m.types {
		if string(t.params) == string(params) && string(t.results) == string(results) {
			return i
		}
	}
	m.types = append(m.types, funcType{params, results})
	return len(m.types) - 1
}

func (m *mod) numImportedFuncs() int {
	n := 0
	for _, im := range m.imports {
		if im.kind == 0 {
			n++
		}
	}
	return n
}

// importFunc imports a function and returns its index.
func (m *mod) importFunc(module, name string, params, results []byte) uint32 {
	m.imports = append(m.imports, wasmImport{module: module, name: name, typ: m.typeOf(params, results)})
	return uint32(m.numImportedFuncs() - 1)
}

// fn defines a function (exported under export unless empty) and returns its index.
func (m *mod) fn(export string, params, results, locals []byte, body ...[]byte) uint32 {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	m.funcs = append(m.funcs, wasmFunc{typ: m.typeOf(params, results), locals: locals, body: b})
	idx := uint32(m.numImportedFuncs() + len(m.funcs) - 1)
	if export != "" {
		m.exports = append(m.exports, wasmExport{name: export, index: idx})
	}
	return idx
}

// global adds a mutable i32 global and returns its index.
func (m *mod) global() uint32 { m.globals++; return uint32(m.globals - 1) }

func (m *mod) dataAt(offset uint32, b []byte) {
	m.data = append(m.data, struct {
		offset uint32
		b      []byte
	}{offset, b})
}

func (m *mod) bytes() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	section := func(id byte, body []byte) {
		out = append(out, id)
		out = uleb(out, uint64(len(body)))
		out = append(out, body...)
	}
	vec := func(b []byte, n int) []byte { return uleb(b, uint64(n)) }
	name := func(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }

	var b []byte
	b = vec(b, len(m.types))
	for _, t := range m.types {
		b = append(b, 0x60)
		b = append(vec(b, len(t.params)), t.params...)
		b = append(vec(b, len(t.results)), t.results...)
	}
	section(1, b)

	if len(m.imports) > 0 {
		b = vec(nil, len(m.imports))
		for _, im := range m.imports {
			b = name(name(b, im.module), im.name)
			b = append(b, im.kind)
			switch im.kind {
			case 0:
				b = uleb(b, uint64(im.typ))
			case 2:
				b = append(b, 0x00, 0x01)
			case 3:
				b = append(b, tI32, 0x00)
			}
		}
		section(2, b)
	}

	b = vec(nil, len(m.funcs))
	for _, f := range m.funcs {
		b = uleb(b, uint64(f.typ))
	}
	section(3, b)

	if !m.noMemory {
		b = vec(nil, 1)
		if m.memMax > 0 {
			b = uleb(append(b, 0x01), uint64(m.memMin))
			b = uleb(b, uint64(m.memMax))
		} else {
			b = uleb(append(b, 0x00), uint64(m.memMin))
		}
		section(5, b)
	}

	if m.globals > 0 {
		b = vec(nil, m.globals)
		for range m.globals {
			b = append(b, tI32, 0x01, 0x41, 0x00, 0x0b)
		}
		section(6, b)
	}

	exps := m.exports
	if !m.noMemory {
		exps = append(exps, wasmExport{name: "memory", kind: 2})
	}
	b = vec(nil, len(exps))
	for _, e := range exps {
		b = append(name(b, e.name), e.kind)
		b = uleb(b, uint64(e.index))
	}
	section(7, b)

	if m.hasStart {
		section(8, uleb(nil, uint64(m.start)))
	}

	b = vec(nil, len(m.funcs))
	for _, f := range m.funcs {
		var code []byte
		code = vec(code, len(f.locals))
		for _, l := range f.locals {
			code = append(code, 0x01, l)
		}
		code = append(append(code, f.body...), 0x0b)
		b = append(uleb(b, uint64(len(code))), code...)
	}
	section(10, b)

	if len(m.data) > 0 {
		b = vec(nil, len(m.data))
		for _, d := range m.data {
			b = append(b, 0x00)
			b = append(i32c(b, int32(d.offset)), 0x0b)
			b = append(vec(b, len(d.b)), d.b...)
		}
		section(11, b)
	}
	return out
}

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}

func i32c(b []byte, v int32) []byte { return sleb(append(b, 0x41), int64(v)) }

// Instructions, each returning its bytes.
func i32Const(v int32) []byte  { return i32c(nil, v) }
func i64Const(v int64) []byte  { return sleb([]byte{0x42}, v) }
func localGet(i uint32) []byte { return uleb([]byte{0x20}, uint64(i)) }
func localSet(i uint32) []byte { return uleb([]byte{0x21}, uint64(i)) }
func globalGet(i uint32) []byte {
	return uleb([]byte{0x23}, uint64(i))
}
func globalSet(i uint32) []byte { return uleb([]byte{0x24}, uint64(i)) }
func call(f uint32) []byte      { return uleb([]byte{0x10}, uint64(f)) }
func br(depth uint32) []byte    { return uleb([]byte{0x0c}, uint64(depth)) }
func brIf(depth uint32) []byte  { return uleb([]byte{0x0d}, uint64(depth)) }
func i32Load(offset uint32) []byte {
	return uleb([]byte{0x28, 0x02}, uint64(offset))
}
func i32Store(offset uint32) []byte { return uleb([]byte{0x36, 0x02}, uint64(offset)) }

var (
	opLoop        = []byte{0x03, 0x40}
	opBlock       = []byte{0x02, 0x40}
	opIf          = []byte{0x04, 0x40}
	opEnd         = []byte{0x0b}
	opReturn      = []byte{0x0f}
	opUnreachable = []byte{0x00}
	opDrop        = []byte{0x1a}
	opMemoryGrow  = []byte{0x40, 0x00}
	opMemorySize  = []byte{0x3f, 0x00}
	opI32Eqz      = []byte{0x45}
	opI32Eq       = []byte{0x46}
	opI32LtU      = []byte{0x49}
	opI32GeU      = []byte{0x4f}
	opI32Add      = []byte{0x6a}
	opI32Sub      = []byte{0x6b}
	opI32Mul      = []byte{0x6c}
	opI32RemU     = []byte{0x70}
	opI32And      = []byte{0x71}
	opI32Or       = []byte{0x72}
	opI64ExtendU  = []byte{0xad}
	opI64Shl      = []byte{0x86}
	opI64Or       = []byte{0x84}
)

var (
	tsNone   []byte
	tsI32    = []byte{tI32}
	tsI64    = []byte{tI64}
	tsPtrLen = []byte{tI32, tI32}
)

// Parts of guest modules the tests combine.

// inputAt is where bumpAlloc puts every input: one fixed, aligned buffer.
const inputAt = 4096

// guest returns a module with one page of memory, wagate_abi_version returning abi and
// a wagate_alloc returning inputAt (the input buffer; inputs up to 60 KiB).
func guest(abi int32) *mod {
	m := &mod{memMin: 1}
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(abi))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(inputAt))
	return m
}

// routeConst is a guest whose route returns v.
func routeConst(v int32) *mod {
	m := guest(1)
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(v))
	return m
}

// packed is a failover or rate result.
func packed(action uint8, payload uint64) int64 {
	return int64(uint64(action)<<56 | payload&(1<<56-1))
}

// leastLoaded is the least-loaded route in plain WebAssembly: the candidate with the
// smallest queue_depth, ties to the smallest sent_minute, then the first. It walks the
// records with candidates_offset and candidate_size, as the ABI asks.
func leastLoaded() *mod { return withLeastLoaded(guest(1)) }

// withLeastLoaded adds leastLoaded's wagate_route to m.
func withLeastLoaded(m *mod) *mod {
	const ptr, n, size, r, i, best, bd, bm, d, mm = 0, 2, 3, 4, 5, 6, 7, 8, 9, 10
	m.fn("wagate_route", tsPtrLen, tsI32, []byte{tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32},
		localGet(ptr), i32Load(24), localSet(n),
		localGet(n), opI32Eqz, opIf, i32Const(-1), opReturn, opEnd,
		localGet(ptr), i32Load(20), localSet(size),
		localGet(ptr), localGet(ptr), i32Load(28), opI32Add, localSet(r),
		localGet(r), i32Load(24), localSet(bd),
		localGet(r), i32Load(28), localSet(bm),
		i32Const(1), localSet(i),
		opBlock, opLoop,
		localGet(i), localGet(n), opI32GeU, brIf(1),
		localGet(r), localGet(size), opI32Add, localSet(r),
		localGet(r), i32Load(24), localSet(d),
		localGet(r), i32Load(28), localSet(mm),
		localGet(d), localGet(bd), opI32LtU,
		localGet(d), localGet(bd), opI32Eq, localGet(mm), localGet(bm), opI32LtU, opI32And,
		opI32Or,
		opIf, localGet(i), localSet(best), localGet(d), localSet(bd), localGet(mm), localSet(bm), opEnd,
		localGet(i), i32Const(1), opI32Add, localSet(i),
		br(0),
		opEnd, opEnd,
		localGet(best))
	return m
}
