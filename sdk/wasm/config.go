package wasm

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// DecodeConfig decodes a policy's JSON configuration into v strictly, as the gateway's
// built-in policies do: unknown fields and trailing data are errors.
func DecodeConfig(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the configuration")
	}
	return nil
}

// Duration is a configuration duration written as a Go duration string ("30s",
// "1m30s", "250ms"), as in the built-in policies' configurations.
type Duration time.Duration

// UnmarshalJSON accepts a duration string that is not negative.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("duration must be a string like \"30s\": " + string(b))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return errors.New("duration " + s + " is negative")
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
