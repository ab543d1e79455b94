// Package webhook delivers the gateway's events to tenants' HTTP endpoints and verifies
// the webhooks providers send in.
//
// Outbound, per tenant endpoint: every event that matches an endpoint's filters is
// written to the outbox in Badger (a delivery record) before any attempt is made, then
// POSTed, signed per the Standard Webhooks specification (sign.go), by a worker per
// endpoint with bounded concurrency per endpoint and overall. Network errors, 408, 429
// and 5xx are retried with exponential backoff and jitter (Retry-After honoured) until
// the endpoint's retry horizon has passed since the delivery was created; any other
// status fails the delivery at once. Failed deliveries stay in the log (dead letters)
// and can be retried or replayed by time range. Per (endpoint, session) deliveries are
// made in order unless the endpoint opts out. An endpoint failing for longer than
// Options.DisableAfter is disabled, with an event and a reason.
//
// Inbound (inbound.go): one fasthttp middleware verifies Meta's X-Hub-Signature-256
// before any handler runs, refuses replays and oversized bodies, and answers the GET
// hub.challenge handshake.
//
// Files: webhook.go (types, errors, options), service.go (endpoints: create, change,
// delete, rotate), outbox.go (events into the outbox), deliver.go (workers, HTTP,
// retries), log.go (delivery log, retry, replay, retention), sign.go, urlpolicy.go,
// inbound.go, metrics.go.
package webhook

import (
	"errors"
	"time"
)

// Endpoint is a tenant's webhook endpoint as stored. The API shows it without secrets.
type Endpoint struct {
	// ID is "whk_" + a ULID.
	ID string `json:"id"`
	// URL receives the POSTs; checked against the URL policy on every change and at
	// every connection.
	URL string `json:"url"`
	// Events are the event names or patterns delivered ("message", "message.*", "*").
	Events []string `json:"events"`
	// Sessions, when not empty, limits delivery to events of these sessions.
	Sessions []string `json:"sessions,omitempty"`
	// Headers are added to every request (signature headers cannot be overridden).
	Headers map[string]string `json:"headers,omitempty"`
	// Description is free text for the tenant.
	Description string `json:"description,omitempty"`
	// Session, when set, is the session whose config declared this endpoint (WAHA
	// style): it is managed through that session's config and deleted with it.
	Session string `json:"session,omitempty"`
	// Enabled endpoints receive events; disabled ones receive nothing (events that
	// happen meanwhile are not queued for them).
	Enabled bool `json:"enabled"`
	// Unordered lets deliveries of one session overtake each other (more throughput
	// to a slow receiver); by default a session's deliveries are made one at a time,
	// in order, and a retrying delivery holds back the later ones of its session.
	Unordered bool `json:"unordered,omitempty"`
	// RetryHorizon is how long a delivery is retried after it was created. 0 means
	// Options.RetryHorizon.
	RetryHorizon time.Duration `json:"retryHorizon,omitempty"`
	// DisabledReason says why the gateway disabled the endpoint ("" when it did not).
	DisabledReason string `json:"disabledReason,omitempty"`
	// FailingSince is when the current run of failed attempts began (nil when the
	// last attempt succeeded).
	FailingSince *time.Time `json:"failingSince,omitempty"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`

	// Secret signs deliveries ("whsec_..."); PreviousSecret also signs them until
	// PreviousUntil, after a rotation.
	Secret         string    `json:"secret"`
	PreviousSecret string    `json:"previousSecret,omitempty"`
	PreviousUntil  time.Time `json:"previousUntil,omitzero"`
	// WAHAHmacKey, when set, adds WAHA's X-Webhook-Hmac (hex HMAC-SHA512 of the body).
	WAHAHmacKey string `json:"wahaHmacKey,omitempty"`
}

// secrets returns the secrets that sign a delivery at now.
func (e *Endpoint) secrets(now time.Time) []string {
	if e.PreviousSecret != "" && now.Before(e.PreviousUntil) {
		return []string{e.Secret, e.PreviousSecret}
	}
	return []string{e.Secret}
}

// Delivery statuses.
const (
	// StatusPending: waiting for its first or next attempt.
	StatusPending = "pending"
	// StatusDelivered: the endpoint answered 2xx.
	StatusDelivered = "delivered"
	// StatusFailed: a non-retryable answer, or the retry horizon passed: a dead
	// letter, kept in the log until retention removes it; retry or replay resends it.
	StatusFailed = "failed"
)

