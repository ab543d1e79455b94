//go:build wasip1

// round-robin, with the Go SDK: candidates take turns (plugins/roundrobin). The turn
// lives in the tenant's key-value store, shared by the policy's instances.
package main

import (
	"strconv"

	"github.com/wagate/wagate/sdk/wasm"
)

// next returns the turn kept under key and advances it.
func next(key string) uint64 {
	var n uint64
	if v, ok, err := wasm.KVGet(key); err == nil && ok {
		n, _ = strconv.ParseUint(string(v), 10, 64)
	}
	if err := wasm.KVSet(key, strconv.AppendUint(nil, n+1, 10)); err != nil {
		wasm.Log(wasm.LevelWarn, "round-robin: keeping the turn: "+err.Error())
	}
	return n
}

func route(in wasm.RouteInput) wasm.RouteDecision {
	n := next("round-robin:next")
	return wasm.RouteDecision{Session: in.Candidates[n%uint64(len(in.Candidates))].Session}
}

func init() { wasm.Register(wasm.Plugin{Route: route}) }

func main() {}
