package wasm

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wagate/wagate/core/policy"
)

// Module names a module may import from.
const (
	hostModule = "wagate"
	wasiModule = "wasi_snapshot_preview1"
)

// wasiAllowed is the WASI preview1 subset a module may import: what the runtimes of Go
// (GOOS=wasip1), TinyGo, Rust (wasm32-wasip1) and C (wasi-libc) call at start-up and for
// printing, and nothing that opens files or sockets. There are no arguments, no
// environment and no preopened directory, so the only file descriptors are 0, 1 and 2:
// stdin is empty, stdout and stderr go to the policy's log; the realtime clock reads the
// call's time. fd_read is allowed because Go links it into any module using fmt or
// encoding/json (through os.File's methods); it can only read the empty stdin.
var wasiAllowed = map[string]bool{
	"args_get": true, "args_sizes_get": true, "environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true, "random_get": true, "poll_oneoff": true,
	"proc_exit": true, "sched_yield": true,
	"fd_write": true, "fd_read": true, "fd_close": true, "fd_fdstat_get": true, "fd_fdstat_set_flags": true,
	"fd_prestat_get": true, "fd_prestat_dir_name": true,
}

// wasiRefusal says why a WASI function outside wasiAllowed is refused.
func wasiRefusal(name string) string {
	switch {
	case strings.HasPrefix(name, "path_"):
		return "filesystem access is not allowed"
	case strings.HasPrefix(name, "fd_"):
		return "file access is not allowed (only stdin, stdout and stderr exist)"
	case strings.HasPrefix(name, "sock_"):
		return "sockets are not allowed"
	case name == "proc_raise":
		return "signals are not allowed"
	}
	return "not in the allowed WASI subset"
}

// importDesc is one entry of a module's import section.
type importDesc struct {
	module, name string
	kind         byte // 0 function, 1 table, 2 memory, 3 global, 4 tag
}

var importKinds = [...]string{"function", "table", "memory", "global", "tag"}

func (d importDesc) String() string { return d.module + "." + d.name }

// checkImports refuses a module importing anything but the host's functions, by name;
// signatures are checked after compilation (checkSignatures).
func checkImports(src []byte) error {
	imps, err := importsOf(src)
	if err != nil {
		return err
	}
	for _, d := range imps {
		if d.kind != 0 {
			kind := "unknown kind"
			if int(d.kind) < len(importKinds) {
				kind = importKinds[d.kind]
			}
			return fmt.Errorf("%w: %s is a %s (only functions may be imported; export the memory instead)", ErrImport, d, kind)
		}
		switch d.module {
		case hostModule:
			if _, ok := hostFunctions[d.name]; !ok {
				return fmt.Errorf("%w: %s: wagate has no such function (log, now_ms, kv_get, kv_set)", ErrImport, d)
			}
		case wasiModule:
			if !wasiAllowed[d.name] {
				return fmt.Errorf("%w: %s: %s", ErrImport, d, wasiRefusal(d.name))
			}
		default:
			return fmt.Errorf("%w: %s: unknown module %q (only wagate and a subset of wasi_snapshot_preview1)", ErrImport, d, d.module)
		}
	}
	return nil
}

// importsOf reads the import section of a binary module. It checks only what it reads:
// the compiler validates the rest.
func importsOf(b []byte) ([]importDesc, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, ErrNotWasm
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != 1 {
		return nil, fmt.Errorf("%w: binary version %#x (a component or a newer format)", ErrNotWasm, v)
	}
	r := reader{b: b, pos: 8}
	for r.pos < len(r.b) {
		id := r.byte()
		size := r.u32()
		if r.err != nil || size > uint32(len(r.b)-r.pos) {
			return nil, fmt.Errorf("%w: truncated section", ErrNotWasm)
		}
		if id != 2 {
			r.pos += int(size)
			continue
		}
		sec := reader{b: r.b[:r.pos+int(size)], pos: r.pos}
		n := sec.u32()
		var out []importDesc
		for i := uint32(0); i < n && sec.err == nil; i++ {
			d := importDesc{module: sec.name(), name: sec.name(), kind: sec.byte()}
			switch d.kind {
			case 0: // type index
				sec.u32()
			case 1: // reference type, limits
				sec.byte()
				sec.limits()
			case 2:
				sec.limits()
			case 3: // value type, mutability
				sec.byte()
				sec.byte()
			case 4: // attribute, type index
				sec.byte()
				sec.u32()
			default:
				return nil, fmt.Errorf("%w: import %s of kind %d", ErrNotWasm, d, d.kind)
			}
			out = append(out, d)
		}
		if sec.err != nil {
			return nil, fmt.Errorf("%w: malformed import section", ErrNotWasm)
		}
		return out, nil
	}
	return nil, nil
}

// reader reads a binary module; the first error sticks.
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || r.pos >= len(r.b) {
		r.err = ErrNotWasm
		return 0
	}
	r.pos++
	return r.b[r.pos-1]
}

// u32 reads an unsigned LEB128 of at most 64 bits and keeps its low 32 bits.
func (r *reader) u32() uint32 {
	var v uint64
	for shift := 0; shift < 70; shift += 7 {
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return uint32(v)
		}
	}
	r.err = ErrNotWasm
	return 0
}

