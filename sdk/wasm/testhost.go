//go:build !wasip1

package wasm

import (
	"sync"
	"time"
)

// TestHost stands in for the gateway when this package is built for anything but
// GOOS=wasip1, that is when a policy's hook functions are tested in-process with go
// test: Log, Now, KVGet and KVSet act on the TestHost in use (UseTestHost). Safe for
// concurrent use.
type TestHost struct {
	mu    sync.Mutex
	clock time.Time
	kv    map[string][]byte
	logs  []string
}

// SetNow makes Now return t; the zero time means the machine's clock (the default).
func (h *TestHost) SetNow(t time.Time) {
	h.mu.Lock()
	h.clock = t
	h.mu.Unlock()
}

// Logs returns the lines logged, each as "LEVEL message" (DEBUG, INFO, WARN, ERROR).
func (h *TestHost) Logs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.logs...)
}

// KV returns a copy of the key-value store.
func (h *TestHost) KV() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[string]string, len(h.kv))
	for k, v := range h.kv {
		m[k] = string(v)
	}
	return m
}

var (
	hostMu  sync.Mutex
	current = &TestHost{}
)

// UseTestHost makes h the host of Log, Now, KVGet and KVSet until restore is called.
func UseTestHost(h *TestHost) (restore func()) {
	hostMu.Lock()
	prev := current
	current = h
	hostMu.Unlock()
	return func() {
		hostMu.Lock()
		current = prev
		hostMu.Unlock()
	}
}

func testHost() *TestHost {
	hostMu.Lock()
	defer hostMu.Unlock()
	return current
}

var levelNames = map[Level]string{LevelDebug: "DEBUG", LevelInfo: "INFO", LevelWarn: "WARN", LevelError: "ERROR"}

func hostLog(level Level, msg string) {
	h := testHost()
	name, ok := levelNames[level]
	if !ok {
		name = "INFO"
	}
	h.mu.Lock()
	h.logs = append(h.logs, name+" "+msg)
	h.mu.Unlock()
}

func hostNow() int64 {
	h := testHost()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clock.IsZero() {
		return time.Now().UnixMilli()
	}
	return h.clock.UnixMilli()
}

func hostKVGet(key string) ([]byte, bool, error) {
	h := testHost()
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.kv[key]
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), v...), true, nil
}

func hostKVSet(key string, value []byte) error {
	if len(value) > 4096 {
		return ErrKVFull
	}
	h := testHost()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(value) == 0 {
		delete(h.kv, key)
		return nil
	}
	if h.kv == nil {
		h.kv = make(map[string][]byte)
	}
	h.kv[key] = append([]byte(nil), value...)
	return nil
}
