package outq

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wagate/wagate/core/cluster"
)

// BenchmarkPublish is one durable publish (one replica, file storage, loopback): the
// cluster's part of accepting a send.
//
//	go test -run '^$' -bench 'Publish|Consume' ./core/cluster/outq/
func BenchmarkPublish(b *testing.B) {
	q, _ := solo(b, Options{})
	ctx := context.Background()
	k := cluster.Key("acme.s1")
	body := make([]byte, 300)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := q.Publish(ctx, k, fmt.Sprintf("m%d", i), body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsume is one message through a session's consumer: fetch, mark, handler,
// acknowledgement, unmark — the owner's cost per send, one session.
func BenchmarkConsume(b *testing.B) {
	q, _ := solo(b, Options{Poll: 100 * time.Millisecond})
	ctx := context.Background()
	k := cluster.Key("acme.s1")
	body := make([]byte, 300)
	for i := range b.N {
		if _, err := q.Publish(ctx, k, fmt.Sprintf("m%d", i), body); err != nil {
			b.Fatal(err)
		}
	}
	f := &fence{}
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	_ = q.Consume(ctx, k, f, func(context.Context, Delivery) error {
		if n++; n == b.N {
			f.endSoon.Store(true)
		}
		return nil
	})
}
