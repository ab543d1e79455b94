package api

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/wagate/wagate/core/session"
)

// splitMetadata takes WAHA's config.metadata (a string to string map, carried by every
// event of the session) out of a session's config. present is false when config has
// none; rest is the config without it, nil when metadata was all it had. A config that
// is not an object is left to the provider's validation.
func splitMetadata(raw json.RawMessage) (rest json.RawMessage, md map[string]string, present bool, err error) {
	rest, v, ok, err := takeConfigKey(raw, "metadata")
	if !ok || err != nil {
		return rest, nil, ok, err
	}
	if string(v) != "null" {
		// Pointers, so that a null value is told from "" (Unmarshal leaves "" for null).
		var vals map[string]*string
		if err := json.Unmarshal(v, &vals); err != nil {
			return nil, nil, true, badRequest("invalid_metadata", "config.metadata must be an object of string values",
				d("field", "config.metadata"))
		}
		md = make(map[string]string, len(vals))
		for k, p := range vals {
			if p == nil {
				return nil, nil, true, badRequest("invalid_metadata", "config.metadata: the value of "+strconv.Quote(k)+" is null, not a string",
					d("field", "config.metadata"))
			}
			md[k] = *p
		}
	}
	if err := session.CheckMetadata(md); err != nil {
		return nil, nil, true, err // mapSessionError: invalid_metadata, metadata_too_large
	}
	return rest, md, true, nil
}

// takeConfigKey takes key out of a session's config object: its raw value, and the
// config without it (nil when key was all it had). present is false when the config
// has no such key, or is not an object (left to the provider's validation); rest is
// then raw as it is.
func takeConfigKey(raw json.RawMessage, key string) (rest, value json.RawMessage, present bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return raw, nil, false, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw, nil, false, nil
	}
	value, ok := m[key]
	if !ok {
		return raw, nil, false, nil
	}
	delete(m, key)
	if len(m) == 0 {
		return nil, value, true, nil
	}
	rest, err = json.Marshal(m)
	return rest, value, true, err
}

// splitCalls takes the session's call settings, config.calls (ours: {reject, message}),
// out of a session's config, as splitMetadata does the metadata. null clears them.
func splitCalls(raw json.RawMessage) (rest json.RawMessage, calls *session.CallSettings, present bool, err error) {
	rest, v, ok, err := takeConfigKey(raw, "calls")
	if !ok || err != nil {
		return rest, nil, ok, err
	}
	if string(v) != "null" {
		calls = &session.CallSettings{}
		if err := decodeStrict(v, calls); err != nil {
			return nil, nil, true, badRequest("invalid_calls", "config.calls must be {reject: boolean, message?: string}: "+err.Error(),
				d("field", "config.calls"))
		}
		if err := session.CheckCallSettings(calls); err != nil {
			return nil, nil, true, err // mapSessionError: invalid_calls
		}
	}
	return rest, calls, true, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
