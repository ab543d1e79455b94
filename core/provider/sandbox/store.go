package sandbox

import (
	"context"
	"sync"
)

// LinkStore persists which phone number each sandbox session is linked to, so that a
// linked session survives a gateway restart and resumes WORKING without pairing again.
// The gateway supplies one backed by its Badger store; tests use NewMemoryLinkStore.
//
// Implementations must be safe for concurrent use. The sandbox calls them without holding
// any lock of its own, with the context of the provider call that needs them (or a
// context ended by Network.Close for the control methods).
type LinkStore interface {
	// LoadLink returns the phone linked to the session; ok is false when there is none.
	LoadLink(ctx context.Context, tenant, session string) (phone string, ok bool, err error)
	// SaveLink records that the session is linked to phone, replacing any previous link.
	SaveLink(ctx context.Context, tenant, session, phone string) error
	// DeleteLink forgets the session's link. Deleting a missing link is not an error.
	DeleteLink(ctx context.Context, tenant, session string) error
}

// MemoryLinkStore is a LinkStore in memory, for tests and for a gateway without storage.
// The zero value is not usable; call NewMemoryLinkStore.
type MemoryLinkStore struct {
	mu    sync.Mutex
	links map[sessionKey]string
}

// NewMemoryLinkStore returns an empty in-memory LinkStore.
func NewMemoryLinkStore() *MemoryLinkStore {
	return &MemoryLinkStore{links: make(map[sessionKey]string)}
}

// LoadLink implements LinkStore.
func (m *MemoryLinkStore) LoadLink(ctx context.Context, tenant, session string) (string, bool, error) {
	if err := ctxDone(ctx); err != nil {
		return "", false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	phone, ok := m.links[sessionKey{tenant, session}]
	return phone, ok, nil
}

// SaveLink implements LinkStore.
func (m *MemoryLinkStore) SaveLink(ctx context.Context, tenant, session, phone string) error {
	if err := ctxDone(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links[sessionKey{tenant, session}] = phone
	return nil
}

// DeleteLink implements LinkStore.
func (m *MemoryLinkStore) DeleteLink(ctx context.Context, tenant, session string) error {
	if err := ctxDone(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.links, sessionKey{tenant, session})
	return nil
}

// ctxDone returns ctx's error if it has ended, without blocking. It selects on Done rather
// than calling Err directly, which some context implementations (clockwork's fake-clock
// contexts) block in until the context ends.
func ctxDone(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

var _ LinkStore = (*MemoryLinkStore)(nil)
