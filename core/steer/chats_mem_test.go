package steer

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkChatsMemory is the memory the pacing statistics keep per chat sent to once
// (a campaign reaches each contact once): the live heap after remembering 50,000 chats.
//
//	go test -run '^$' -bench ChatsMemory ./core/steer
func BenchmarkChatsMemory(b *testing.B) {
	const n = 50_000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("1555%07d@c.us", i)
	}
	now := time.Now()
	var perChat float64
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := newChats()
		for i, name := range names {
			c.add("acme", "s", name, now.Add(time.Duration(i)*time.Millisecond), true)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perChat = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perChat, "B/chat")
}
