package api

import (
	"errors"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/config"
)

// decodeTarget exercises the kinds of fields request bodies have.
type decodeTarget struct {
	Name     string            `json:"name"`
	Count    int               `json:"count,omitempty"`
	Ratio    float64           `json:"ratio,omitempty"`
	On       *bool             `json:"on,omitempty"`
	Tags     []string          `json:"tags,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
	Wait     config.Duration   `json:"wait,omitempty"`
	Nested   *decodeNested     `json:"nested,omitempty"`
	Anything any               `json:"anything,omitempty"`
}

type decodeNested struct {
	Level int `json:"level"`
}

func requestWith(contentType, body string) *fasthttp.RequestCtx {
	var c fasthttp.RequestCtx
	if contentType != "" {
		c.Request.Header.SetContentType(contentType)
	}
	c.Request.SetBodyString(body)
	return &c
}

func TestDecodeJSON(t *testing.T) {
	cases := []struct {
		name, ct, body string
		status         int
		code           string
		details        map[string]any
	}{
		{name: "ok", ct: "application/json", body: `{"name":"a","count":2,"nested":{"level":3},"wait":"5s"}`},
		{name: "charset", ct: "application/json; charset=utf-8", body: `{"name":"a"}`},
		{name: "surrounding whitespace", ct: "application/json", body: " \n{\"name\":\"a\"}\n "},
		{name: "no content type", body: `{}`, status: 415, code: "unsupported_media_type"},
		{name: "form", ct: "application/x-www-form-urlencoded", body: `name=a`, status: 415, code: "unsupported_media_type"},
		{name: "json suffix type", ct: "application/problem+json", body: `{}`, status: 415, code: "unsupported_media_type"},
		{name: "bad media type", ct: "application/json; =", body: `{}`, status: 415, code: "unsupported_media_type"},
		{name: "empty", ct: "application/json", body: ``, status: 400, code: "empty_body"},
		{name: "blank", ct: "application/json", body: "  \n", status: 400, code: "empty_body"},
		{name: "truncated", ct: "application/json", body: `{"name":"a"`, status: 400, code: "malformed_json", details: map[string]any{"offset": 11}},
		{name: "syntax", ct: "application/json", body: `{"name":'a'}`, status: 400, code: "malformed_json", details: map[string]any{"offset": int64(9)}},
		{name: "trailing object", ct: "application/json", body: `{"name":"a"}{"name":"b"}`, status: 400, code: "malformed_json"},
		{name: "trailing garbage", ct: "application/json", body: `{"name":"a"} x`, status: 400, code: "malformed_json"},
		{name: "unknown field", ct: "application/json", body: `{"name":"a","nope":1}`, status: 400, code: "unknown_field", details: map[string]any{"field": "nope"}},
		{name: "unknown nested field", ct: "application/json", body: `{"nested":{"deep":1}}`, status: 400, code: "unknown_field", details: map[string]any{"field": "deep"}},
		{name: "wrong type", ct: "application/json", body: `{"count":"2"}`, status: 400, code: "wrong_type", details: map[string]any{"field": "count", "expected": "integer"}},
		{name: "wrong nested type", ct: "application/json", body: `{"nested":{"level":true}}`, status: 400, code: "wrong_type", details: map[string]any{"field": "nested.level", "expected": "integer"}},
		{name: "wrong element type", ct: "application/json", body: `{"tags":[1]}`, status: 400, code: "wrong_type", details: map[string]any{"expected": "string"}},
		{name: "array body", ct: "application/json", body: `[1,2]`, status: 400, code: "wrong_type", details: map[string]any{"expected": "object"}},
		{name: "string body", ct: "application/json", body: `"x"`, status: 400, code: "wrong_type"},
		{name: "null body", ct: "application/json", body: `null`, status: 400, code: "wrong_type", details: map[string]any{"expected": "object"}},
		{name: "number overflow", ct: "application/json", body: `{"count":1e400}`, status: 400, code: "wrong_type"},
		{name: "invalid duration", ct: "application/json", body: `{"wait":"soon"}`, status: 400, code: "invalid_value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dst decodeTarget
			err := decodeJSON(requestWith(tc.ct, tc.body), &dst)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if e.Status != tc.status || e.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", e.Status, e.Code, e.Message, tc.status, tc.code)
			}
			for k, v := range tc.details {
				if e.Details[k] != v {
					t.Errorf("details[%s] = %v (%T), want %v (%T)", k, e.Details[k], e.Details[k], v, v)
				}
			}
		})
	}
}

func TestDecodeOptionalJSON(t *testing.T) {
	dst := decodeTarget{Name: "kept"}
	if err := decodeOptionalJSON(requestWith("", ""), &dst); err != nil || dst.Name != "kept" {
		t.Errorf("empty optional body: %v, %+v", err, dst)
	}
	if err := decodeOptionalJSON(requestWith("text/plain", "x"), &dst); err == nil {
		t.Error("a present body must still be JSON")
	}
}

// FuzzDecodeJSON: whatever the body and content type, decodeJSON does not panic and
// fails only with a 4xx *Error. `go test` runs the seed corpus below.
func FuzzDecodeJSON(f *testing.F) {
	seeds := []struct{ ct, body string }{
		{"application/json", `{"name":"a","count":1,"ratio":0.5,"on":true,"tags":["x"],"meta":{"k":"v"},"wait":"1s","nested":{"level":1},"anything":[1,{"a":null}]}`},
		{"application/json", `{}`},
		{"application/json", ``},
		{"application/json", `null`},
		{"application/json", `[]`},
		{"application/json", `{"name":`},
		{"application/json", `{"name":"\ud800"}`},
		{"application/json", `{"count":-1e999}`},
		{"application/json", `{"nested":{"level":"x"}}`},
		{"application/json", `{"unknown":1}`},
		{"application/json", `{"a":1}{"b":2}`},
		{"application/json", `{"wait":12}`},
		{"application/json", `{"wait":-5}`},
		{"application/json", "\xff\xfe"},
		{"application/json", `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`},
		{"text/plain", `{}`},
		{"", `{}`},
		{"application/json; charset=\"", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		var c fasthttp.RequestCtx
		c.Request.Header.Set("Content-Type", ct)
		c.Request.SetBody(body)
		var dst decodeTarget
		err := decodeJSON(&c, &dst)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not an *Error", err, err)
		}
		if e.Status < 400 || e.Status > 499 || e.Code == "" {
			t.Fatalf("error %d %q for body %q", e.Status, e.Code, body)
		}
	})
}
