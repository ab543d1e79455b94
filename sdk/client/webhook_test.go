package client_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/wagate/wagate/core/webhook"
	"github.com/wagate/wagate/sdk/client"
)

// TestWebhookVerifier checks the SDK's verifier against the gateway's signer: a good
// delivery, a secret rotation (two signatures), a tampered body, a wrong secret, a stale
// or future timestamp, missing headers and bad secrets.
func TestWebhookVerifier(t *testing.T) {
	oldSecret, newSecret := webhook.NewSecret(), webhook.NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","event":"message"}`)
	headers := func(secrets []string, ts time.Time, b []byte) http.Header {
		h := http.Header{}
		h.Set("webhook-id", "evt_1")
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", webhook.Sign(secrets, "evt_1", ts.Unix(), b))
		return h
	}
	v, err := client.NewWebhookVerifier(newSecret)
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return now }
	cases := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"good", headers([]string{newSecret}, now, body), body, nil},
		{"rotation: old and new signature", headers([]string{oldSecret, newSecret}, now, body), body, nil},
		{"4 minutes late", headers([]string{newSecret}, now.Add(-4*time.Minute), body), body, nil},
		{"tampered body", headers([]string{newSecret}, now, body), []byte(`{"id":"evt_1","event":"messagE"}`), client.ErrWebhookSignature},
		{"other secret", headers([]string{oldSecret}, now, body), body, client.ErrWebhookSignature},
		{"stale", headers([]string{newSecret}, now.Add(-6*time.Minute), body), body, client.ErrWebhookTimestamp},
		{"future", headers([]string{newSecret}, now.Add(6*time.Minute), body), body, client.ErrWebhookTimestamp},
		{"no headers", http.Header{}, body, client.ErrWebhookHeaders},
	}
	for _, c := range cases {
		if err := v.Verify(c.h, c.body); !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
	}
	// The signed timestamp is part of the signature: changing it breaks it.
	h := headers([]string{newSecret}, now, body)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10))
	if err := v.Verify(h, body); !errors.Is(err, client.ErrWebhookSignature) {
		t.Errorf("changed timestamp: %v", err)
	}
	both, _ := client.NewWebhookVerifier(oldSecret, newSecret)
	both.Now = v.Now
	if err := both.Verify(headers([]string{oldSecret}, now, body), body); err != nil {
		t.Errorf("verifier with both secrets, old signature: %v", err)
	}
	for _, bad := range []string{"", "secret", "whsec_", "whsec_!!!"} {
		if _, err := client.NewWebhookVerifier(bad); err == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
	if _, err := client.NewWebhookVerifier(); err == nil {
		t.Error("no secret accepted")
	}
}

// TestSubscribeErrors: a refused stream is an *APIError with the gateway's code.
func TestSubscribeErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var apiErr *client.APIError
	_, err := client.Subscribe(ctx, nil, gatewayURL, "wag_nosuch.key", client.EventFilter{})
	if !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Errorf("SSE with a bad key: %v", err)
	}
	_, err = client.SubscribeWebSocket(ctx, gatewayURL, "wag_nosuch.key", client.EventFilter{})
	if !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Errorf("WebSocket with a bad key: %v", err)
	}
	key := getenv(t, "WAGATE_API_KEY")
	_, err = client.Subscribe(ctx, nil, gatewayURL, key, client.EventFilter{Events: []string{"Not An Event"}})
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != "invalid_event_filter" {
		t.Errorf("SSE with a bad filter: %v", err)
	}
	// Close unblocks a waiting Next.
	s, err := client.Subscribe(ctx, nil, gatewayURL, key, client.EventFilter{Sessions: []string{"quiet"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.Next(); done <- err }()
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Next after Close returned no error")
		}
	case <-ctx.Done():
		t.Fatal("Next did not return after Close")
	}
}

func getenv(t *testing.T, name string) string {
	t.Helper()
	v, ok := os.LookupEnv(name)
	if !ok {
		t.Fatalf("%s not set", name)
	}
	return v
}
