package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go duration text ("30s", "1m30s", "250ms") in
// YAML, JSON and environment variables. A bare 0 means zero.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Go does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration parses Go duration text; "0" is accepted; negative durations are not.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, &syntaxError{problem: fmt.Sprintf("%q is not a duration", s), fix: "write it like 30s, 500ms or 1m30s"}
	}
	if v < 0 {
		return 0, &syntaxError{problem: fmt.Sprintf("%q is negative", s), fix: "durations must be zero or positive"}
	}
	return Duration(v), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration like 30s", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalJSON accepts "30s" or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	var ms int64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("expected a duration like \"30s\" or milliseconds")
	}
	if ms < 0 {
		return fmt.Errorf("durations must be zero or positive")
	}
	*d = Duration(time.Duration(ms) * time.Millisecond)
	return nil
}

// MarshalJSON writes the duration as text ("30s").
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// ByteSize is a size in bytes, written as a plain number or with a unit: 512KiB, 1MiB,
// 2GiB, 1MB (units are case-insensitive; KB/MB/GB are decimal, KiB/MiB/GiB binary).
type ByteSize int64

// ParseByteSize parses a size such as "1MiB" or "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
		{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
		{"b", 1},
	}
	lower := strings.ToLower(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			lower = strings.TrimSpace(strings.TrimSuffix(lower, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(lower, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, &syntaxError{problem: fmt.Sprintf("%q is not a size", s), fix: "write it like 1048576, 512KiB or 1MiB"}
	}
	return ByteSize(n * mult), nil
}

// String writes the size with the largest binary unit that divides it exactly ("1MiB",
// "512KiB"), or as plain bytes ("1000"). ParseByteSize reads it back.
func (b ByteSize) String() string {
	units := []struct {
		suffix string
		size   ByteSize
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a size like 1MiB", n.Line)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// UnmarshalJSON accepts "1MiB" or a number of bytes.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		v, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		*b = v
		return nil
	}
	var n int64
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("expected a size like \"1MiB\" or a number of bytes")
	}
	if n < 0 {
		return fmt.Errorf("sizes must be zero or positive")
	}
	*b = ByteSize(n)
	return nil
}

// MarshalJSON writes the size as text ("1MiB").
func (b ByteSize) MarshalJSON() ([]byte, error) { return json.Marshal(b.String()) }

// syntaxError is text that does not parse as the expected type: what is wrong and how to
// write it instead. Load turns it into a FieldError or an EnvError.
type syntaxError struct {
	problem string
	fix     string
}

func (e *syntaxError) Error() string { return e.problem + "; " + e.fix }
