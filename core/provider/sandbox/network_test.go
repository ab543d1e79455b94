package sandbox

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

// TestZeroConfig checks that a hand-built zero config gets working QR timings.
func TestZeroConfig(t *testing.T) {
	clock := clockwork.NewFakeClock()
	n := NewNetwork(config.Sandbox{}, nil, WithClock(clock))
	defer n.Close()
	rec := newRecorder(t)
	p, err := n.New(provider.Spec{Tenant: "t", Session: "s"}, rec.sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.status(provider.StatusPairing, "")
	if q := rec.qr(); !q.ExpiresAt.Equal(clock.Now().Add(defaultFirstQRTimeout)) {
		t.Fatalf("first code expires at %s", q.ExpiresAt)
	}
	if _, err := n.Link("t", "s", ""); err != nil {
		t.Fatal(err)
	}
	rec.status(provider.StatusWorking, "")
	res, err := p.Send(context.Background(), text("15557654321", "x"))
	if err != nil {
		t.Fatal(err)
	}
	rec.ack(res.ProviderID, provider.AckDelivered) // no delays: at once, no read receipt
	rec.none()
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAutoLinkRefusedIsLogged(t *testing.T) {
	var logs syncBuffer
	clock := clockwork.NewFakeClock()
	cfg := testConfig()
	cfg.AutoLink = config.Duration(time.Second)
	cfg.Faults.LoggedOut = true
	n := NewNetwork(cfg, nil, WithClock(clock), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	rec := newRecorder(t)
	p, err := n.New(provider.Spec{Tenant: "t", Session: "s"}, rec.sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	clock.Advance(time.Second)
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(logs.String(), "auto-link failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no auto-link warning; log = %q", logs.String())
		}
		runtime.Gosched()
	}
	n.Close()
	rec.none()
	if out := logs.String(); !strings.Contains(out, "provider=sandbox") || !strings.Contains(out, "session=s") || !strings.Contains(out, "logged_out") {
		t.Fatalf("log = %q", out)
	}
}
