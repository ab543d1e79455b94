// Package redact is the redacting transform: phone numbers and configured patterns in
// the text fields of event payloads are masked before events leave the gateway.
package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/wagate/wagate/core/policy"
)

// Name is the plugin's registered name.
const Name = "redact"

// Config configures redact. Absent fields take the defaults shown.
type Config struct {
	// Fields are the payload keys, at any depth, whose string values (or arrays of
	// strings) are redacted (["body", "text", "caption"]).
	Fields []string `json:"fields,omitempty"`
	// PhoneNumbers masks phone numbers: runs of at least 7 digits, optionally led by '+'
	// and separated by at most two spaces, dots, dashes or parentheses (true).
	PhoneNumbers *bool `json:"phone_numbers,omitempty"`
	// KeepLast is how many trailing digits of a phone number stay readable (2).
	KeepLast *int `json:"keep_last,omitempty"`
	// Patterns are regular expressions (RE2 syntax) whose matches are replaced by Mask.
	Patterns []string `json:"patterns,omitempty"`
	// Mask replaces pattern matches ("[redacted]").
	Mask string `json:"mask,omitempty"`
}

var phoneRE = regexp.MustCompile(`\+?\d(?:[ .()-]{0,2}\d){6,}`)

// Redact is the transform.
type Redact struct {
	fields   []string
	phones   bool
	keepLast int
	patterns []*regexp.Regexp
	mask     string
}

// New returns an unconfigured redact transform.
func New(policy.Spec) policy.Plugin { return &Redact{} }

// Info implements policy.Plugin.
func (*Redact) Info() policy.Info { return policy.NativeInfo(policy.HookTransform) }

// Configure reads a Config and compiles its patterns.
func (r *Redact) Configure(_ context.Context, raw json.RawMessage) error {
	var c Config
	if err := policy.DecodeConfig(raw, &c); err != nil {
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
			return fmt.Errorf("%w: keep_last %d (0 to 6)", policy.ErrBadConfig, *c.KeepLast)
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
			return fmt.Errorf("%w: pattern %q: %v", policy.ErrBadConfig, p, err)
		}
		r.patterns = append(r.patterns, re)
	}
	return nil
}

// Close implements policy.Plugin.
func (*Redact) Close() error { return nil }

// Transform redacts the listed fields of the payload. An event with nothing to redact is
// passed on byte for byte; otherwise the payload is re-encoded (keys sorted).
func (r *Redact) Transform(_ context.Context, in policy.TransformInput) (policy.TransformResult, error) {
	dec := json.NewDecoder(bytes.NewReader(in.Event.Payload))
	dec.UseNumber()
	var payload any
	if err := dec.Decode(&payload); err != nil {
		return policy.TransformResult{}, fmt.Errorf("redact: payload: %w", err)
	}
	out, changed := r.walk(payload, false)
	if !changed {
		return policy.Keep(in.Event), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return policy.TransformResult{}, fmt.Errorf("redact: payload: %w", err)
	}
	ev := in.Event
	ev.Payload = bytes.TrimRight(buf.Bytes(), "\n")
	return policy.Keep(ev), nil
}

// walk redacts v, whose strings are redacted when listed is set (v sits under a listed
// key). It reports whether anything changed.
func (r *Redact) walk(v any, listed bool) (any, bool) {
	changed := false
	switch x := v.(type) {
	case string:
		if listed {
			s := r.Text(x)
			return s, s != x
		}
	case map[string]any:
		for k, e := range x {
			if n, ch := r.walk(e, slices.Contains(r.fields, k)); ch {
				x[k], changed = n, true
			}
		}
	case []any:
		for i, e := range x {
			if n, ch := r.walk(e, listed); ch {
				x[i], changed = n, true
			}
		}
	}
	return v, changed
}

// Text redacts one string: patterns first, then phone numbers.
func (r *Redact) Text(s string) string {
	for _, re := range r.patterns {
		s = re.ReplaceAllLiteralString(s, r.mask)
	}
	if r.phones {
		s = phoneRE.ReplaceAllStringFunc(s, r.maskDigits)
	}
	return s
}

// maskDigits replaces every digit of a phone number but the last keepLast with '*'.
func (r *Redact) maskDigits(num string) string {
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

var (
	_ policy.Plugin        = (*Redact)(nil)
	_ policy.TransformHook = (*Redact)(nil)
)
