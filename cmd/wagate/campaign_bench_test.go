package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/core/audience"
	"github.com/wagate/wagate/core/campaign"
)

// BenchmarkCampaignRecipients runs one campaign of b.N recipients through the real
// gateway over 50 WORKING sandbox sessions, limits off (no daily quota, no rate, no
// pacing, zero send latency, receipts at once): the list is imported first (streamed
// through core/audience, not timed), then the timer runs from the start until the
// campaign is completed, every recipient sent, delivered and read. It reports the
// campaign's rate (recipients/s from start to completed) and the process's VmRSS:
// after the import, its peak while the campaign runs (and the peak of RssAnon, the
// process's own memory without the store's mapped files), and at the end; the -v log has
// VmRSS and the Go heap in use at each tenth of the campaign, to see them stay flat;
// WAGATE_BENCH_HEAP=file writes a heap profile half-way.
//
//	go test -run '^$' -bench CampaignRecipients -benchtime 1000000x -timeout 60m -v ./cmd/wagate
func BenchmarkCampaignRecipients(b *testing.B) {
	h := newBenchGateway(b, `
limits:
  default_plan:
    max_sessions: 50
    max_messages_per_day: 0
queue:
  rate_per_session: 0
pacing:
  enabled: false
store:
  sync_writes: false
`+benchStoreYAML())
	g, key := h.g, h.key
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprint("s", i)
	}
	h.workingSessions(b, names...)
	ctx := context.Background()
	list, err := g.audience.CreateList(ctx, "bench", "million")
	if err != nil {
		b.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		w.WriteString("phone,name,city\n")
		for i := range b.N {
			fmt.Fprintf(w, "1%09d,Contact %d,City %d\n", 5000000000+i, i, i%100)
		}
		w.Flush()
		pw.Close()
	}()
	importStart := time.Now()
	rep, err := g.audience.Import(ctx, "bench", list.ID, audience.CSV, pr)
	if err != nil || rep.Imported != b.N {
		b.Fatalf("import: %+v %v", rep, err)
	}
	importTook := time.Since(importStart)
	runtime.GC()
	rssImport := vmRSS()
	fmt.Fprintf(os.Stderr, "campaign bench %d: import %s, VmRSS %d MiB\n", b.N, importTook.Round(time.Millisecond), rssImport>>20)

	body := `{"name":"bench","listId":"` + list.ID + `","message":{"type":"text","text":"Hi {{name}} of {{attrs.city}}"},"start":true}`
	var mu sync.Mutex
	var peak, peakAnon int64
	var samples []string
	waits := map[string]int{}
	stop := make(chan struct{})
	sampled := make(chan struct{})
	b.ResetTimer()
	c := h.call("POST", "/api/campaigns", key, body)
	if c.Response.StatusCode() != 201 {
		b.Fatalf("campaign: %d %s", c.Response.StatusCode(), c.Response.Body())
	}
	var cmp campaign.Campaign
	json.Unmarshal(c.Response.Body(), &cmp)
	start := time.Now()
	go func() { // VmRSS every 200ms; the peak, and one line per tenth of the campaign
		defer close(sampled)
		next := 1
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			rss := vmRSS()
			got, _ := g.campaigns.Get(ctx, "bench", cmp.ID)
			done := got.Counts.Sent + got.Counts.Delivered + got.Counts.Read
			mu.Lock()
			waits[got.Waiting]++
			if g.guards.memory.Pressure() {
				waits["memory_pressure"]++ // the dispatcher holds its sends meanwhile
			}
			peak = max(peak, rss)
			peakAnon = max(peakAnon, selfStatus("RssAnon:"))
			for next <= 10 && done >= next*b.N/10 {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				line := fmt.Sprintf("%d%%: %s, VmRSS %d MiB (anon %d, file %d), Go heap in use %d MiB, live %d MiB, idle unreleased %d MiB, fed %.0f", next*10,
					time.Since(start).Round(time.Second), rss>>20, selfStatus("RssAnon:")>>20, selfStatus("RssFile:")>>20,
					ms.HeapInuse>>20, liveHeap()>>20, (ms.HeapIdle-ms.HeapReleased)>>20, counterValue(g, "wagate_campaign_fed_total", "outcome", "queued"))
				if path := os.Getenv("WAGATE_BENCH_HEAP"); path != "" && next == heapAt() {
					if f, err := os.Create(path); err == nil { // the heap half-way, to see what holds memory
						pprof.WriteHeapProfile(f)
						f.Close()
					}
				}
				samples = append(samples, line)
				fmt.Fprintln(os.Stderr, "campaign bench", b.N, line) // at once: a long run cut short still tells
				next++
			}
			mu.Unlock()
		}
	}()
	for {
		got, err := g.campaigns.Get(ctx, "bench", cmp.ID)
		if err != nil {
			b.Fatal(err)
		}
		if got.Status == campaign.StatusCompleted {
			if n := got.Counts; n.Read+n.Delivered+n.Sent != b.N || n.Failed != 0 {
				b.Fatalf("counts %+v", n)
			}
			break
		}
		if got.Status != campaign.StatusRunning {
			b.Fatalf("campaign %s %+v", got.Status, got.Counts)
		}
		time.Sleep(50 * time.Millisecond) // polling the campaign; bounded by b.N and -timeout
	}
	took := time.Since(start)
	b.StopTimer()
	close(stop)
	<-sampled
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	mu.Lock()
	defer mu.Unlock()
	for _, s := range samples {
		b.Log(s)
	}
	b.Logf("what the campaign waited for, sampled: %v", waits)
	b.Logf("import %d rows in %s (%.0f rows/s), VmRSS after it %d MiB; campaign %s, peak VmRSS %d MiB (peak RssAnon %d MiB), VmHWM %d MiB",
		b.N, importTook.Round(time.Millisecond), float64(b.N)/importTook.Seconds(), rssImport>>20, took.Round(time.Millisecond), peak>>20, peakAnon>>20, vmHWM()>>20)
	b.ReportMetric(float64(b.N)/took.Seconds(), "recipients/s")
	b.ReportMetric(float64(rssImport>>20), "rss-import-MiB")
	b.ReportMetric(float64(peak>>20), "rss-peak-MiB")
	b.ReportMetric(float64(peakAnon>>20), "anon-peak-MiB")
	b.ReportMetric(float64(vmRSS()>>20), "rss-end-MiB")
	sst := tableBytes(g.cfg.Store.Dir)
	b.Logf("the store's tables on disk at the end: %d MiB", sst>>20)
	b.ReportMetric(float64(sst>>20), "sst-MiB")
}

