//go:build wasip1

package wasm

import (
	"unsafe"
)

// The module's side of the ABI: the exports the host calls and the imports it provides.
// Pointers are addresses in the module's linear memory, which is Go's memory.

//go:wasmexport wagate_abi_version
func wagateABIVersion() int32 { return abiVersion }

//go:wasmexport wagate_hooks
func wagateHooks() int32 { return hooks() }

// inbuf is the input buffer of the current call, the first bytes of buf, which every
// wagate_alloc reuses (growing it when asked for more). Nothing decoded from an input
// points into it (see decoder), so the host may write the next input over it
// (wagate_input_reuse) and need not call wagate_alloc again.
var inbuf, buf []byte

//go:wasmexport wagate_alloc
func wagateAlloc(size int32) uint32 {
	if size < 0 {
		return 0
	}
	if int(size) > len(buf) || len(buf) == 0 {
		buf = make([]byte, max((int(size)+7)&^7, 8)) // 8-byte aligned by Go's allocator
	}
	inbuf = buf[:size:size]
	return addr(buf)
}

// wagate_input_reuse tells the host it may write an input over the buffer of the last
// wagate_alloc when it fits (ABI v1.1, docs/plugins.md).
//
//go:wasmexport wagate_input_reuse
func wagateInputReuse() int32 { return 1 }

// inputAt returns the buffer the host wrote at ptr, n bytes: wagate_alloc's.
func inputAt(ptr, n uint32) ([]byte, bool) {
	if ptr != addr(buf) || int(n) > len(inbuf) {
		return nil, false
	}
	return inbuf[:n], true
}

// addr is the address of b's first byte in linear memory.
func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

//go:wasmexport wagate_configure
func wagateConfigure(ptr, n uint32) int32 {
	b, ok := inputAt(ptr, n)
	if !ok {
		return 1
	}
	return configure(b)
}

//go:wasmexport wagate_route
func wagateRoute(ptr, n uint32) int32 {
	b, ok := inputAt(ptr, n)
	if !ok {
		return codeBadInput
	}
	return int32(route(b))
}

//go:wasmexport wagate_failover
func wagateFailover(ptr, n uint32) int64 {
	b, ok := inputAt(ptr, n)
	if !ok {
		return codeBadInput
	}
	return withReason(failover(b))
}

//go:wasmexport wagate_rate
func wagateRate(ptr, n uint32) int64 {
	b, ok := inputAt(ptr, n)
	if !ok {
		return codeBadInput
	}
	return withReason(rate(b))
}

//go:wasmexport wagate_transform
func wagateTransform(ptr, n uint32) int64 {
	b, ok := inputAt(ptr, n)
	if !ok {
		return codeBadInput
	}
	a := transform(b)
	if a.out == nil {
		return a.v
	}
	return int64(uint64(addr(a.out))<<32 | uint64(uint32(len(a.out))))
}

// withReason puts the location of a's reason into its payload: len << 32 | ptr, the
// length in 24 bits.
func withReason(a answer) int64 {
	if a.out == nil {
		return a.v
	}
	return a.v | int64(uint64(min(len(a.out), 1<<24-1))<<32|uint64(addr(a.out)))
}

//go:wasmimport wagate log
func importLog(level int32, ptr *byte, n int32)

//go:wasmimport wagate now_ms
func importNowMs() int64

//go:wasmimport wagate kv_get
func importKVGet(keyPtr *byte, keyLen int32, outPtr *byte, outCap int32) int32

//go:wasmimport wagate kv_set
func importKVSet(keyPtr *byte, keyLen int32, valPtr *byte, valLen int32) int32

func hostLog(level Level, msg string) {
	importLog(int32(level), unsafe.StringData(msg), int32(len(msg)))
}

func hostNow() int64 { return importNowMs() }

// kvBuf receives values; most fit at once.
var kvBuf = make([]byte, 256)

func hostKVGet(key string) ([]byte, bool, error) {
	for {
		n := importKVGet(unsafe.StringData(key), int32(len(key)), unsafe.SliceData(kvBuf), int32(len(kvBuf)))
		switch {
		case n == -1:
			return nil, false, nil
		case n < 0:
			return nil, false, ErrKVKey
		case int(n) <= len(kvBuf):
			return append([]byte(nil), kvBuf[:n]...), true, nil
		}
		kvBuf = make([]byte, n)
	}
}

func hostKVSet(key string, value []byte) error {
	switch importKVSet(unsafe.StringData(key), int32(len(key)), unsafe.SliceData(value), int32(len(value))) {
	case 0:
		return nil
	case -2:
		return ErrKVKey
	}
	return ErrKVFull
}
