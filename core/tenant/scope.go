package tenant

import (
	"errors"
	"fmt"
	"slices"
)

// Scope is what a tenant API key may do. A key holds one or more; a key created without
// any (every key made before scopes existed) holds ScopeAdmin.
//
//	read   every GET of the tenant's resources: sessions, messages, chats, events, ...
//	send   the routes that queue messages: sendText and the other sends, the batch,
//	       reactions, edits, deletes, retries, status updates
//	admin  everything a tenant key can do, read and send included
//
// A read-and-send key is ["read","send"]. Which scope a route needs is declared in the
// API's route table (core/api) and shown in its OpenAPI document.
type Scope string

// The scopes of tenant API keys.
const (
	ScopeRead  Scope = "read"
	ScopeSend  Scope = "send"
	ScopeAdmin Scope = "admin"
)

// Scopes lists every scope, in the order the API documents them.
var Scopes = []Scope{ScopeRead, ScopeSend, ScopeAdmin}

// ErrInvalidScope: a scope that is not one of Scopes.
var ErrInvalidScope = errors.New("invalid scope")

// ScopeError is an ErrInvalidScope naming the scope refused.
type ScopeError struct {
	Scope string
}

func (e *ScopeError) Error() string {
	return fmt.Sprintf("%v %q: one of read, send, admin", ErrInvalidScope, e.Scope)
}

// Is makes errors.Is(err, ErrInvalidScope) true.
func (e *ScopeError) Is(target error) bool { return target == ErrInvalidScope }

// normalizeScopes checks scopes and returns them sorted without duplicates; none means
// [admin].
func normalizeScopes(in []Scope) ([]Scope, error) {
	if len(in) == 0 {
		return []Scope{ScopeAdmin}, nil
	}
	out := make([]Scope, 0, len(in))
	for _, s := range in {
		if !slices.Contains(Scopes, s) {
			return nil, &ScopeError{Scope: string(s)}
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Scope) int { return slices.Index(Scopes, a) - slices.Index(Scopes, b) })
	return out, nil
}

// EffectiveScopes is what a stored key may do: its scopes, or [admin] for a key stored
// without any.
func (k Key) EffectiveScopes() []Scope {
	if len(k.Scopes) == 0 {
		return []Scope{ScopeAdmin}
	}
	return k.Scopes
}

// Allows reports whether the principal may call a route needing scope need ("" needs
// nothing). The admin key and tenant keys with the admin scope may do everything.
func (p Principal) Allows(need Scope) bool {
	if need == "" || p.Admin {
		return true
	}
	if len(p.Scopes) == 0 { // a principal made without scopes: a full tenant key
		return true
	}
	return slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, need)
}
