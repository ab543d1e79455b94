package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"
)

// KV is one tenant's key-value store, behind the host functions kv_get and kv_set (Lua:
// wagate.kv_get, wagate.kv_set). It is shared by the tenant's policies and invisible to
// other tenants: a host hands a plugin the KV of the plugin's own tenant only. It is
// bounded; a write past a bound fails with ErrKVFull, ErrKVKey or ErrKVValue.
//
// The store is memory only today (MemKV): it starts empty at every start of the gateway.
// A Badger-backed implementation of the same interface can come later without changing
// plugins.
type KV interface {
	// Get returns a copy of key's value; ok is false when the key is absent.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key; an empty value deletes the key.
	Set(ctx context.Context, key string, value []byte) error
}

// Errors of a KV write.
var (
	// ErrKVKey: the key is empty, longer than MaxKeyLen or not UTF-8.
	ErrKVKey = errors.New("invalid kv key")
	// ErrKVValue: the value is longer than MaxValueLen.
	ErrKVValue = errors.New("kv value too large")
	// ErrKVFull: the write would pass the tenant's MaxKeys or MaxBytes.
	ErrKVFull = errors.New("kv store full")
)

// KVLimits bound a tenant's store. Zero fields take the defaults shown.
type KVLimits struct {
	// MaxKeyLen bounds a key, in bytes (256).
	MaxKeyLen int
	// MaxValueLen bounds a value, in bytes (4096).
	MaxValueLen int
	// MaxKeys bounds the keys of one tenant (1024).
	MaxKeys int
	// MaxBytes bounds the sum of the lengths of a tenant's keys and values (256 KiB).
	MaxBytes int
}

func (l KVLimits) withDefaults() KVLimits {
	if l.MaxKeyLen <= 0 {
		l.MaxKeyLen = 256
	}
	if l.MaxValueLen <= 0 {
		l.MaxValueLen = 4096
	}
	if l.MaxKeys <= 0 {
		l.MaxKeys = 1024
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 256 << 10
	}
	return l
}

// MemKV holds the in-memory KVs of all tenants. Safe for concurrent use; tenants do not
// contend with each other.
type MemKV struct {
	limits  KVLimits
	mu      sync.Mutex
	tenants map[string]*memKV
}

// NewMemKV returns an empty store bounded per tenant by l.
func NewMemKV(l KVLimits) *MemKV {
	return &MemKV{limits: l.withDefaults(), tenants: make(map[string]*memKV)}
}

// For returns tenant's KV.
func (m *MemKV) For(tenant string) KV {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[tenant]
	if !ok {
		t = &memKV{limits: m.limits, data: make(map[string][]byte)}
		m.tenants[tenant] = t
	}
	return t
}

// Drop forgets tenant's store (tenant deleted).
func (m *MemKV) Drop(tenant string) {
	m.mu.Lock()
	delete(m.tenants, tenant)
	m.mu.Unlock()
}

type memKV struct {
	limits KVLimits
	mu     sync.Mutex
	data   map[string][]byte
	bytes  int
}

func (t *memKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.data[key]
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), v...), true, nil
}

func (t *memKV) Set(_ context.Context, key string, value []byte) error {
	if key == "" || len(key) > t.limits.MaxKeyLen || !utf8.ValidString(key) {
		return fmt.Errorf("%w: %d bytes (1 to %d of UTF-8)", ErrKVKey, len(key), t.limits.MaxKeyLen)
	}
	if len(value) > t.limits.MaxValueLen {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrKVValue, len(value), t.limits.MaxValueLen)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old, exists := t.data[key]
	if len(value) == 0 {
		if exists {
			delete(t.data, key)
			t.bytes -= len(key) + len(old)
		}
		return nil
	}
	bytes := t.bytes + len(value) - len(old)
	if !exists {
		bytes += len(key)
		if len(t.data) >= t.limits.MaxKeys {
			return fmt.Errorf("%w: %d keys", ErrKVFull, t.limits.MaxKeys)
		}
	}
	if bytes > t.limits.MaxBytes {
		return fmt.Errorf("%w: %d bytes", ErrKVFull, t.limits.MaxBytes)
	}
	t.data[key] = append([]byte(nil), value...)
	t.bytes = bytes
	return nil
}

// noKV is the store of a plugin given none: always empty, refuses writes.
type noKV struct{}

func (noKV) Get(context.Context, string) ([]byte, bool, error) { return nil, false, nil }
func (noKV) Set(context.Context, string, []byte) error         { return fmt.Errorf("%w: no store", ErrKVFull) }

// KVOf returns spec.KV, or a store that is always empty and refuses writes when nil.
func KVOf(spec Spec) KV {
	if spec.KV == nil {
		return noKV{}
	}
	return spec.KV
}
