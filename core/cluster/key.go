package cluster

import (
	"fmt"
	"strings"
)

// Key names a session cluster-wide, "<tenant>.<session>": the key of its lease.
type Key string

// SessionKey joins a tenant id and a session name into a Key. Both must be non-empty
// and made of letters, digits, '-' and '_' (what core/tenant and core/session accept).
func SessionKey(tenant, session string) (Key, error) {
	if !keyPart(tenant) || !keyPart(session) {
		return "", fmt.Errorf("%w: %q.%q: tenant and session must be letters, digits, '-' or '_'", ErrBadKey, tenant, session)
	}
	return Key(tenant + "." + session), nil
}

// Split returns the tenant and the session of k.
func (k Key) Split() (tenant, session string) {
	t, s, _ := strings.Cut(string(k), ".")
	return t, s
}

func keyPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validKey(k Key) bool {
	t, s, ok := strings.Cut(string(k), ".")
	return ok && keyPart(t) && keyPart(s)
}
