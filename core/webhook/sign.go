package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
)

// Signing follows the Standard Webhooks specification
// (https://www.standardwebhooks.com, spec/standard-webhooks.md):
//
//	webhook-id:        the event id, the same on every attempt (the receiver's dedup key)
//	webhook-timestamp: Unix seconds of this attempt
//	webhook-signature: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))
//
// where key is the base64-decoded part of the secret after "whsec_". During a secret
// rotation's grace period the header carries one signature per secret, separated by
// spaces; a receiver accepts the delivery if any of them verifies.
//
// For receivers written for WAHA, an endpoint may also ask for X-Webhook-Hmac: the hex
// HMAC-SHA512 of the body with the endpoint's wahaHmacKey, announced by
// X-Webhook-Hmac-Algorithm: sha512.

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"

	HeaderWAHAHmac          = "X-Webhook-Hmac"
	HeaderWAHAHmacAlgorithm = "X-Webhook-Hmac-Algorithm"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// NewSecret returns a fresh signing secret: "whsec_" + base64 of 32 random bytes.
func NewSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("webhook: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// secretKey decodes a secret's key bytes. ok is false for a malformed secret.
func secretKey(secret string) (key []byte, ok bool) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	return key, err == nil && len(key) > 0
}

// ValidSecret reports whether s is a usable signing secret: "whsec_" then base64 of
// 24 to 64 bytes (the specification recommends 24 to 64).
func ValidSecret(s string) bool {
	if !strings.HasPrefix(s, SecretPrefix) {
		return false
	}
	key, ok := secretKey(s)
	return ok && len(key) >= 24 && len(key) <= 64
}

// Sign returns the webhook-signature header value for body, one "v1,<sig>" per secret,
// space-separated. Secrets that do not decode are skipped (they are validated on input).
func Sign(secrets []string, id string, timestamp int64, body []byte) string {
	var sb strings.Builder
	ts := strconv.FormatInt(timestamp, 10)
	for _, s := range secrets {
		key, ok := secretKey(s)
		if !ok {
			continue
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString("v1,")
		sb.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return sb.String()
}

// WAHAHmac returns the hex HMAC-SHA512 of body with key, WAHA's X-Webhook-Hmac.
func WAHAHmac(key string, body []byte) string {
	mac := hmac.New(sha512.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
