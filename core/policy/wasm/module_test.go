package wasm

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// withImport is routeConst(0) importing one more function.
func withImport(module, name string, params, results []byte) *mod {
	m := &mod{memMin: 1}
	m.importFunc(module, name, params, results)
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(inputAt))
	m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(0))
	return m
}

func TestLoadRefused(t *testing.T) {
	small := New(Options{InitTimeout: 50 * time.Millisecond})
	defer small.Close()
	tiny := New(Options{MaxModuleSize: 64})
	defer tiny.Close()
	without := func(export string) *mod {
		m := routeConst(0)
		for i, e := range m.exports {
			if e.name == export {
				m.exports = append(m.exports[:i], m.exports[i+1:]...)
			}
		}
		if export == "memory" {
			m.noMemory = true
		}
		return m
	}
	for _, tc := range []struct {
		name string
		src  []byte
		rt   *Runtime
		err  error
		msg  string
	}{
		{"WASI path_open", withImport(wasiModule, "path_open", []byte{tI32, tI32, tI32, tI32, tI32, tI64, tI64, tI32, tI32}, tsI32).bytes(), nil,
			ErrImport, "wasi_snapshot_preview1.path_open: filesystem access is not allowed"},
		{"WASI fd_pread", withImport(wasiModule, "fd_pread", []byte{tI32, tI32, tI32, tI64, tI32}, tsI32).bytes(), nil,
			ErrImport, "wasi_snapshot_preview1.fd_pread: file access is not allowed"},
		{"WASI fd_filestat_get", withImport(wasiModule, "fd_filestat_get", []byte{tI32, tI32}, tsI32).bytes(), nil,
			ErrImport, "wasi_snapshot_preview1.fd_filestat_get: file access"},
		{"WASI fd_seek", withImport(wasiModule, "fd_seek", []byte{tI32, tI64, tI32, tI32}, tsI32).bytes(), nil,
			ErrImport, "wasi_snapshot_preview1.fd_seek: file access"},
		{"WASI fd_readdir", withImport(wasiModule, "fd_readdir", []byte{tI32, tI32, tI32, tI64, tI32}, tsI32).bytes(), nil,
			ErrImport, "wasi_snapshot_preview1.fd_readdir: file access"},
		{"WASI sock_accept", withImport(wasiModule, "sock_accept", []byte{tI32, tI32, tI32}, tsI32).bytes(), nil,
			ErrImport, "wasi_snapshot_preview1.sock_accept: sockets are not allowed"},
		{"WASI proc_raise", withImport(wasiModule, "proc_raise", tsI32, tsI32).bytes(), nil,
			ErrImport, "signals"},
		{"unknown module", withImport("env", "system", tsI32, tsI32).bytes(), nil,
			ErrImport, `env.system: unknown module "env"`},
		{"unknown host function", withImport("wagate", "exec", tsI32, tsI32).bytes(), nil,
			ErrImport, "wagate.exec: wagate has no such function"},
		{"host function of another type", withImport("wagate", "log", tsNone, tsNone).bytes(), nil,
			ErrImport, "wagate.log has type () -> (), want (i32, i32, i32) -> ()"},
		{"WASI function of another type", withImport(wasiModule, "fd_write", tsI32, tsI32).bytes(), nil,
			ErrImport, "wasi_snapshot_preview1.fd_write has type (i32) -> (i32)"},
		{"imported memory", func() []byte {
			m := routeConst(0)
			m.imports = append(m.imports, wasmImport{module: "env", name: "memory", kind: 2})
			return m.bytes()
		}(), nil, ErrImport, "env.memory is a memory"},
		{"imported global", func() []byte {
			m := routeConst(0)
			m.imports = append(m.imports, wasmImport{module: "wagate", name: "g", kind: 3})
			return m.bytes()
		}(), nil, ErrImport, "wagate.g is a global"},
		{"text format", []byte("(module)"), nil, ErrNotWasm, ""},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), nil, ErrNotWasm, "component"},
		{"truncated", routeConst(0).bytes()[:20], nil, ErrNotWasm, "truncated section"},
		{"invalid code", func() []byte {
			m := guest(1)
			m.fn("wagate_route", tsPtrLen, tsI32, nil, opI32Add)
			return m.bytes()
		}(), nil, nil, "compiling"},
		{"too large", leastLoaded().bytes(), tiny, ErrModuleSize, ""},
		{"exports the host's interrupt name", func() []byte {
			m := routeConst(0)
			m.fn(interruptExport, tsNone, tsNone, nil)
			return m.bytes()
		}(), nil, ErrExport, `exports "wagate.interrupt", a name the host reserves`},
		{"exports the host's start name", func() []byte {
			m := routeConst(0)
			m.fn(startExport, tsNone, tsNone, nil)
			return m.bytes()
		}(), nil, ErrExport, `exports "wagate.start", a name the host reserves`},
		{"no memory", without("memory").bytes(), nil, ErrExport, `no memory exported as "memory"`},
		{"no wagate_alloc", without("wagate_alloc").bytes(), nil, ErrExport, "wagate_alloc missing"},
		{"no wagate_abi_version", without("wagate_abi_version").bytes(), nil, ErrExport, "wagate_abi_version missing"},
		{"no hook", without("wagate_route").bytes(), nil, ErrExport, "no hook exported"},
		{"hook of another type", func() []byte {
			m := guest(1)
			m.fn("wagate_route", tsPtrLen, tsI64, nil, i64Const(0))
			return m.bytes()
		}(), nil, ErrExport, "wagate_route has type (i32, i32) -> (i64), want (i32, i32) -> (i32)"},
		{"alloc of another type", func() []byte {
			m := &mod{memMin: 1}
			m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
			m.fn("wagate_alloc", tsI64, tsI32, nil, i32Const(8))
			m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(0))
			return m.bytes()
		}(), nil, ErrExport, "wagate_alloc has type (i64) -> (i32)"},
		{"ABI version 2", func() []byte {
			m := guest(2)
			m.fn("wagate_route", tsPtrLen, tsI32, nil, i32Const(0))
			return m.bytes()
		}(), nil, policy.ErrABIVersion, "plugin has 2, gateway has 1"},
		{"initial memory over the limit", func() []byte {
			m := routeConst(0)
			m.memMin = 257
			return m.bytes()
		}(), nil, nil, "compiling"},
		{"_initialize traps", func() []byte {
			m := routeConst(0)
			m.fn("_initialize", tsNone, tsNone, nil, opUnreachable)
			return m.bytes()
		}(), nil, nil, "_initialize: wasm error: unreachable"},
		{"_initialize spins", func() []byte {
			m := routeConst(0)
			m.fn("_initialize", tsNone, tsNone, nil, opLoop, br(0), opEnd)
			return m.bytes()
		}(), small, policy.ErrTimeout, "_initialize"},
		{"start function spins", func() []byte {
			m := routeConst(0)
			m.start = m.fn("", tsNone, tsNone, nil, opLoop, br(0), opEnd)
			m.hasStart = true
			return m.bytes()
		}(), small, policy.ErrTimeout, "instantiating"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := tc.rt
			if rt == nil {
				rt = testRuntime
			}
			start := time.Now()
			_, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "p", Source: tc.src})
			if err == nil {
				t.Fatal("loaded")
			}
			if tc.err != nil && !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%v; want %v saying %q", err, tc.err, tc.msg)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("refusing took %s", took)
			}
			t.Log(err)
		})
	}
}

