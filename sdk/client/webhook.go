package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook deliveries are signed per the Standard Webhooks specification
// (https://www.standardwebhooks.com):
//
//	webhook-id:        the event id, the same on every attempt (deduplicate on it)
//	webhook-timestamp: Unix seconds of the attempt
//	webhook-signature: "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>", space-separated
//	                   when several secrets are valid (during a rotation's grace period)
//
// where key is the base64 part of the endpoint's secret after "whsec_".

// Webhook header names.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// DefaultWebhookTolerance is how far a delivery's timestamp may be from the receiver's
// clock, the specification's recommendation (it bounds replays of a captured request).
const DefaultWebhookTolerance = 5 * time.Minute

// Webhook verification errors; Verify wraps them with details.
var (
	ErrWebhookHeaders   = errors.New("wagate webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrWebhookTimestamp = errors.New("wagate webhook: timestamp outside the tolerance")
	ErrWebhookSignature = errors.New("wagate webhook: no valid signature")
)

// WebhookVerifier checks the signatures of webhook deliveries with an endpoint's
// secrets. It is safe for concurrent use.
type WebhookVerifier struct {
	keys [][]byte
	// Tolerance is the largest accepted clock difference; 0 means
	// DefaultWebhookTolerance.
	Tolerance time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewWebhookVerifier returns a verifier accepting deliveries signed with any of the
// secrets ("whsec_..."; pass the old and the new one while rotating).
func NewWebhookVerifier(secrets ...string) (*WebhookVerifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("wagate webhook: no secret")
	}
	v := &WebhookVerifier{}
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) == 0 {
			return nil, errors.New(`wagate webhook: a secret is "whsec_" followed by base64`)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify checks the headers of a delivery against its raw body (as received, before
// any JSON decoding). It returns nil if a v1 signature matches and the timestamp is
// within the tolerance, else an error wrapping one of the ErrWebhook... errors.
func (v *WebhookVerifier) Verify(h http.Header, body []byte) error {
	id, tsText, sigs := h.Get(HeaderWebhookID), h.Get(HeaderWebhookTimestamp), h.Get(HeaderWebhookSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrWebhookHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not Unix seconds", ErrWebhookTimestamp, tsText)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultWebhookTolerance
	}
	if d := now().Sub(time.Unix(ts, 0)); d > tol || d < -tol {
		return fmt.Errorf("%w: %s off", ErrWebhookTimestamp, d.Round(time.Second))
	}
	for _, key := range v.keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + tsText + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, part := range strings.Fields(sigs) {
			version, sig, ok := strings.Cut(part, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrWebhookSignature
}

// maxWebhookBody bounds what VerifyRequest reads.
const maxWebhookBody = 16 << 20

// VerifyRequest reads a delivery (at most 16 MiB), verifies it and decodes its
// envelope. Answer 2xx only once you have stored or handled it: the gateway retries
// anything else. Deduplicate on the envelope's Id (the webhook-id header): a retry
// carries the same one.
func (v *WebhookVerifier) VerifyRequest(r *http.Request) (Envelope, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return Envelope{}, fmt.Errorf("wagate webhook: reading the body: %w", err)
	}
	if len(body) > maxWebhookBody {
		return Envelope{}, errors.New("wagate webhook: body larger than 16 MiB")
	}
	if err := v.Verify(r.Header, body); err != nil {
		return Envelope{}, err
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Envelope{}, fmt.Errorf("wagate webhook: decoding the envelope: %w", err)
	}
	return env, nil
}

func deadlineSoon() time.Time { return time.Now().Add(time.Second) }
