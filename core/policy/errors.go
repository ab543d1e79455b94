package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/core/event"
)

// Errors of loading a policy.
var (
	// ErrABIVersion: the plugin was written for another version of the contract.
	ErrABIVersion = errors.New("unsupported policy ABI version")
	// ErrNoHooks: the plugin implements none of the hooks.
	ErrNoHooks = errors.New("policy implements no hook")
	// ErrNotImplemented: the plugin does not implement a hook it was bound to, or that
	// its Info lists.
	ErrNotImplemented = errors.New("hook not implemented")
	// ErrBadName: a policy name that is not 1 to 64 of [a-z0-9-].
	ErrBadName = errors.New("invalid policy name")
	// ErrUnknownPlugin: no native plugin is registered under that name.
	ErrUnknownPlugin = errors.New("unknown native plugin")
	// ErrBadConfig: the plugin refused its configuration. Plugins wrap it.
	ErrBadConfig = errors.New("invalid policy configuration")
)

// Errors of a hook call. The chain classifies a failed call by them (see Reason).
var (
	// ErrBadOutput: the hook answered something the contract does not allow (a session
	// that is not a candidate, an unknown action, a delay out of range, a reason too
	// long, a transformed event whose id or tenant changed, a result of the wrong shape).
	ErrBadOutput = errors.New("bad policy output")
	// ErrTimeout: the call did not return within its budget. Hosts wrap it together
	// with context.DeadlineExceeded.
	ErrTimeout = errors.New("policy call timed out")
	// ErrPanic: the hook panicked (native) or the guest trapped.
	ErrPanic = errors.New("policy panicked")
	// ErrClosed: the plugin was closed (its chain was replaced).
	ErrClosed = errors.New("policy closed")
)

// Reason classifies a failed hook call, for reports and the errors metric.
type Reason string

// Reasons a call fails.
const (
	ReasonTimeout   Reason = "timeout"
	ReasonError     Reason = "error"
	ReasonPanic     Reason = "panic"
	ReasonBadOutput Reason = "bad_output"
)

// reasonOf classifies err.
func reasonOf(err error) Reason {
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, ErrPanic):
		return ReasonPanic
	case errors.Is(err, ErrBadOutput):
		return ReasonBadOutput
	}
	return ReasonError
}

// PanicError is a panic recovered from a native hook.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return fmt.Sprintf("policy panicked: %v", e.Value) }

// Is makes errors.Is(err, ErrPanic) true.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Event names of policy reports on the event bus.
const (
	// EventError: a hook call failed and the default answered instead.
	EventError = "policy.error"
	// EventDisabled: a policy failed BreakerThreshold times in a row and is disabled.
	EventDisabled = "policy.disabled"
)

// Failure reports a failed hook call. The chain hands one to ChainOptions.OnFailure for
// every failed call.
type Failure struct {
	Tenant string
	// Policy is the binding's name.
	Policy string
	Hook   Hook
	Reason Reason
	Err    error
	// Disabled is true when this failure opened the breaker: the policy is skipped from
	// now on, until the chain is rebuilt or Reset.
	Disabled bool
	At       time.Time
}

// FailurePayload is the payload of policy.error and policy.disabled events.
type FailurePayload struct {
	Policy string `json:"policy"`
	Hook   string `json:"hook"`
	Reason Reason `json:"reason"`
	Error  string `json:"error"`
}

// Envelopes returns the events that report f: policy.error, and policy.disabled too
// when f opened the breaker. Publish them on the bus so tenants see them.
func (f Failure) Envelopes() []event.Envelope {
	p := FailurePayload{Policy: f.Policy, Hook: f.Hook.String(), Reason: f.Reason}
	if f.Err != nil {
		p.Error = Clip(f.Err.Error(), 512)
	}
	out := []event.Envelope{event.New(EventError, f.Tenant, "", p)}
	if f.Disabled {
		out = append(out, event.New(EventDisabled, f.Tenant, "", p))
	}
	return out
}
