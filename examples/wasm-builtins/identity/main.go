//go:build wasip1

// identity, with the Go SDK: events pass unchanged (plugins/identity).
package main

import "github.com/wagate/wagate/sdk/wasm"

func transform(in wasm.TransformInput) wasm.TransformResult { return wasm.Keep(in.Event) }

func init() { wasm.Register(wasm.Plugin{Transform: transform}) }

func main() {}