// Delivery is one event for one endpoint: the outbox entry and its log.
type Delivery struct {
	// ID is "dlv_" + a ULID: key order is creation order.
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	// EventID is the event's id, sent as webhook-id on every attempt, so the receiver
	// can drop duplicates.
	EventID string `json:"eventId"`
	Event   string `json:"event"`
	Session string `json:"session,omitempty"`
	Status  string `json:"status"`
	// Attempts counts the HTTP attempts made.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	// RetryUntil ends retrying: created + the endpoint's horizon (reset by a manual
	// retry).
	RetryUntil time.Time `json:"retryUntil"`
	// LastStatusCode is the HTTP status of the last attempt, 0 when no response came.
	LastStatusCode int `json:"lastStatusCode,omitempty"`
	// LastLatencyMs is how long the last attempt took.
	LastLatencyMs int64 `json:"lastLatencyMs,omitempty"`
	// LastError explains the last failed attempt.
	LastError   string    `json:"lastError,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
	// Body is the exact JSON POSTed: the event envelope after the tenant's transforms.
	// In JSON it is base64 (standard, padded: the bytes as sent, whatever they are),
	// which BodyEncoding says where a body is shown.
	Body []byte `json:"body,omitempty"`
	// BodyEncoding is "base64" on a delivery shown with its Body (Service.Delivery), ""
	// otherwise; never stored.
	BodyEncoding string `json:"bodyEncoding,omitempty"`
}

// pendingEntry is the value of a whp/ index key: what the worker needs to schedule a
// delivery without reading its record.
type pendingEntry struct {
	Session string    `json:"s,omitempty"`
	Next    time.Time `json:"n"`
}

// Errors. The API maps each to a status and a code (core/api/webhooks.go).
var (
	// ErrNotFound: no such endpoint (or delivery) for this tenant.
	ErrNotFound = errors.New("webhook not found")
	// ErrDeliveryNotFound: no such delivery for this endpoint.
	ErrDeliveryNotFound = errors.New("delivery not found")
	// ErrInvalid: an endpoint field is wrong; the message names it.
	ErrInvalid = errors.New("invalid webhook")
	// ErrTooMany: the tenant has Options.MaxPerTenant endpoints.
	ErrTooMany = errors.New("too many webhooks")
	// ErrClosed: the service is shutting down.
	ErrClosed = errors.New("webhook service closed")
)

// FieldError is an ErrInvalid naming the field.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string   { return "invalid webhook: " + e.Field + ": " + e.Reason }
func (e *FieldError) Is(t error) bool { return t == ErrInvalid }

// Options configure the service. Zero values take the defaults in brackets.
type Options struct {
	// MaxPerTenant caps endpoints per tenant [10].
	MaxPerTenant int
	// MaxConcurrent caps deliveries in flight over all endpoints [64].
	MaxConcurrent int
	// MaxInFlightPerEndpoint caps deliveries in flight to one endpoint [8].
	MaxInFlightPerEndpoint int
	// Timeout bounds one attempt: connect, send, response [10s].
	Timeout time.Duration
	// RetryHorizon is the default time a delivery is retried [24h].
	RetryHorizon time.Duration
	// BackoffBase is the first retry delay, doubled per attempt with jitter [5s].
	BackoffBase time.Duration
	// BackoffMax caps a retry delay, Retry-After included [1h].
	BackoffMax time.Duration
	// DisableAfter disables an endpoint whose attempts have all failed for this long
	// [120h, five days, as Svix does].
	DisableAfter time.Duration
	// Retention keeps delivered and failed deliveries in the log this long [168h].
	Retention time.Duration
	// MaxResponseBytes is how much of a response body is read [64KiB]; the first 256
	// bytes of a failed answer are kept in the log.
	MaxResponseBytes int
	// Buffer is how many events may wait to be written to the outbox [65536]; past it
	// publishing waits (backpressure) rather than dropping an event.
	Buffer int
	// URLPolicy guards URLs (zero value: public addresses only).
	URLPolicy *URLPolicy
	// Hold, when set, is asked before deliveries start: a non-zero answer starts none
	// for that long (the memory manager under pressure). Events are still written to
	// the outbox; only delivery waits.
	Hold func() time.Duration
	// Paused starts the service with deliveries paused (a restored store, until the
	// operator resumes: Resume). Events are still written to the outbox.
	Paused bool
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxPerTenant, 10)
	def(&o.MaxConcurrent, 64)
	def(&o.MaxInFlightPerEndpoint, 8)
	def(&o.MaxResponseBytes, 64<<10)
	def(&o.Buffer, 65536)
	defDur(&o.Timeout, 10*time.Second)
	defDur(&o.RetryHorizon, 24*time.Hour)
	defDur(&o.BackoffBase, 5*time.Second)
	defDur(&o.BackoffMax, time.Hour)
	defDur(&o.DisableAfter, 120*time.Hour)
	defDur(&o.Retention, 168*time.Hour)
	if o.URLPolicy == nil {
		o.URLPolicy = &URLPolicy{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}
