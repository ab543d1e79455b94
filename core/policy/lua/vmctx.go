package lua

import (
	"context"
	"time"
)

// vmCheckEvery is how many VM instructions run between two looks at the call's context.
const vmCheckEvery = 256

// closedChan is the Done channel of a vmContext whose call's context is done.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// vmContext is the context a state's VM sees during a call (L.SetContext): gopher-lua's
// loop calls Done() before every instruction and selects on the result, which for the
// call's own context (a timer context) costs a channel receive attempt each time, about
// a tenth of a short call. vmContext looks at the call's context only every
// vmCheckEvery calls of Done and otherwise returns nil, on which a non-blocking select
// costs nothing; once the call's context is done it returns a closed channel, so the VM
// raises the error (Err, the call's context's) at most vmCheckEvery instructions late.
//
// Done therefore does not return the same value at every call, as context.Context asks:
// a vmContext is given to the state's VM only, which reads Done once per instruction
// and never keeps the channel. Everything else (host functions, the KV) gets the call's
// context itself (state.ctx).
type vmContext struct {
	ctx  context.Context
	n    uint32
	done bool
}

// reset prepares v for a call under ctx.
func (v *vmContext) reset(ctx context.Context) { v.ctx, v.n, v.done = ctx, 0, false }

func (v *vmContext) Done() <-chan struct{} {
	if v.done {
		return closedChan
	}
	if v.n++; v.n%vmCheckEvery != 0 {
		return nil
	}
	select {
	case <-v.ctx.Done():
		v.done = true
		return closedChan
	default:
		return nil
	}
}

func (v *vmContext) Err() error                              { return v.ctx.Err() }
func (v *vmContext) Deadline() (deadline time.Time, ok bool) { return v.ctx.Deadline() }
func (v *vmContext) Value(key any) any                       { return v.ctx.Value(key) }

var _ context.Context = (*vmContext)(nil)
