package wasm

import (
	"testing"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/wasm/wasmtest"
)

// BenchmarkGoGuestExport: the cost of one call into a Go guest, by export: an export
// that does nothing (wagate_abi_version), wagate_alloc, and wagate_route with the
// benchmark's ten-candidate input, without the chain or the watch.
func BenchmarkGoGuestExport(b *testing.B) {
	pl, err := policy.Open(ctx, testRuntime, policy.Spec{Tenant: "acme", Name: "router", Source: wasmtest.Builtin(b, "least-loaded")})
	if err != nil {
		b.Fatal(err)
	}
	p := pl.(*Plugin)
	defer p.Close()
	inst, err := p.acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer p.release(inst, true)
	in := tenCandidates()
	input := policy.AppendRouteInput(nil, &in)
	ver := inst.mod.ExportedFunction(exportABIVersion)
	b.Run("abi_version", func(b *testing.B) {
		for b.Loop() {
			inst.stack[0] = 0
			if err := ver.CallWithStack(ctx, inst.stack[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("alloc", func(b *testing.B) {
		loopCPU(b, func() {
			inst.stack[0] = uint64(len(input))
			if err := inst.alloc.CallWithStack(ctx, inst.stack[:]); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("alloc+write+route", func(b *testing.B) {
		loopCPU(b, func() {
			inst.stack[0] = uint64(len(input))
			if err := inst.alloc.CallWithStack(ctx, inst.stack[:]); err != nil {
				b.Fatal(err)
			}
			ptr := uint32(inst.stack[0])
			inst.mem.Write(ptr, input)
			inst.stack[0], inst.stack[1] = uint64(ptr), uint64(len(input))
			if err := inst.hooks[policy.HookRoute].CallWithStack(ctx, inst.stack[:]); err != nil {
				b.Fatal(err)
			}
		})
	})
}
