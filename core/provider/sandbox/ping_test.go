package sandbox

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

func TestPing(t *testing.T) {
	f := newFixture(t, testConfig())
	unstarted, _ := f.session("t1", "idle")
	if err := unstarted.(provider.Pinger).Ping(context.Background()); !errors.Is(err, provider.ErrNotConnected) {
		t.Fatalf("Ping before Start: %v, want ErrNotConnected", err)
	}
	p, _ := f.linked("t1", "s1", "15550001111")
	pinger := p.(provider.Pinger)
	if err := pinger.Ping(context.Background()); err != nil {
		t.Fatalf("Ping while WORKING: %v", err)
	}

	// silent_disconnect: no answer until the context ends.
	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{SilentDisconnect: true}); err != nil {
		t.Fatal(err)
	}
	ctx := f.fakeTimeout(10 * time.Second)
	wait := async(t, func() error { return pinger.Ping(ctx) })
	f.advance(10 * time.Second)
	if err := wait(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping under silent_disconnect: %v, want DeadlineExceeded", err)
	}

	// A ping waiting when the run ends returns ErrNotConnected.
	wait = async(t, func() error { return pinger.Ping(context.Background()) })
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, provider.ErrNotConnected) {
		t.Fatalf("Ping across Stop: %v, want ErrNotConnected", err)
	}

	// Fault off, started again: answers at once.
	f.net.SetFaults("t1", "s1", config.SandboxFaults{})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := pinger.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
}
