package lua

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/wagate/wagate/core/policy"
)

// Globals removed from the base library: they reach the file system, load code, change
// environments or the collector, or print to the gateway's stdout.
var removedGlobals = []string{
	"print", "load", "loadstring", "dofile", "loadfile", "require", "module",
	"collectgarbage", "getfenv", "setfenv", "newproxy", "_printregs", "_GOPHER_LUA_VERSION",
}

// Limits of the host functions.
const (
	maxLogLines    = 100
	maxLogLine     = 1024
	maxSortedTable = 100_000
)

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// state is one sandboxed interpreter of a plugin. It serves one call at a time.
type state struct {
	rt    *Runtime
	p     *Plugin
	L     *lua.LState
	hooks [policy.HookTransform + 1]*lua.LFunction
	// arrayMT marks tables that encode as JSON arrays; null is JSON null.
	arrayMT *lua.LTable
	null    *lua.LUserData
	in      *inputs // built at the first call
	// touched: a library call may have changed an input table or redirected stores
	// into one (touchInputs); the state's refills then read every field back.
	touched bool
	vm      vmContext // the context the VM sees during a call (vmctx.go)

	// Per call.
	ctx       context.Context
	now       int64 // the call's time, Unix ms; 0 outside calls (configure: the clock)
	allocated int
	logs      int
}

// newState creates a sandboxed state, runs the script's top level and configure(config)
// under ctx. The state is closed on error.
func (p *Plugin) newState(ctx context.Context) (st *state, err error) {
	o := p.rt.o
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       o.CallStackSize,
		RegistrySize:        1024,
		RegistryMaxSize:     o.RegistryMaxSize,
		RegistryGrowStep:    2048,
		MinimizeStackMemory: true,
	})
	st = &state{rt: p.rt, p: p, L: L}
	defer func() {
		if err != nil {
			L.Close()
		}
	}()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, g := range removedGlobals {
		L.SetGlobal(g, lua.LNil)
	}
	st.sandboxLibraries()
	st.arrayMT = L.NewTable()
	st.null = L.NewUserData()
	L.SetGlobal("wagate", st.hostTable())
	L.SetGlobal(concatName, L.NewFunction(st.concat))

	st.begin(ctx, 0)
	defer st.end()
	L.Push(L.NewFunctionFromProto(p.proto))
	if err := L.PCall(0, 0, nil); err != nil {
		return nil, st.callError(err)
	}
	L.SetGlobal(concatName, lua.LNil) // captured by the chunk's local; no longer needed
	if cfg, ok := L.GetGlobal("configure").(*lua.LFunction); ok && p.config != nil {
		conf, err := st.decodeJSON(p.config)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", policy.ErrBadConfig, err)
		}
		L.Push(cfg)
		L.Push(conf)
		if err := L.PCall(1, 0, nil); err != nil {
			return nil, fmt.Errorf("configure: %w", st.callError(err))
		}
	}
	for _, h := range policy.AllHooks {
		if fn, ok := L.GetGlobal(h.String()).(*lua.LFunction); ok {
			st.hooks[h] = fn
		}
	}
	return st, nil
}

