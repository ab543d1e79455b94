package queue

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkEnqueueParallel: concurrent single-message enqueues with sync writes on, the
// shape of many API requests at once; group commit shares one fsync between them.
//
//	go test -run '^$' -bench EnqueueParallel -benchmem ./core/queue
func BenchmarkEnqueueParallel(b *testing.B) {
	db, q := openQ(b, b.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32) // 32 goroutines per core: many requests in flight
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Enqueue(ctx, "acme", []Item{item("s", "")}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDispatch50Sessions: b.N messages spread over 50 sessions, enqueued in
// batches of 1,000, then drained by the dispatcher through a provider that answers at
// once (rate limits off). Reports messages/s end to end.
//
//	go test -run '^$' -bench Dispatch50 -benchmem ./core/queue
func BenchmarkDispatch50Sessions(b *testing.B) {
	db, q := openQ(b, b.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()
	f := newFake()
	f.got = make(chan string, b.N)
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(1000, b.N-i)
		batch := make([]Item, n)
		for j := range batch {
			batch[j] = item(fmt.Sprint("s", (i+j)%50), "")
		}
		if _, err := q.Enqueue(ctx, "acme", batch); err != nil {
			b.Fatal(err)
		}
		i += n
	}
	for s := 0; s < 50; s++ {
		d.SessionStatus("acme", fmt.Sprint("s", s), true)
	}
	for i := 0; i < b.N; i++ {
		<-f.got
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDrainOneSession measures draining one session's long queue: b.N messages
// are queued first (not timed), then the session turns WORKING and the dispatcher sends
// them all. Each sent message deletes its queue entry; a worker reading its queue from
// the start would walk over every deleted entry again on each read (quadratic in the
// backlog), the cursor avoids it.
//
//	go test -run '^$' -bench DrainOneSession -benchtime 50000x ./core/queue
func BenchmarkDrainOneSession(b *testing.B) {
	db, q := openQ(b, b.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	ctx := context.Background()
	f := newFake()
	f.got = make(chan string, b.N)
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	for i := 0; i < b.N; {
		n := min(1000, b.N-i)
		batch := make([]Item, n)
		for j := range batch {
			batch[j] = item("s", "")
		}
		if _, err := q.Enqueue(ctx, "acme", batch); err != nil {
			b.Fatal(err)
		}
		i += n
	}
	b.ReportAllocs()
	b.ResetTimer()
	d.SessionStatus("acme", "s", true)
	for i := 0; i < b.N; i++ {
		<-f.got
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
