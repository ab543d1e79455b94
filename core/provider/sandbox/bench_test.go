package sandbox

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

// benchNetwork is a network with zero latency and delays: Send costs only the sandbox's
// own work (state checks, id, delivered ack through the sink).
func benchNetwork(b *testing.B) (*Network, provider.Provider) {
	b.Helper()
	cfg := config.Defaults().Providers.Sandbox
	cfg.SendLatency, cfg.DeliveryDelay, cfg.ReadDelay = 0, 0, 0
	n := NewNetwork(cfg, NewMemoryLinkStore())
	b.Cleanup(n.Close)
	var events atomic.Int64
	p, err := n.New(provider.Spec{Tenant: "bench", Session: "s1"}, func(provider.Event) { events.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, err := n.Link("bench", "s1", "15550001111"); err != nil {
		b.Fatal(err)
	}
	return n, p
}

func BenchmarkSend(b *testing.B) {
	_, p := benchNetwork(b)
	msg := text("15557654321", "hello")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSendParallel(b *testing.B) {
	_, p := benchNetwork(b)
	msg := text("15557654321", "hello")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := p.Send(ctx, msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSendToSandbox measures a send between two sandbox numbers (inbound message on
// the recipient's sink).
func BenchmarkSendToSandbox(b *testing.B) {
	n, p := benchNetwork(b)
	to, err := n.New(provider.Spec{Tenant: "bench", Session: "s2"}, func(provider.Event) {})
	if err != nil {
		b.Fatal(err)
	}
	if err := to.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, err := n.Link("bench", "s2", "15550002222"); err != nil {
		b.Fatal(err)
	}
	msg := text("15550002222", "hello")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleNetwork() {
	cfg := config.Defaults().Providers.Sandbox
	net := NewNetwork(cfg, NewMemoryLinkStore())
	defer net.Close()

	sink := func(ev provider.Event) {
		if st, ok := ev.(provider.StatusEvent); ok {
			fmt.Println("status:", st.Status)
		}
	}
	p, _ := net.New(provider.Spec{Tenant: "acme", Session: "default"}, sink)
	ctx := context.Background()
	_ = p.Start(ctx) // PAIRING, then a QR code every 20s (60s for the first)
	me, _ := net.Link("acme", "default", "15550001234")
	fmt.Println("linked:", me.ID)
	_ = p.Stop(ctx)
	// Output:
	// status: pairing
	// status: working
	// linked: 15550001234@c.us
	// status: stopped
}
