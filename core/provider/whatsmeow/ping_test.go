package whatsmeow

import (
	"errors"
	"testing"

	"github.com/wagate/wagate/core/provider"
)

func TestPingFollowsTheSocket(t *testing.T) {
	r := newRig(t)
	if err := r.p.Ping(ctxT(t)); !errors.Is(err, provider.ErrNotConnected) {
		t.Fatalf("Ping before Start: %v, want ErrNotConnected", err)
	}
	c := r.startPaired()
	if err := r.p.Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping while connected: %v", err)
	}
	c.Disconnect() // the socket went away under the provider
	if err := r.p.Ping(ctxT(t)); !errors.Is(err, provider.ErrNotConnected) {
		t.Fatalf("Ping after the socket closed: %v, want ErrNotConnected", err)
	}
}
