package goplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DecodeConfig decodes a plugin's JSON configuration into v strictly: unknown fields and
// trailing data are errors wrapping ErrBadConfig. An empty config is "{}". It is what a
// Configure usually does:
//
//	func (r *Router) Configure(_ context.Context, raw json.RawMessage) error {
//		return goplugin.DecodeConfig(raw, &r.config)
//	}
func DecodeConfig(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrBadConfig)
	}
	return nil
}
