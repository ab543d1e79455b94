package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/wagate/wagate/core/policy"
)

// Limits of the host functions (docs/plugins.md, "Imports").
const (
	maxLogLines = 100  // per call, log and stdout/stderr lines together
	maxLogLine  = 1024 // bytes; longer lines are cut
	maxKeyLen   = 256  // bytes of a KV key
)

// Results of kv_get and kv_set.
const (
	kvMissing    = -1 // kv_get: no such key
	kvBound      = -1 // kv_set: a bound was hit
	kvInvalidKey = -2
)

// hostFunctions are the functions of the wagate module and their types.
var hostFunctions = map[string]signature{
	"log":    sig([]api.ValueType{i32, i32, i32}),
	"now_ms": sig(none, i64),
	"kv_get": sig([]api.ValueType{i32, i32, i32, i32}, i32),
	"kv_set": sig([]api.ValueType{i32, i32, i32, i32}, i32),
}

// logLevels maps the log import's levels; others are info.
var logLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

// instantiateHost adds the wagate module to a tenant's runtime. Its functions find the
// calling instance by its module name, so they act for the instance's policy only (its
// tenant's KV, its log, its call's time).
func (t *tenant) instantiateHost(ctx context.Context) error {
	b := t.r.NewHostModuleBuilder(hostModule)
	fn := func(name string, f api.GoModuleFunc) {
		s := hostFunctions[name]
		b.NewFunctionBuilder().WithGoModuleFunction(f, s.params, s.results).Export(name)
	}
	fn("log", func(ctx context.Context, mod api.Module, stack []uint64) {
		in := t.caller(mod)
		level, msg := int32(stack[0]), guestBytes(mod, "log", stack[1], stack[2])
		lv := slog.LevelInfo
		if level >= 0 && int(level) < len(logLevels) {
			lv = logLevels[level]
		}
		in.logLine(lv, msg)
	})
	fn("now_ms", func(ctx context.Context, mod api.Module, stack []uint64) {
		stack[0] = uint64(t.caller(mod).nowMillis())
	})
	fn("kv_get", func(ctx context.Context, mod api.Module, stack []uint64) {
		in := t.caller(mod)
		key := guestBytes(mod, "kv_get", stack[0], stack[1])
		out := guestBytes(mod, "kv_get", stack[2], stack[3])
		if !validKey(key) {
			stack[0] = result(kvInvalidKey)
			return
		}
		v, ok, err := in.p.kv.Get(in.callCtx(), string(key))
		if err != nil {
			panic(fmt.Errorf("kv_get: %w", err))
		}
		if !ok {
			stack[0] = result(kvMissing)
			return
		}
		copy(out, v)
		stack[0] = uint64(len(v))
	})
	fn("kv_set", func(ctx context.Context, mod api.Module, stack []uint64) {
		in := t.caller(mod)
		key := guestBytes(mod, "kv_set", stack[0], stack[1])
		val := guestBytes(mod, "kv_set", stack[2], stack[3])
		if !validKey(key) {
			stack[0] = result(kvInvalidKey)
			return
		}
		switch err := in.p.kv.Set(in.callCtx(), string(key), bytes.Clone(val)); {
		case errors.Is(err, policy.ErrKVKey):
			stack[0] = result(kvInvalidKey)
		case err != nil:
			stack[0] = result(kvBound)
		default:
			stack[0] = 0
		}
	})
	_, err := b.Instantiate(ctx)
	return err
}

// result is an i32 result on the stack.
func result(v int32) uint64 { return uint64(uint32(v)) }

func validKey(k []byte) bool { return len(k) > 0 && len(k) <= maxKeyLen && utf8.Valid(k) }

// guestBytes returns the guest's memory at ptr, n bytes, or traps (panics, which wazero
// turns into the call's error) when the range is outside memory.
func guestBytes(mod api.Module, fn string, ptr, n uint64) []byte {
	if n == 0 {
		return nil
	}
	b, ok := mod.Memory().Read(uint32(ptr), uint32(n))
	if !ok {
		panic(fmt.Errorf("%s: %d bytes at %#x are outside memory", fn, uint32(n), uint32(ptr)))
	}
	return b
}

// logWriter turns a guest's stdout or stderr (fd_write) into log lines: one per '\n',
// each cut at maxLogLine bytes, under the call's line budget.
type logWriter struct {
	in    *instance
	level slog.Level
	line  []byte
	cut   bool // the current line passed maxLogLine: drop the rest
}

func (w *logWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLogLine - len(w.line); room < len(chunk) {
			chunk, w.cut = chunk[:max(room, 0)], true
		}
		w.line = append(w.line, chunk...)
		if i < 0 {
			break
		}
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

// flush logs the pending line, if any.
func (w *logWriter) flush() {
	if len(w.line) > 0 || w.cut {
		w.in.logLine(w.level, w.line)
	}
	w.line, w.cut = w.line[:0], false
}

// walltime is the realtime clock of WASI's clock_time_get: the call's time during a
// hook call (so that a guest's time.Now() is the input's now), the host's clock outside.
func (in *instance) walltime() (sec int64, nsec int32) {
	ms := in.nowMillis()
	return ms / 1000, int32(ms%1000) * 1e6
}

// logLine logs one line of the guest under the call's budget of lines.
func (in *instance) logLine(level slog.Level, b []byte) {
	if in.logs++; in.logs > maxLogLines || in.p.log == nil {
		return
	}
	if len(b) > maxLogLine {
		b = b[:maxLogLine]
	}
	in.p.log.Log(in.callCtx(), level, strings.ToValidUTF8(string(b), "\uFFFD"))
}
