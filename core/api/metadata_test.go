package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/session"
)

func TestSplitMetadata(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		rest         string // "" = nil
		md           map[string]string
		present      bool
		code         string
	}{
		{"none", ``, "", nil, false, ""},
		{"no metadata", `{"faults":{}}`, `{"faults":{}}`, nil, false, ""},
		{"not an object: left to the provider", `[1]`, `[1]`, nil, false, ""},
		{"metadata alone", `{"metadata":{"a":"1"}}`, "", map[string]string{"a": "1"}, true, ""},
		{"with the rest", `{"metadata":{"a":"1"},"faults":{}}`, `{"faults":{}}`, map[string]string{"a": "1"}, true, ""},
		{"null clears", `{"metadata":null}`, "", nil, true, ""},
		{"empty clears", `{"metadata":{}}`, "", map[string]string{}, true, ""},
		{"a string", `{"metadata":"x"}`, "", nil, true, "invalid_metadata"},
		{"a number value", `{"metadata":{"a":1}}`, "", nil, true, "invalid_metadata"},
		{"a null value", `{"metadata":{"a":null}}`, "", nil, true, "invalid_metadata"},
		{"an empty key", `{"metadata":{"":"x"}}`, "", nil, true, "invalid_metadata"},
		{"a long value", `{"metadata":{"a":"` + strings.Repeat("x", 600) + `"}}`, "", nil, true, "metadata_too_large"},
	} {
		rest, md, present, err := splitMetadata(json.RawMessage(tc.config))
		if tc.code != "" {
			if code := errorCode(err); code != tc.code {
				t.Errorf("%s: error %v (code %q); want %s", tc.name, err, code, tc.code)
			}
			continue
		}
		if err != nil || string(rest) != tc.rest || present != tc.present || len(md) != len(tc.md) {
			t.Errorf("%s: %s %v %v %v; want %s %v %v", tc.name, rest, md, present, err, tc.rest, tc.md, tc.present)
		}
		for k, v := range tc.md {
			if md[k] != v {
				t.Errorf("%s: md[%q] = %q, want %q", tc.name, k, md[k], v)
			}
		}
	}
}

// errorCode is the API code an error answers with ("" for none known).
func errorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if e := mapSessionError(err); e != nil {
		return e.Code
	}
	return ""
}

// Whatever a client sends as config, splitting its metadata never panics, and what it
// accepts is within the bounds and gone from the rest.
func FuzzSplitMetadata(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `[]`, `"x"`, `{"metadata":{"a":"b"}}`, `{"metadata":null,"x":1}`,
		`{"metadata":{"a":null}}`, `{"metadata":{"":""}}`, `{"metadata":[1,2]}`, `{"metadata":{"a":"\u0000"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rest, md, present, err := splitMetadata(b)
		if err != nil {
			if errorCode(err) == "" {
				t.Fatalf("error without an API code: %v", err)
			}
			return
		}
		if err := session.CheckMetadata(md); err != nil {
			t.Fatalf("accepted metadata out of bounds: %v", err)
		}
		if present {
			var m map[string]json.RawMessage
			if json.Unmarshal(rest, &m) == nil {
				if _, still := m["metadata"]; still {
					t.Fatalf("metadata left in the rest: %s", rest)
				}
			}
		}
	})
}
