package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

const contentTypeJSON = "application/json"

// decodeJSON decodes the request body, a single JSON value, into dst (a pointer). Every
// failure is an *Error with a 4xx status, never a 500:
//
//   - 415 unsupported_media_type: Content-Type is not application/json (parameters such
//     as charset=utf-8 are allowed);
//   - 400 empty_body: no body;
//   - 400 malformed_json: not JSON, truncated, or followed by more data (details.offset);
//   - 400 unknown_field: a field dst does not have (details.field), unless the gateway
//     runs with api.strict_fields: false (Deps.LenientFields), which ignores it;
//   - 400 wrong_type: a value of the wrong JSON type (details.field, details.expected);
//   - 400 invalid_value: a value its type rejects (e.g. a duration "30 parsecs").
//
// The body size is already bounded by server.max_body_bytes, and with it the nesting
// depth, so decoding cannot exhaust memory.
func decodeJSON(c *fasthttp.RequestCtx, dst any) error {
	if err := checkJSONContentType(c.Request.Header.ContentType()); err != nil {
		return err
	}
	body := c.Request.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("empty_body", "the request needs a JSON body")
	}
	if r := requestOf(c); r != nil && r.lenient {
		return decodeJSONValue(body, dst, false)
	}
	return decodeJSONValue(body, dst, true)
}

// decodeOptionalJSON is decodeJSON for routes whose body may be left out entirely: an
// empty body leaves dst untouched and is not an error; a present body must be valid.
func decodeOptionalJSON(c *fasthttp.RequestCtx, dst any) error {
	if len(bytes.TrimSpace(c.Request.Body())) == 0 {
		return nil
	}
	return decodeJSON(c, dst)
}

func checkJSONContentType(ct []byte) error {
	if string(ct) == contentTypeJSON {
		return nil // what nearly every client sends: no parsing
	}
	if len(ct) == 0 {
		return newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/json", d("contentType", ""))
	}
	mt, _, err := mime.ParseMediaType(string(ct))
	if err != nil || mt != contentTypeJSON {
		return newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/json", d("contentType", string(ct)))
	}
	return nil
}

// decodeJSONBytes is decodeJSON's strict decoding of a body already read.
func decodeJSONBytes(body []byte, dst any) error { return decodeJSONValue(body, dst, true) }

func decodeJSONValue(body []byte, dst any, strict bool) error {
	trimmed := bytes.TrimSpace(body)
	if bytes.Equal(trimmed, []byte("null")) {
		// null would decode into anything as a no-op and pass silently.
		return badRequest("wrong_type", "the body must be a JSON "+jsonKind(reflect.TypeOf(dst)),
			d("field", "", "expected", jsonKind(reflect.TypeOf(dst))))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, len(body))
	}
	// One value only: anything after it but whitespace is an error.
	if tok, err := dec.Token(); err != io.EOF {
		_ = tok
		return badRequest("malformed_json", "unexpected data after the JSON value",
			d("offset", dec.InputOffset()))
	}
	return nil
}

// jsonError classifies an encoding/json error. size is the body length, the offset of
// an unexpected end.
func jsonError(err error, size int) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return badRequest("malformed_json", "the body is not valid JSON: "+syn.Error(),
			d("offset", syn.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("malformed_json", "the body ends before the JSON value does",
			d("offset", size))
	case errors.As(err, &typ):
		field := typ.Field
		expected := jsonKind(typ.Type)
		msg := "wrong type for the body: expected " + expected
		if field != "" {
			msg = "wrong type for field " + strconv.Quote(field) + ": expected " + expected
		}
		if typ.Value != "" {
			msg += ", got " + typ.Value
		}
		return badRequest("wrong_type", msg, d("field", field, "expected", expected))
	}
	// encoding/json has no typed error for unknown fields; its message is the only
	// signal, stable since Go 1.10 ("json: unknown field \"x\"").
	if name, ok := unknownField(err.Error()); ok {
		return badRequest("unknown_field", "unknown field "+strconv.Quote(name), d("field", name))
	}
	var inv *json.InvalidUnmarshalError
	if errors.As(err, &inv) {
		// A programming error (dst not a pointer); still not the client's 500 to see
		// as a crash, but it is ours: report it as internal.
		return &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error", Cause: err}
	}
	// Anything else comes from a type's own UnmarshalJSON rejecting a value.
	return badRequest("invalid_value", "invalid value: "+err.Error())
}

func unknownField(msg string) (string, bool) {
	_, rest, ok := strings.Cut(msg, "unknown field ")
	if !ok {
		return "", false
	}
	if name, err := strconv.Unquote(rest); err == nil {
		return name, true
	}
	return strings.Trim(rest, `"`), true
}

// jsonKind names the JSON type a Go type decodes from, for error messages.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string"
		}
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
}