// wasiGuest uses the WASI functions the host allows: its route writes "hi\nthere" to
// fd 1 and "oops\n" to fd 2 (one fd_write each) and answers candidate 0 when both
// succeeded (errno 0); its rate answers delay(realtime clock in ms mod 86400000 + 1); its
// failover answers retry after as many ms as the errno of fd_prestat_get(3); its
// transform reads stdin.
func wasiGuest() *mod {
	m := &mod{memMin: 1}
	fdWrite := m.importFunc(wasiModule, "fd_write", []byte{tI32, tI32, tI32, tI32}, tsI32)
	clock := m.importFunc(wasiModule, "clock_time_get", []byte{tI32, tI64, tI32}, tsI32)
	prestat := m.importFunc(wasiModule, "fd_prestat_get", []byte{tI32, tI32}, tsI32)
	fdRead := m.importFunc(wasiModule, "fd_read", []byte{tI32, tI32, tI32, tI32}, tsI32)
	m.fn("wagate_abi_version", tsNone, tsI32, nil, i32Const(1))
	m.fn("wagate_alloc", tsI32, tsI32, nil, i32Const(inputAt))
	// iovecs at 512 {600, 8} and 520 {608, 5}
	m.dataAt(512, []byte{0x58, 0x02, 0, 0, 8, 0, 0, 0, 0x60, 0x02, 0, 0, 5, 0, 0, 0})
	m.dataAt(600, []byte("hi\nthereoops\n"))
	m.fn("wagate_route", tsPtrLen, tsI32, nil,
		i32Const(1), i32Const(512), i32Const(1), i32Const(700), call(fdWrite),
		i32Const(2), i32Const(520), i32Const(1), i32Const(700), call(fdWrite),
		opI32Or)
	m.fn("wagate_rate", tsPtrLen, tsI64, nil,
		i32Const(0), i64Const(1), i32Const(800), call(clock), opDrop,
		i64Const(2<<56),
		i32Const(800), []byte{0x29, 0x03, 0x00}, i64Const(1_000_000), []byte{0x80}, // i64.load, i64.div_u
		i64Const(86_400_000), []byte{0x82}, opI64Or, i64Const(1), []byte{0x7c})
	// failover: fd_prestat_get(3) must fail (no preopened directory): retry after its
	// errno in ms.
	m.fn("wagate_failover", tsPtrLen, tsI64, nil,
		i32Const(3), i32Const(900), call(prestat), opI64ExtendU, i64Const(1<<56), opI64Or)
	// transform: fd_read(0) into the buffer of iovec 512 (8 bytes at 600): drop (0) when
	// it succeeded with 0 bytes read (the empty stdin), else a guest error.
	m.fn("wagate_transform", tsPtrLen, tsI64, nil,
		i32Const(0), i32Const(512), i32Const(1), i32Const(940), call(fdRead),
		i32Const(940), i32Load(0), opI32Or, opI32Eqz,
		opIf, i64Const(0), opReturn, opEnd,
		i64Const(-1))
	return m
}

