//go:build !linux

package plugins

import "testing"

// loopCPU runs f in b.Loop (the CPU time per call is measured on Linux only).
func loopCPU(b *testing.B, f func()) {
	for b.Loop() {
		f()
	}
}
