// Package wasm is the Go SDK of wagate WASM policies: it hides the binary ABI v1 of
// docs/plugins.md behind Go types, so that a policy is a few plain functions.
//
// A policy is a main package built for WASI preview 1 as a reactor (a library the host
// calls into), with //go:wasmexport functions this package provides:
//
//	package main
//
//	import "github.com/wagate/wagate/sdk/wasm"
//
//	// route sends every message through the candidate with the shortest queue.
//	func route(in wasm.RouteInput) wasm.RouteDecision {
//		best := 0
//		for i, c := range in.Candidates {
//			if c.QueueDepth < in.Candidates[best].QueueDepth {
//				best = i
//			}
//		}
//		return wasm.RouteDecision{Session: in.Candidates[best].Session}
//	}
//
//	func init() { wasm.Register(wasm.Plugin{Route: route}) }
//
//	func main() {} // never called in a reactor: register in init
//
// Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o router.wasm .
//
// and upload router.wasm as the tenant's policy. The gateway calls _initialize once per
// instance (the Go runtime starts and init functions run, main does not), then the
// module's exports: wagate_abi_version, wagate_hooks (the hooks registered),
// wagate_configure, wagate_alloc and wagate_<hook>. This package implements them all:
// it decodes each input into the types below, calls the registered function and
// encodes its answer.
//
// # Rules for hook functions
//
//   - A hook is called with the input of one call; the input's slices are reused by the
//     next call: copy what you keep. Strings may be kept (they are copies, never
//     pointers into the input buffer, which the host reuses).
//   - Calls on one instance come one at a time, but the gateway runs several instances
//     of a policy and creates and discards them at will (after any failure): keep state
//     that must outlive an instance in the key-value store (KVGet, KVSet), not in
//     globals.
//   - Use the input's Now (or Now()) rather than a clock; time.Now() in a module returns
//     the call's time too.
//   - A hook that panics fails its call: the host counts an error (the panic is logged)
//     and the gateway's default answers instead.
//   - The module may not read files, open sockets or read its environment: the host
//     refuses at load a module importing such WASI functions. Standard packages like
//     strings, strconv, sort, encoding/json, regexp, time and fmt are fine; os, net and
//     their users (os/exec, net/http, ...) are not.
//
// # Testing
//
// Built for anything but wasip1 (go test on your machine), the package keeps its API:
// call your hook functions directly, and Log, Now, KVGet and KVSet act on a TestHost
// (UseTestHost). To run the real module, load it with core/policy/wasm as the gateway
// does.
package wasm