// TestWASI: the allowed WASI functions work as docs/plugins.md says: stdout and stderr
// are log lines, the realtime clock is the call's time, there is no preopened directory.
func TestWASI(t *testing.T) {
	lines := &logLines{}
	logger := slog.New(slog.NewTextHandler(lines, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "module" {
			return slog.Attr{}
		}
		return a
	}}))
	p := mustOpen(t, wasiGuest().bytes(), loadOpts{log: logger})
	if d, err := p.Route(ctx, routeIn()); err != nil || d.Session != "s1" {
		t.Fatalf("route: %+v, %v", d, err)
	}
	// "there" has no newline: it is logged when the call ends.
	want := "level=INFO msg=hi tenant=acme policy=p\nlevel=WARN msg=oops tenant=acme policy=p\nlevel=INFO msg=there tenant=acme policy=p"
	if got := strings.Join(lines.list(), "\n"); got != want {
		t.Errorf("log\n%s\nwant\n%s", got, want)
	}
	now := time.UnixMilli(1_767_323_045_678)
	if d, err := p.Rate(ctx, policy.RateInput{Now: now}); err != nil || d.Delay != time.Duration(now.UnixMilli()%86_400_000+1)*time.Millisecond {
		t.Errorf("rate: %+v, %v", d, err)
	}
	const ebadf = 8
	if d, err := p.Failover(ctx, policy.FailoverInput{Attempt: 1}); err != nil || d.Delay != ebadf*time.Millisecond {
		t.Errorf("failover: %+v, %v; want a delay of EBADF (8) ms", d, err)
	}
	if r, err := p.Transform(ctx, transformIn()); err != nil || !r.Drop {
		t.Errorf("transform: %+v, %v; want stdin empty", r, err)
	}
}

func TestLogWriter(t *testing.T) {
	lines := &logLines{}
	p := &Plugin{log: slog.New(slog.NewTextHandler(lines, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
			return slog.Attr{}
		}
		return a
	}}))}
	in := &instance{p: p}
	w := &logWriter{in: in}
	in.begin(ctx, 0)
	_, _ = w.Write([]byte("a"))
	_, _ = w.Write([]byte("b\nc\n\n"))
	_, _ = w.Write([]byte(strings.Repeat("x", 3000) + "\nlast"))
	w.flush()
	got := lines.list()
	if len(got) != 4 || got[0] != "msg=ab" || got[1] != "msg=c" || len(got[2]) != len("msg=")+maxLogLine || got[3] != "msg=last" {
		t.Errorf("lines %q", got)
	}
}
