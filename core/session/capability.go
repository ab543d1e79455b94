package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/wagate/wagate/core/provider"
)

// UnsupportedError: the session's provider lacks a capability, or one operation of it
// (provider.ErrUnsupported from the call). The API answers 501 not_supported_by_provider
// with the provider and capability in its details.
type UnsupportedError struct {
	Session    string
	Provider   string
	Capability string
	// Err is the provider's own error when it refused one operation; nil when it lacks
	// the whole capability.
	Err error
}

func (e *UnsupportedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("session %s uses provider %s, which does not support this %s operation: %v", e.Session, e.Provider, e.Capability, e.Err)
	}
	return fmt.Sprintf("session %s uses provider %s, which does not support %s", e.Session, e.Provider, e.Capability)
}

// Unwrap returns provider.ErrUnsupported, so errors.Is(err, provider.ErrUnsupported) holds.
func (e *UnsupportedError) Unwrap() error { return provider.ErrUnsupported }

// Call runs fn with the running provider of the tenant's session as capability C (one
// of the capability interfaces of core/provider, named capability: provider.CapGroups,
// ...), under the manager's SendTimeout. It is how the API reaches every capability.
//
// Errors: ErrNotFound (no such session for this tenant); *NotWorkingError unless the
// session is WORKING; *UnsupportedError when the provider is not a C, or when fn's
// error is provider.ErrUnsupported; ErrProviderHung; fn's own error otherwise.
func Call[C, T any](ctx context.Context, m *Manager, tenant, name, capability string, fn func(context.Context, C) (T, error)) (T, error) {
	var zero T
	l, err := m.lookup(tenant, name)
	if err != nil {
		return zero, err
	}
	l.mu.Lock()
	p, st, kind := l.prov, l.rec.State, l.rec.Provider
	l.mu.Unlock()
	if p == nil || st != StateWorking {
		return zero, &NotWorkingError{State: st}
	}
	c, ok := p.(C)
	if !ok {
		return zero, &UnsupportedError{Session: name, Provider: kind, Capability: capability}
	}
	v, err := callProvider(m, ctx, capability, m.opts.SendTimeout, func(ctx context.Context) (T, error) { return fn(ctx, c) })
	if err != nil && errors.Is(err, provider.ErrUnsupported) {
		return zero, &UnsupportedError{Session: name, Provider: kind, Capability: capability, Err: err}
	}
	return v, err
}

// Do is Call for operations that return only an error.
func Do[C any](ctx context.Context, m *Manager, tenant, name, capability string, fn func(context.Context, C) error) error {
	_, err := Call(ctx, m, tenant, name, capability, func(ctx context.Context, c C) (struct{}, error) { return struct{}{}, fn(ctx, c) })
	return err
}

// Supports checks, before a send that needs capability C is queued (a status update
// needs provider.Stories), that the tenant's session can make it: *UnsupportedError
// when its running provider is not a C, ErrNotFound for no such session, nil otherwise.
// A session not running passes: its provider is known only once it starts, and a send
// it cannot make then fails at dispatch with provider.ErrUnsupported.
func Supports[C any](m *Manager, tenant, name, capability string) error {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return err
	}
	l.mu.Lock()
	p, kind := l.prov, l.rec.Provider
	l.mu.Unlock()
	if p == nil {
		return nil
	}
	if _, ok := p.(C); !ok {
		return &UnsupportedError{Session: name, Provider: kind, Capability: capability}
	}
	return nil
}
