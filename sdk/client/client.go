package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// New returns a client of the gateway at baseURL (e.g. http://127.0.0.1:8080) that
// sends apiKey in X-Api-Key on every request, with typed answers (JSON200, JSON4XX, ...).
// opts are the generated options, e.g. WithHTTPClient.
func New(baseURL, apiKey string, opts ...ClientOption) (*ClientWithResponses, error) {
	opts = append([]ClientOption{WithRequestEditorFn(WithAPIKey(apiKey))}, opts...)
	return NewClientWithResponses(strings.TrimRight(baseURL, "/"), opts...)
}

// WithAPIKey is a request editor that sets the X-Api-Key header; New adds it to every
// request. Pass it to one call to use another key for that call (e.g. the admin key).
func WithAPIKey(key string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("X-Api-Key", key)
		return nil
	}
}

// WithIdempotencyKey is a request editor that sets the Idempotency-Key header of a send:
// the gateway answers a retry with the same key and body with the first message (and its
// id) instead of queueing it twice. Use one key per logical message, e.g.
// NewIdempotencyKey, and never reuse it for another message (docs/api.md).
func WithIdempotencyKey(key string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Idempotency-Key", key)
		return nil
	}
}

// NewIdempotencyKey returns a fresh random key (a UUIDv4 string) for WithIdempotencyKey.
// Keep it with the message you are sending and reuse it on every retry of that message.
func NewIdempotencyKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("client: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// APIError is an error answer of the gateway: the HTTP status and the body's
// {"error":{"code","message","details"}}.
type APIError struct {
	// Status is the HTTP status, e.g. 404.
	Status int
	// Code is the stable snake_case code, e.g. session_not_found (docs/api.md).
	Code string
	// Message is the human-readable explanation.
	Message string
	// Details is structured context, e.g. the offending field.
	Details map[string]any
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
}

// Response is what every generated ...Response has: the status (and a Body field).
type Response interface {
	StatusCode() int
}

// Check returns nil for a 2xx answer and an *APIError for any other, decoded from the
// answer's Body field:
//
//	r, err := c.GetApiSessionsWithResponse(ctx)
//	if err == nil {
//		err = client.Check(r)
//	}
func Check(r Response) error {
	v := reflect.ValueOf(r)
	if r == nil || v.Kind() == reflect.Pointer && v.IsNil() {
		return errors.New("wagate: no response")
	}
	var body []byte
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		if b := v.Elem().FieldByName("Body"); b.IsValid() && b.Type() == reflect.TypeFor[[]byte]() {
			body = b.Bytes()
		}
	}
	return checkBody(r.StatusCode(), body)
}

// checkBody is Check of a status and body.
func checkBody(status int, body []byte) error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &APIError{Status: status}
	var b struct {
		Error struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil && b.Error.Code != "" {
		e.Code, e.Message, e.Details = b.Error.Code, b.Error.Message, b.Error.Details
	} else {
		e.Code = "http_" + strconv.Itoa(status)
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
	}
	return e
}