func (r *reader) name() string {
	n := r.u32()
	if r.err != nil || n > uint32(len(r.b)-r.pos) {
		r.err = ErrNotWasm
		return ""
	}
	s := string(r.b[r.pos : r.pos+int(n)])
	r.pos += int(n)
	return s
}

func (r *reader) limits() {
	if flags := r.byte(); flags&1 != 0 {
		r.u32()
		r.u32()
		return
	}
	r.u32()
}

// signature is a function type, compared with an export's or an import's.
type signature struct{ params, results []api.ValueType }

func sig(params []api.ValueType, results ...api.ValueType) signature {
	return signature{params: params, results: results}
}

var (
	i32, i64 = api.ValueTypeI32, api.ValueTypeI64
	none     []api.ValueType
	ptrLen   = []api.ValueType{i32, i32}
)

func (s signature) String() string {
	name := func(ts []api.ValueType) string {
		var parts []string
		for _, t := range ts {
			parts = append(parts, api.ValueTypeName(t))
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return name(s.params) + " -> " + name(s.results)
}

func (s signature) matches(d api.FunctionDefinition) bool {
	return slices.Equal(s.params, d.ParamTypes()) && slices.Equal(s.results, d.ResultTypes())
}

func signatureOf(d api.FunctionDefinition) signature {
	return signature{params: d.ParamTypes(), results: d.ResultTypes()}
}

// Exports of the ABI.
const (
	exportMemory     = "memory"
	exportABIVersion = "wagate_abi_version"
	exportAlloc      = "wagate_alloc"
	exportConfigure  = "wagate_configure"
	exportHooks      = "wagate_hooks"
	exportReuse      = "wagate_input_reuse" // ABI v1.1
	exportInitialize = "_initialize"
)

// hookExports are the hooks' export names and signatures, by hook.
var hookExports = [policy.HookTransform + 1]struct {
	name string
	sig  signature
}{
	policy.HookRoute:     {"wagate_route", sig(ptrLen, i32)},
	policy.HookFailover:  {"wagate_failover", sig(ptrLen, i64)},
	policy.HookRate:      {"wagate_rate", sig(ptrLen, i64)},
	policy.HookTransform: {"wagate_transform", sig(ptrLen, i64)},
}

// exports are what a compiled module offers the host.
type exports struct {
	hooks        policy.Hooks // the hook functions exported
	hasConfigure bool
	hasHooks     bool // wagate_hooks
	hasReuse     bool // wagate_input_reuse
	hasInit      bool // _initialize
}

// checkExports checks the exports of a compiled module against the ABI.
func checkExports(cm wazero.CompiledModule) (exports, error) {
	var ex exports
	if _, ok := cm.ExportedMemories()[exportMemory]; !ok {
		return ex, fmt.Errorf("%w: no memory exported as %q", ErrExport, exportMemory)
	}
	fns := cm.ExportedFunctions()
	check := func(name string, want signature, required bool) (bool, error) {
		d, ok := fns[name]
		switch {
		case !ok && required:
			return false, fmt.Errorf("%w: %s missing", ErrExport, name)
		case !ok:
			return false, nil
		case !want.matches(d):
			return false, fmt.Errorf("%w: %s has type %s, want %s", ErrExport, name, signatureOf(d), want)
		}
		return true, nil
	}
	var err error
	if _, err = check(exportABIVersion, sig(none, i32), true); err != nil {
		return ex, err
	}
	if _, err = check(exportAlloc, sig([]api.ValueType{i32}, i32), true); err != nil {
		return ex, err
	}
	if ex.hasConfigure, err = check(exportConfigure, sig(ptrLen, i32), false); err != nil {
		return ex, err
	}
	if ex.hasHooks, err = check(exportHooks, sig(none, i32), false); err != nil {
		return ex, err
	}
	if ex.hasReuse, err = check(exportReuse, sig(none, i32), false); err != nil {
		return ex, err
	}
	if ex.hasInit, err = check(exportInitialize, sig(none), false); err != nil {
		return ex, err
	}
	for _, h := range policy.AllHooks {
		ok, err := check(hookExports[h].name, hookExports[h].sig, false)
		if err != nil {
			return ex, err
		}
		if ok {
			ex.hooks |= policy.HooksOf(h)
		}
	}
	if ex.hooks == 0 {
		return ex, fmt.Errorf("%w: no hook exported (wagate_route, wagate_failover, wagate_rate or wagate_transform)", ErrExport)
	}
	return ex, nil
}

// checkSignatures checks each imported function's type against the function the
// tenant's runtime provides under that name.
func checkSignatures(r wazero.Runtime, cm wazero.CompiledModule) error {
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		m := r.Module(mod)
		if m == nil {
			return fmt.Errorf("%w: %s.%s: unknown module", ErrImport, mod, name)
		}
		want, ok := m.ExportedFunctionDefinitions()[name]
		if !ok {
			return fmt.Errorf("%w: %s.%s: no such function", ErrImport, mod, name)
		}
		if !signatureOf(want).matches(d) {
			return fmt.Errorf("%w: %s.%s has type %s, want %s", ErrImport, mod, name, signatureOf(d), signatureOf(want))
		}
	}
	return nil
}