// sandboxLibraries replaces the library functions that allocate in one step, or run
// long without returning to the VM, by checked versions.
func (st *state) sandboxLibraries() {
	L := st.L
	str := L.GetGlobal(lua.StringLibName).(*lua.LTable)
	str.RawSetString("dump", lua.LNil)
	orig := func(name string) lua.LGFunction { return str.RawGetString(name).(*lua.LFunction).GFunction }
	upper, lower, reverse, format := orig("upper"), orig("lower"), orig("reverse"), orig("format")
	set := func(t *lua.LTable, name string, f lua.LGFunction) { t.RawSetString(name, L.NewFunction(f)) }
	set(str, "rep", st.strRep)
	set(str, "format", st.checked(format, st.formatBound))
	set(str, "upper", st.checked(upper, st.firstArgBound))
	set(str, "lower", st.checked(lower, st.firstArgBound))
	set(str, "reverse", st.checked(reverse, st.firstArgBound))
	set(str, "find", st.strFindAux(true))
	set(str, "match", st.strFindAux(false))
	set(str, "gsub", st.strGsub)
	gmatch := L.NewFunction(st.strGmatch)
	str.RawSetString("gmatch", gmatch)
	str.RawSetString("gfind", gmatch)

	tbl := L.GetGlobal(lua.TabLibName).(*lua.LTable)
	tfn := func(name string) lua.LGFunction { return tbl.RawGetString(name).(*lua.LFunction).GFunction }
	tconcat, tsort, tinsert, tremove := tfn("concat"), tfn("sort"), tfn("insert"), tfn("remove")
	set(tbl, "concat", st.checked(tconcat, st.tableConcatBound))
	set(tbl, "sort", func(L *lua.LState) int {
		t := L.CheckTable(1)
		if n := t.Len(); n > maxSortedTable {
			L.RaiseError("table.sort: %d elements (at most %d)", n, maxSortedTable)
		}
		st.touchInputs(t)
		return tsort(L)
	})
	set(tbl, "insert", st.touching(tinsert))
	set(tbl, "remove", st.touching(tremove))

	// The base library's two functions that store into a table without the VM.
	rawset := L.GetGlobal("rawset").(*lua.LFunction).GFunction
	setmt := L.GetGlobal("setmetatable").(*lua.LFunction).GFunction
	L.SetGlobal("rawset", L.NewFunction(st.touching(rawset)))
	L.SetGlobal("setmetatable", L.NewFunction(func(L *lua.LState) int {
		st.touched = true // a __newindex can redirect later stores anywhere, an input table included
		return setmt(L)
	}))
}

// touching wraps a library function that stores into the table of its first argument.
func (st *state) touching(f lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		if t, ok := L.Get(1).(*lua.LTable); ok {
			st.touchInputs(t)
		}
		return f(L)
	}
}

// touchInputs notes a library call about to change t: when t is an input table, the
// state's later refills read every field back instead of trusting what the host wrote
// last (purity.go).
func (st *state) touchInputs(t *lua.LTable) {
	if st.in != nil && t.Metatable == st.in.readOnly {
		st.touched = true
	}
}

// fastRefill: the input tables hold what the host wrote into them last, because the
// script stores only into its own tables (Plugin.ownStores) and no library call
// changed an input table in this state.
func (st *state) fastRefill() bool { return st.p.ownStores && !st.touched }

// checked wraps a library function with bound, which returns (before the call) the
// most bytes the call can produce; that much is charged to the call's budget.
func (st *state) checked(f lua.LGFunction, bound func(L *lua.LState) int) lua.LGFunction {
	return func(L *lua.LState) int {
		st.charge(bound(L))
		return f(L)
	}
}

func (st *state) firstArgBound(L *lua.LState) int { return len(L.CheckString(1)) }

// formatBound refuses widths and precisions of more than two digits (as Lua 5.1 does;
// Go's fmt would pad to any width) and bounds the result: the format, every argument's
// text twice (%q escapes) and 99 bytes of padding per directive.
func (st *state) formatBound(L *lua.LState) int {
	f := L.CheckString(1)
	n := len(f)
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		digits := 0
		for ; i < len(f) && strings.IndexByte("-+ #0123456789.", f[i]) >= 0; i++ {
			if f[i] >= '0' && f[i] <= '9' {
				if digits++; digits > 2 {
					L.RaiseError("invalid format (width or precision too long)")
				}
			} else {
				digits = 0
			}
		}
		n += 99
	}
	for i := 2; i <= L.GetTop(); i++ {
		n += 2*len(lua.LVAsString(L.Get(i))) + 32
	}
	return n
}

// tableConcatBound sums the lengths of the elements table.concat would join.
func (st *state) tableConcatBound(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
	n := 0
	for k := i; k <= j; k++ {
		n += len(lua.LVAsString(t.RawGetInt(k))) + len(sep)
		if n > st.rt.o.MaxString {
			L.RaiseError("table.concat: result longer than %d bytes", st.rt.o.MaxString)
		}
		if (k-i)%stepsPerCheck == 0 {
			st.checkDeadline()
		}
	}
	return n
}

