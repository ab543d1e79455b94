package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector.
func TestSignStandardWebhooksVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	if got := Sign([]string{secret}, id, ts, []byte(body)); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	// The prefix is optional for the key, as in the reference implementations.
	if got := Sign([]string{strings.TrimPrefix(secret, SecretPrefix)}, id, ts, []byte(body)); got != want {
		t.Fatalf("Sign without prefix = %q, want %q", got, want)
	}
}

func TestSignRotationCarriesBothSignatures(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	h := http.Header{}
	body := []byte(`{"event":"message"}`)
	now := time.Now()
	h.Set(HeaderID, "evt_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderSignature, Sign([]string{a, b}, "evt_1", now.Unix(), body))
	if n := len(strings.Fields(h.Get(HeaderSignature))); n != 2 {
		t.Fatalf("%d signatures during rotation, want 2", n)
	}
	for _, s := range []string{a, b} {
		if err := specVerify(s, h, body, now); err != nil {
			t.Fatalf("secret %s: %v", s[:12], err)
		}
	}
	if err := specVerify(NewSecret(), h, body, now); err == nil {
		t.Fatal("a third secret verified")
	}
}

func TestValidSecret(t *testing.T) {
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{NewSecret(), true},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true}, // 24 bytes
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},      // no prefix
		{"whsec_short", false},
		{"whsec_!!!notbase64!!!", false},
		{"whsec_", false},
	} {
		if got := ValidSecret(c.s); got != c.ok {
			t.Errorf("ValidSecret(%q) = %v, want %v", c.s, got, c.ok)
		}
	}
}

func TestWAHAHmacIsHexHMACSHA512(t *testing.T) {
	body := []byte(`{"event":"message"}`)
	mac := hmac.New(sha512.New, []byte("waha-key"))
	mac.Write(body)
	if got, want := WAHAHmac("waha-key", body), hex.EncodeToString(mac.Sum(nil)); got != want || len(got) != 128 {
		t.Fatalf("WAHAHmac = %s, want %s", got, want)
	}
}

// specVerify is a receiver written from the Standard Webhooks specification alone,
// independent of Sign: it checks the three headers, a 5-minute timestamp tolerance, and
// compares every "v1," signature in constant time.
func specVerify(secret string, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return errors.New("missing required headers")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp: %w", err)
	}
	if math.Abs(float64(now.Unix()-ts)) > 300 {
		return errors.New("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", id, ts, body)
	expected := mac.Sum(nil)
	for _, part := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, expected) {
			return nil
		}
	}
	return errors.New("no matching signature")
}
