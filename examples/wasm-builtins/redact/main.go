//go:build wasip1

// redact, with the Go SDK: phone numbers and configured patterns in the text fields of
// event payloads are masked (plugins/redact). Configuration as the native one.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"

	"github.com/wagate/wagate/sdk/wasm"
)

type config struct {
	Fields       []string `json:"fields,omitempty"`
	PhoneNumbers *bool    `json:"phone_numbers,omitempty"`
	KeepLast     *int     `json:"keep_last,omitempty"`
	Patterns     []string `json:"patterns,omitempty"`
	Mask         string   `json:"mask,omitempty"`
}

var phoneRE = regexp.MustCompile(`\+?\d(?:[ .()-]{0,2}\d){6,}`)

var r struct {
	fields   []string
	phones   bool
	keepLast int
	patterns []*regexp.Regexp
	mask     string
}

func configure(raw json.RawMessage) error {
	var c config
	if err := wasm.DecodeConfig(raw, &c); err != nil {
		return err
	}
	r.fields, r.phones, r.keepLast, r.mask = c.Fields, true, 2, c.Mask
	if r.fields == nil {
		r.fields = []string{"body", "text", "caption"}
	}
	if c.PhoneNumbers != nil {
		r.phones = *c.PhoneNumbers
	}
	if c.KeepLast != nil {
		if *c.KeepLast < 0 || *c.KeepLast > 6 {
			return errors.New("keep_last must be 0 to 6")
		}
		r.keepLast = *c.KeepLast
	}
	if r.mask == "" {
		r.mask = "[redacted]"
	}
	r.patterns = nil
	for _, p := range c.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return errors.New("pattern " + p + ": " + err.Error())
		}
		r.patterns = append(r.patterns, re)
	}
	return nil
}

// transform redacts the listed fields; an event with nothing to redact passes byte for
// byte, otherwise the payload is re-encoded (keys sorted).
func transform(in wasm.TransformInput) wasm.TransformResult {
	dec := json.NewDecoder(bytes.NewReader(in.Event.Payload))
	dec.UseNumber()
	var payload any
	if err := dec.Decode(&payload); err != nil {
		panic("redact: payload: " + err.Error())
	}
	out, changed := walk(payload, false)
	if !changed {
		return wasm.Keep(in.Event)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		panic("redact: payload: " + err.Error())
	}
	ev := in.Event
	ev.Payload = bytes.TrimRight(buf.Bytes(), "\n")
	return wasm.Keep(ev)
}

func walk(v any, listed bool) (any, bool) {
	changed := false
	switch x := v.(type) {
	case string:
		if listed {
			s := text(x)
			return s, s != x
		}
	case map[string]any:
		for k, e := range x {
			if n, ch := walk(e, slices.Contains(r.fields, k)); ch {
				x[k], changed = n, true
			}
		}
	case []any:
		for i, e := range x {
			if n, ch := walk(e, listed); ch {
				x[i], changed = n, true
			}
		}
	}
	return v, changed
}

func text(s string) string {
	for _, re := range r.patterns {
		s = re.ReplaceAllLiteralString(s, r.mask)
	}
	if r.phones {
		s = phoneRE.ReplaceAllStringFunc(s, maskDigits)
	}
	return s
}

// maskDigits replaces every digit but the last keepLast with '*'.
func maskDigits(num string) string {
	digits := 0
	for i := 0; i < len(num); i++ {
		if num[i] >= '0' && num[i] <= '9' {
			digits++
		}
	}
	b := []byte(num)
	for i := range b {
		if b[i] >= '0' && b[i] <= '9' {
			if digits > r.keepLast {
				b[i] = '*'
			}
			digits--
		}
	}
	return string(b)
}

func init() {
	_ = configure(nil)
	wasm.Register(wasm.Plugin{Configure: configure, Transform: transform})
}

func main() {}
