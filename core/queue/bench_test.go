package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/store"
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

// BenchmarkEnqueueWithWaiting is the cost of one enqueue (64 goroutines at once, sync
// writes on, as BenchmarkEnqueueParallel) into a queue that already holds 10,000 or
// 1,000,000 waiting messages over four sessions, nothing draining: what a message
// costs must not grow with the backlog. The backlog is filled once per size (in
// batches of 1,000 from four goroutines; not timed) and shared by the runs of b.N.
//
//	go test -run '^$' -bench EnqueueWithWaiting -benchmem -benchtime 20000x ./core/queue
func BenchmarkEnqueueWithWaiting(b *testing.B) {
	parent := b
	for _, waiting := range []int{10_000, 1_000_000} {
		var q *Queue
		b.Run(fmt.Sprintf("waiting=%d", waiting), func(b *testing.B) {
			if q == nil { // the first of the runs of this size (b.N 1, then the rest)
				var db *store.DB
				db, q = openQ(b, parent.TempDir(), Options{})
				parent.Cleanup(func() { q.Close(); db.Close() })
				fillBacklog(b, q, waiting)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := q.Enqueue(ctx, "acme", []Item{item("s", "")}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func fillBacklog(b *testing.B, q *Queue, n int) {
	b.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				batch := make([]Item, min(1000, n-i))
				for j := range batch {
					batch[j] = item(fmt.Sprint("backlog", (i/1000)%4), "")
				}
				if _, err := q.Enqueue(context.Background(), "acme", batch); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := 0; i < n; i += 1000 {
		next <- i
	}
	close(next)
	wg.Wait()
	if _, total := q.Depth("acme", "s"); total < n {
		b.Fatalf("%d messages waiting after the fill, want %d", total, n)
	}
}

// BenchmarkOldestAgeAfterDrain is one scrape of wagate_queue_oldest_message_age_seconds
// after 20,000 messages of one session were sent (their entries deleted, not yet
// compacted away) and one more waits.
//
//	go test -run '^$' -bench OldestAgeAfterDrain -benchmem ./core/queue
func BenchmarkOldestAgeAfterDrain(b *testing.B) {
	db, q := openQ(b, b.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	d := NewDispatcher(q, f, DispatchOptions{})
	defer d.Close()
	d.SessionStatus("acme", "s0", true)
	const n = 20000
	for i := 0; i < n; i += 500 {
		items := make([]Item, 500)
		for j := range items {
			items[j] = item("s0", "")
		}
		if _, err := q.Enqueue(context.Background(), "acme", items); err != nil {
			b.Fatal(err)
		}
	}
	for range n {
		<-f.got
	}
	d.SessionStatus("acme", "s0", false)
	if _, err := q.Enqueue(context.Background(), "acme", []Item{item("s0", "")}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if q.oldestAge(time.Now()) == 0 {
			b.Fatal("the waiting message was not seen")
		}
	}
}
