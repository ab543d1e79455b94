package session

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"
)

// Bounds of a session's metadata. Every event of the session carries it, so it stays
// small.
const (
	MaxMetadataKeys  = 32
	MaxMetadataKey   = 64   // bytes
	MaxMetadataValue = 512  // bytes
	MaxMetadataSize  = 4096 // bytes of all keys and values together
)

// CheckMetadata validates a session's metadata: ErrInvalidMetadata for an empty key, a
// key with control characters or text that is not UTF-8; ErrMetadataTooLarge past
// the bounds above. nil and empty are valid (no metadata).
func CheckMetadata(md map[string]string) error {
	if len(md) > MaxMetadataKeys {
		return fmt.Errorf("%w: %d keys (at most %d)", ErrMetadataTooLarge, len(md), MaxMetadataKeys)
	}
	size := 0
	for k, v := range md {
		switch {
		case k == "":
			return fmt.Errorf("%w: empty key", ErrInvalidMetadata)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fmt.Errorf("%w: key %q: not UTF-8", ErrInvalidMetadata, k)
		case len(k) > MaxMetadataKey:
			return fmt.Errorf("%w: key %.64q... is %d bytes (at most %d)", ErrMetadataTooLarge, k, len(k), MaxMetadataKey)
		case len(v) > MaxMetadataValue:
			return fmt.Errorf("%w: the value of %q is %d bytes (at most %d)", ErrMetadataTooLarge, k, len(v), MaxMetadataValue)
		}
		for _, r := range k {
			if unicode.IsControl(r) {
				return fmt.Errorf("%w: key %q has a control character", ErrInvalidMetadata, k)
			}
		}
		size += len(k) + len(v)
	}
	if size > MaxMetadataSize {
		return fmt.Errorf("%w: %d bytes of keys and values (at most %d)", ErrMetadataTooLarge, size, MaxMetadataSize)
	}
	return nil
}

// SetMetadata replaces a session's metadata (nil or empty clears it); no restart.
// Events published from then on carry the new one.
func (m *Manager) SetMetadata(ctx context.Context, tenant, name string, md map[string]string) (Info, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return Info{}, err
	}
	if err := CheckMetadata(md); err != nil {
		return Info{}, err
	}
	if len(md) == 0 {
		md = nil
	}
	if err := l.acquire(ctx); err != nil {
		return Info{}, err
	}
	defer l.release()
	rec := l.update(func(r *Record) { r.Metadata = md })
	l.pmu.Lock()
	m.persist(l)
	l.pmu.Unlock()
	return rec.info(), nil
}

// withMetadata shows the metadata inside the config, where WAHA has it
// (config.metadata).
func withMetadata(cfg json.RawMessage, md map[string]string) json.RawMessage {
	if len(md) == 0 {
		return cfg
	}
	return withConfigKey(cfg, "metadata", md)
}

// withConfigKey shows one of the gateway's own session settings (metadata, calls)
// inside the provider config, under key; a config that is not an object is shown as
// it is.
func withConfigKey(cfg json.RawMessage, key string, v any) json.RawMessage {
	obj := map[string]json.RawMessage{}
	if len(cfg) > 0 && string(cfg) != "null" && json.Unmarshal(cfg, &obj) != nil {
		return cfg
	}
	b, err := json.Marshal(v)
	if err != nil {
		return cfg
	}
	obj[key] = b
	out, err := json.Marshal(obj)
	if err != nil {
		return cfg
	}
	return out
}

// Labelled returns the names of the tenant's sessions whose metadata has every key of
// labels with its value, in any status, ordered by name; empty (not nil) when none
// has. Campaigns select their numbers this way (docs/campaigns.md, "sessionLabels").
func (m *Manager) Labelled(tenant string, labels map[string]string) []string {
	m.mu.Lock()
	var ls []*live
	for k, l := range m.lives {
		if k.tenant == tenant {
			ls = append(ls, l)
		}
	}
	m.mu.Unlock()
	out := []string{}
	for _, l := range ls {
		rec := l.snapshot()
		if hasLabels(rec.Metadata, labels) {
			out = append(out, rec.Name)
		}
	}
	slices.Sort(out)
	return out
}

func hasLabels(md, labels map[string]string) bool {
	for k, v := range labels {
		if got, ok := md[k]; !ok || got != v {
			return false
		}
	}
	return true
}
