package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	bpb "github.com/dgraph-io/badger/v4/pb"
)

// BenchmarkDispatchWritesPerMessage counts what the store writes per message on the
// path BenchmarkDispatch50SandboxSessions measures (batch ingest over 50 WORKING sandbox
// sessions, sent, delivered and read): keys written per key prefix, deletions apart,
// and Badger's commit markers (!badger!txn, one per commit: messages per group commit).
// The counts come from a Badger subscription to every key.
//
//	go test -run '^$' -bench DispatchWritesPerMessage -benchtime 20000x ./cmd/wagate
func BenchmarkDispatchWritesPerMessage(b *testing.B) {
	h := newBenchGateway(b, `
limits:
  default_plan:
    max_sessions: 50
    max_messages_per_day: 0
queue:
  rate_per_session: 0
server:
  max_body_bytes: 8MiB
`)
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprint("s", i)
	}
	h.workingSessions(b, names...)
	var mu sync.Mutex
	counts := map[string]int{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.g.db.Badger().Subscribe(ctx, func(kv *badger.KVList) error {
		mu.Lock()
		defer mu.Unlock()
		for _, x := range kv.Kv {
			p := string(x.Key)
			if i := bytes.IndexByte(x.Key, '/'); i >= 0 {
				p = string(x.Key[:i])
			}
			if len(x.Value) == 0 {
				p += " (deleted)"
			}
			counts[p]++
		}
		return nil
	}, []bpb.Match{{Prefix: nil}})
	seen := func(key string, n int) bool {
		mu.Lock()
		defer mu.Unlock()
		return counts[key] >= n
	}
	poll := func(what string, ok func() bool) {
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				b.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// The subscription is live once it sees a write.
	poll("the subscription", func() bool {
		_ = h.g.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("bench/probe"), []byte{1}) })
		return seen("bench", 1)
	})
	mu.Lock()
	clear(counts)
	mu.Unlock()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(1000, b.N-i)
		var sb strings.Builder
		sb.WriteString(`{"messages":[`)
		for j := 0; j < n; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"session":"s%d","chatId":"1555%07d","text":"dispatch benchmark"}`, (i+j)%50, (i+j)%1000)
		}
		sb.WriteString(`]}`)
		if c := h.call("POST", "/api/messages/batch", h.key, sb.String()); c.Response.StatusCode() != 202 {
			b.Fatalf("batch: %d %s", c.Response.StatusCode(), c.Response.Body())
		}
		i += n
	}
	// Every message's entry deleted (sent), then each message read: the last receipts.
	poll("the queue to drain", func() bool { return seen("que (deleted)", b.N) })
	poll("the receipts", func() bool {
		for i := 0; i < 50; i++ {
			n, _ := h.g.queue.Depth("bench", fmt.Sprint("s", i))
			if n > 0 {
				return false
			}
		}
		return sentCount(h.g) >= float64(b.N)
	})
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	total := 0
	for _, k := range keys {
		total += counts[k]
		b.ReportMetric(float64(counts[k])/float64(b.N), strings.ReplaceAll(k, " ", "")+"/msg")
	}
	b.ReportMetric(float64(total)/float64(b.N), "keys/msg")
}