// strRep is string.rep with its result checked before it is built.
func (st *state) strRep(L *lua.LState) int {
	s, n := L.CheckString(1), L.CheckInt(2)
	if n <= 0 || s == "" {
		L.Push(lua.LString(""))
		return 1
	}
	if n > st.rt.o.MaxString/len(s) {
		L.RaiseError("string.rep: result longer than %d bytes", st.rt.o.MaxString)
	}
	st.charge(n * len(s))
	L.Push(lua.LString(strings.Repeat(s, n)))
	return 1
}

// charge accounts n bytes of strings about to be built by the call, raising an error
// past MaxString for one string or MaxCallAlloc for the call.
func (st *state) charge(n int) {
	o := st.rt.o
	if n > o.MaxString {
		st.L.RaiseError("string of %d bytes (at most %d)", n, o.MaxString)
	}
	st.allocated += n
	if st.allocated > o.MaxCallAlloc {
		st.L.RaiseError("strings of %d bytes built in one call (at most %d)", st.allocated, o.MaxCallAlloc)
	}
}

// checkDeadline raises an error when the call's context is done.
func (st *state) checkDeadline() {
	if st.ctx != nil {
		if err := st.ctx.Err(); err != nil {
			st.L.RaiseError("%s", err.Error())
		}
	}
}

// begin prepares a call under ctx at time now (Unix ms; 0: the clock).
func (st *state) begin(ctx context.Context, now int64) {
	st.ctx, st.now, st.allocated, st.logs = ctx, now, 0, 0
	st.vm.reset(ctx)
	st.L.SetContext(&st.vm)
}

// end forgets the call's context.
func (st *state) end() {
	st.L.RemoveContext()
	st.ctx = nil
	st.vm.ctx = nil
}

// callError turns a failed PCall into the contract's error: a timeout when the call's
// context is done (the caller's own cancellation passes through as is), else the
// script's error.
func (st *state) callError(err error) error {
	if st.ctx != nil {
		switch cerr := st.ctx.Err(); cerr {
		case context.DeadlineExceeded:
			return fmt.Errorf("%w: %w", policy.ErrTimeout, cerr)
		case nil:
		default:
			return cerr
		}
	}
	return fmt.Errorf("lua: %s", policy.Clip(err.Error(), 512))
}

// hostTable builds the `wagate` table.
func (st *state) hostTable() *lua.LTable {
	L := st.L
	t := L.NewTable()
	fn := func(name string, f lua.LGFunction) { t.RawSetString(name, L.NewFunction(f)) }
	fn("now", func(L *lua.LState) int {
		now := st.now
		if now == 0 {
			now = time.Now().UnixMilli()
		}
		L.Push(lua.LNumber(now))
		return 1
	})
	fn("log", func(L *lua.LState) int {
		level, msg := L.CheckString(1), L.CheckString(2)
		if st.logs++; st.logs > maxLogLines || st.p.log == nil {
			return 0
		}
		if len(msg) > maxLogLine {
			msg = strings.ToValidUTF8(msg[:maxLogLine], "")
		}
		lv := logLevels[level] // unknown levels: info (the zero level)
		ctx := st.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		st.p.log.Log(ctx, lv, msg)
		return 0
	})
	fn("kv_get", func(L *lua.LState) int {
		v, ok, err := st.p.kv.Get(st.callCtx(), L.CheckString(1))
		if err != nil {
			L.RaiseError("kv_get: %v", err)
		}
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(v))
		return 1
	})
	fn("kv_set", func(L *lua.LState) int {
		key := L.CheckString(1)
		var val string
		if v := L.Get(2); v != lua.LNil {
			val = L.CheckString(2)
		}
		if !utf8.ValidString(key) {
			L.Push(lua.LNil)
			L.Push(lua.LString("kv_set: key is not UTF-8"))
			return 2
		}
		if err := st.p.kv.Set(st.callCtx(), key, []byte(val)); err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString(err.Error()))
			return 2
		}
		L.Push(lua.LTrue)
		return 1
	})
	fn("array", func(L *lua.LState) int {
		tb := L.OptTable(1, L.NewTable())
		st.touchInputs(tb)
		L.SetMetatable(tb, st.arrayMT)
		L.Push(tb)
		return 1
	})
	t.RawSetString("null", st.null)
	return t
}

func (st *state) callCtx() context.Context {
	if st.ctx != nil {
		return st.ctx
	}
	return context.Background()
}
