package wasm

import (
	"errors"
	"time"
	"unicode/utf8"
)

// Level is the level of a log line.
type Level int32

// Log levels, as the host's log import numbers them.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Log writes a line to the policy's log in the gateway, with the tenant, the policy and
// the module as attributes. The host keeps at most 100 lines per call (those written to
// stdout and stderr included) and cuts each at 1024 bytes.
func Log(level Level, msg string) { hostLog(level, msg) }

// Now returns the time of the call, to the millisecond (during Configure: the host's
// clock). It is the input's Now; rules use it rather than a clock of their own so that
// the same input gives the same answer.
func Now() time.Time { return time.UnixMilli(hostNow()).UTC() }

// Errors of the key-value store.
var (
	// ErrKVKey: the key is empty, longer than 256 bytes or not UTF-8.
	ErrKVKey = errors.New("invalid kv key")
	// ErrKVFull: a bound of the tenant's store was hit (a value over 4 KiB, too many
	// keys or bytes); nothing changed.
	ErrKVFull = errors.New("kv store full")
)

// KVGet returns the value of key in the tenant's key-value store, shared by the
// tenant's policies and invisible to other tenants; ok is false when the key is absent.
func KVGet(key string) (value []byte, ok bool, err error) {
	if !validKey(key) {
		return nil, false, ErrKVKey
	}
	return hostKVGet(key)
}

// KVSet stores value under key in the tenant's key-value store; an empty value deletes
// the key. Keys are 1 to 256 bytes of UTF-8, values at most 4 KiB; see docs/plugins.md
// for the store's bounds.
func KVSet(key string, value []byte) error {
	if !validKey(key) {
		return ErrKVKey
	}
	return hostKVSet(key, value)
}

func validKey(key string) bool { return key != "" && len(key) <= 256 && utf8.ValidString(key) }