// tableBytes adds up the sizes of the store's table files (*.sst) in dir: what Badger
// maps into the process (RssFile follows it).
func tableBytes(dir string) (sst int64) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		if strings.HasSuffix(e.Name(), ".sst") {
			sst += info.Size()
		}
	}
	return sst
}

// liveHeap is the Go heap live at the end of the last GC.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heapAt is the tenth of the campaign at which WAGATE_BENCH_HEAP is written:
// WAGATE_BENCH_HEAP_AT, 5 (half-way) by default.
func heapAt() int {
	if n, err := strconv.Atoi(os.Getenv("WAGATE_BENCH_HEAP_AT")); err == nil && n >= 1 && n <= 10 {
		return n
	}
	return 5
}

// benchStoreYAML turns WAGATE_BENCH_STORE ("table_size=4MiB,num_compactors=4") into
// more lines of the store section, to measure the store's memory knobs.
func benchStoreYAML() string {
	var out strings.Builder
	for kv := range strings.SplitSeq(os.Getenv("WAGATE_BENCH_STORE"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			fmt.Fprintf(&out, "  %s: %s\n", strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return out.String()
}

// vmRSS and vmHWM read this process's resident set size and its peak, in bytes.
func vmRSS() int64 { return selfStatus("VmRSS:") }
func vmHWM() int64 { return selfStatus("VmHWM:") }

func selfStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
