package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/cluster"
)

// BenchmarkClusterSendText measures POST /api/sendText and the dispatch behind it on
// loopback, through real gateways on real ports:
//
//   - single: the plain Badger gateway (no cluster);
//   - nodes=1: cluster mode, one node on one embedded JetStream server (R1);
//   - nodes=3: three nodes, each on its own server of a three-server JetStream cluster (R3).
//
// 12 sandbox sessions (WAGATE_BENCH_SESSIONS), limits off (a high plan, no per-session
// rate, no pacing: the sandbox is not a paced provider, zero send latency), 64 concurrent
// fasthttp clients
// (keep-alive) post b.N sends over the sessions to random nodes. It reports req/s (b.N /
// the time until the last 202), dispatch msg/s (b.N / the time from the first 202 until
// the sandbox send logs of all nodes hold every message) and checks that each message
// was sent exactly once. In cluster mode it also reports, per message, what NATS did:
// the messages the nodes published to NATS (nats.Conn statistics, exact, every kind
// included), the messages stored in each JetStream stream (stream sequences, exact) and
// the deliveries and acknowledgements of the send stream's consumers.
// WAGATE_BENCH_TAP=1 adds a subscriber to every subject of the account and counts the
// messages by kind (publishes, fetches, acks, KV writes, events, replies): the exact
// breakdown, at the price of one more delivery of every message.
//
// WAGATE_BENCH_CPUPROFILE=<path> profiles the measured part of each run (profileWindow).
// Figures and what they show: docs/benchmarks.md, "Cluster mode: 1 vs 3 nodes".
//
//	go test -run '^$' -bench ClusterSendText -benchtime 3000x ./cmd/wagate
func BenchmarkClusterSendText(b *testing.B) {
	for _, v := range []struct {
		name  string
		nodes int // 0: no cluster
	}{{"single", 0}, {"nodes=1", 1}, {"nodes=3", 3}} {
		var env *sendBench
		b.Run(v.name, func(sb *testing.B) {
			if env == nil { // once for all the runs of b.N: booting a cluster takes seconds
				env = newSendBench(lasting{sb, b}, v.nodes)
			}
			env.run(sb)
		})
		if env != nil {
			env.close()
		}
	}
}

const benchClients = 64

// benchSessions is how many sandbox sessions the benchmark runs: 12, or
// WAGATE_BENCH_SESSIONS (a multiple of 3, so that three nodes hold as many each).
var benchSessions = func() int {
	if n, err := strconv.Atoi(os.Getenv("WAGATE_BENCH_SESSIONS")); err == nil && n > 0 && n%3 == 0 {
		return n
	}
	return 12
}()

// lasting is a sub-benchmark's testing.TB whose Cleanup and TempDir are its parent's:
// an environment built in a sub-benchmark's first run outlives it (a benchmark's
// cleanups run after every run of b.N).
type lasting struct {
	testing.TB
	parent testing.TB
}

func (l lasting) Cleanup(f func()) { l.parent.Cleanup(f) }
func (l lasting) TempDir() string  { return l.parent.TempDir() }
func (l lasting) Helper()          {}

// sendBench is one benchmarked gateway: a plain node or a cluster of nodes.
type sendBench struct {
	dir   string
	lc    *cluster.LocalCluster // nil for a plain node
	nodes []*testGateway
	key   string
	js    jetstream.JetStream // the benchmark's own connection to server 1, cluster mode
	nc    *nats.Conn
	tap   *subjectTap // WAGATE_BENCH_TAP=1
	logs  *sendLogTail
}

func newSendBench(tb testing.TB, nodes int) *sendBench {
	e := &sendBench{dir: tb.TempDir()}
	if nodes == 0 {
		e.nodes = []*testGateway{bootConfig(tb, nodeYAML(e.dir, "gw1"))}
	} else {
		e.lc = startNATSServers(tb, nodes)
		for i := range nodes {
			node := fmt.Sprintf("gw%d", i+1)
			e.nodes = append(e.nodes, bootConfig(tb, nodeYAML(e.dir, node)+clusterSection(node, e.lc.URL(i), nodes)))
		}
	}
	e.key = e.nodes[0].createTenant("acme")
	for i, n := range e.nodes {
		poll(tb, 10*time.Second, fmt.Sprintf("the tenant's key on node %d", i+1), func() bool {
			return n.do("GET", "/api/sessions", e.key, nil).status == 200
		})
	}
	for s := range benchSessions {
		name := fmt.Sprintf("s%d", s)
		if r := e.nodes[s%len(e.nodes)].do("POST", "/api/sessions", e.key, map[string]any{"name": name, "start": true}); r.status != 201 {
			tb.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
	}
	poll(tb, 30*time.Second, "every session WORKING", func() bool {
		var list []struct{ Status string }
		e.nodes[len(e.nodes)-1].do("GET", "/api/sessions", e.key, nil).json(tb, &list)
		working := 0
		for _, s := range list {
			if s.Status == "WORKING" {
				working++
			}
		}
		return working == benchSessions
	})
	if e.lc != nil {
		// Sessions spread evenly (4/4/4), so that every node sends its share.
		poll(tb, 30*time.Second, "sessions spread evenly over the nodes", func() bool {
			for _, n := range e.nodes {
				if len(n.g.cluster.node.Held()) != benchSessions/len(e.nodes) {
					return false
				}
			}
			return true
		})
		var err error
		if e.nc, err = nats.Connect(e.lc.URL(0)); err != nil {
			tb.Fatal(err)
		}
		if e.js, err = jetstream.New(e.nc); err != nil {
			tb.Fatal(err)
		}
		if os.Getenv("WAGATE_BENCH_TAP") != "" {
			if e.tap, err = newSubjectTap(e.nc); err != nil {
				tb.Fatal(err)
			}
		}
	}
	e.logs = &sendLogTail{dir: e.dir, files: map[string]*os.File{}}
	return e
}

func (e *sendBench) close() {
	if e.tap != nil {
		e.tap.sub.Unsubscribe()
	}
	if e.nc != nil {
		e.nc.Close()
	}
	for _, n := range e.nodes {
		n.stop()
	}
	if e.lc != nil {
		e.lc.Shutdown()
	}
	e.logs.close()
}

func (e *sendBench) run(b *testing.B) {
	bodies := make([][]byte, b.N)
	rng := rand.New(rand.NewPCG(uint64(b.N), 15))
	for i := range bodies {
		// About 1,000 chats, each always written to through the same session, as a
		// contact talks with one number (a chat moving between sessions would rewrite
		// its sticky-contact record, ctc/, a shared write, on each move).
		s := rng.IntN(benchSessions)
		bodies[i] = fmt.Appendf(nil, `{"session":"s%d","chatId":"1555%07d@c.us","text":"cluster benchmark"}`,
			s, s+benchSessions*rng.IntN(1000/benchSessions))
	}
	client := &fasthttp.Client{MaxConnsPerHost: benchClients, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	sentBefore := e.logs.lines(b)
	before := e.stats(b)
	var tapBefore map[string]int64
	if e.tap != nil {
		tapBefore = e.tap.snapshot(b)
	}
	ids := make([]string, b.N)
	var (
		next, firstAt, lastAt atomic.Int64
		wg                    sync.WaitGroup
	)
	var ruBefore, ruAfter syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ruBefore)
	stopProfile := profileWindow(b)
	b.ResetTimer()
	start := time.Now()
	for c := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 99))
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				req.Reset()
				req.SetRequestURI(e.nodes[rng.IntN(len(e.nodes))].base + "/api/sendText")
				req.Header.SetMethod("POST")
				req.Header.Set("X-Api-Key", e.key)
				req.Header.SetContentType("application/json")
				req.SetBodyRaw(bodies[i])
				if err := client.DoTimeout(req, res, 30*time.Second); err != nil || res.StatusCode() != 202 {
					b.Errorf("sendText: %v %d %s", err, res.StatusCode(), res.Body())
					next.Store(int64(b.N)) // stop every client
					return
				}
				now := time.Since(start)
				firstAt.CompareAndSwap(0, int64(now))
				for {
					if l := lastAt.Load(); int64(now) <= l || lastAt.CompareAndSwap(l, int64(now)) {
						break
					}
				}
				var out struct{ ID string }
				if err := json.Unmarshal(res.Body(), &out); err != nil || out.ID == "" {
					b.Errorf("sendText answer %s: %v", res.Body(), err)
					next.Store(int64(b.N))
					return
				}
				ids[i] = out.ID
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	// Every message sent: the send logs of all nodes hold b.N more lines.
	deadline := time.Now().Add(60*time.Second + time.Duration(b.N)*time.Millisecond)
	for e.logs.lines(b)-sentBefore < b.N {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d messages sent by the deadline", e.logs.lines(b)-sentBefore, b.N)
		}
		time.Sleep(2 * time.Millisecond) // polling with a deadline
	}
	allSent := time.Since(start)
	b.StopTimer()
	stopProfile()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ruAfter)
	cpu := time.Duration(ruAfter.Utime.Nano() + ruAfter.Stime.Nano() - ruBefore.Utime.Nano() - ruBefore.Stime.Nano())

	counts := sendLogCounts(b, e.dir)
	bad := 0
	for _, id := range ids {
		if counts[id] != 1 {
			if bad++; bad <= 5 {
				b.Errorf("message %s sent %d times", id, counts[id])
			}
		}
	}
	if bad > 0 {
		b.Fatalf("%d of %d messages not sent exactly once", bad, b.N)
	}
	n := float64(b.N)
	b.ReportMetric(n/time.Duration(lastAt.Load()).Seconds(), "req/s")
	b.ReportMetric(n/(allSent-time.Duration(firstAt.Load())).Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/msg")
	if e.lc == nil {
		return
	}
	var tapAfter map[string]int64
	if e.tap != nil {
		tapAfter = e.tap.settle(b, tapBefore, b.N)
	} else {
		e.settle(b)
	}
	after := e.stats(b)
	d := after.minus(before)
	b.ReportMetric(float64(d.natsOut)/n, "nats-out/msg")
	b.ReportMetric(float64(d.seq["wagate_out"])/n, "out-pub/msg")
	b.ReportMetric(float64(d.delivered)/n, "deliver/msg")
	b.ReportMetric(float64(d.acked)/n, "ack/msg")
	b.ReportMetric(float64(d.seq["KV_wagate_out_marks"])/n, "mark/msg")
	b.ReportMetric(float64(d.seq["KV_wagate_state"])/n, "state/msg")
	b.ReportMetric(float64(d.seq["KV_wagate_leases"]+d.seq["KV_wagate_nodes"])/n, "lease/msg")
	if e.tap != nil {
		e.tap.report(b, tapBefore, tapAfter, n)
	}
}

// profileWindow writes a CPU profile of the measured part of a run of b.N > 1 (not
// the boot of the nodes and servers, which -cpuprofile would include) to the file
// WAGATE_BENCH_CPUPROFILE names, suffixed with the sub-benchmark's name.
func profileWindow(b *testing.B) (stop func()) {
	path := os.Getenv("WAGATE_BENCH_CPUPROFILE")
	if path == "" || b.N == 1 {
		return func() {}
	}
	f, err := os.Create(path + "." + strings.NewReplacer("/", "_", "=", "").Replace(b.Name()))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// natsStats is what NATS counted, summed over the nodes and streams.
type natsStats struct {
	natsOut   uint64            // messages the nodes published (nats.Conn.Stats().OutMsgs)
	seq       map[string]uint64 // stream -> last sequence: messages stored, deletes included
	delivered uint64            // the send stream's consumers: messages delivered
	acked     uint64            // and acknowledged (ack floors)
	pending   uint64            // waiting or unacknowledged on the send stream
}

func (s natsStats) minus(o natsStats) natsStats {
	d := natsStats{natsOut: s.natsOut - o.natsOut, delivered: s.delivered - o.delivered,
		acked: s.acked - o.acked, seq: map[string]uint64{}}
	for k, v := range s.seq {
		d.seq[k] = v - o.seq[k]
	}
	return d
}

func (e *sendBench) stats(tb testing.TB) natsStats {
	s := natsStats{seq: map[string]uint64{}}
	if e.lc == nil {
		return s
	}
	for _, n := range e.nodes {
		s.natsOut += n.g.cluster.nc.Stats().OutMsgs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"wagate_out", "KV_wagate_out_marks", "KV_wagate_state", "KV_wagate_leases", "KV_wagate_nodes", "KV_wagate_wam"} {
		st, err := e.js.Stream(ctx, name)
		if err != nil {
			tb.Fatalf("stream %s: %v", name, err)
		}
		s.seq[name] = st.CachedInfo().State.LastSeq
		if name != "wagate_out" {
			continue
		}
		cons := st.ListConsumers(ctx)
		for ci := range cons.Info() {
			s.delivered += ci.Delivered.Consumer
			s.acked += ci.AckFloor.Consumer
			s.pending += ci.NumPending + uint64(ci.NumAckPending)
		}
		if err := cons.Err(); err != nil {
			tb.Fatalf("consumers of %s: %v", name, err)
		}
	}
	return s
}

// settle waits until the send stream has nothing pending and the marks bucket stopped
// moving (each message's mark is deleted after its acknowledgement), so that the
// counts cover the whole of every message's path.
func (e *sendBench) settle(tb testing.TB) {
	var last uint64
	still := 0
	poll(tb, 30*time.Second, "the send stream acknowledged and its marks deleted", func() bool {
		s := e.stats(tb)
		if s.pending > 0 {
			return false
		}
		if m := s.seq["KV_wagate_out_marks"]; m != last {
			last, still = m, 0
			return false
		}
		still++
		return still >= 5 // 100 ms without a mark written
	})
}

// sendLogTail counts the lines of the sandbox send logs (<dir>/*.sends) as they grow.
type sendLogTail struct {
	dir   string
	files map[string]*os.File
	n     int
	buf   []byte
}

func (l *sendLogTail) lines(tb testing.TB) int {
	paths, _ := filepath.Glob(filepath.Join(l.dir, "*.sends"))
	if l.buf == nil {
		l.buf = make([]byte, 64<<10)
	}
	for _, p := range paths {
		f := l.files[p]
		if f == nil {
			var err error
			if f, err = os.Open(p); err != nil {
				tb.Fatal(err)
			}
			l.files[p] = f
		}
		for {
			k, err := f.Read(l.buf)
			l.n += bytes.Count(l.buf[:k], []byte{'\n'})
			if err == io.EOF || k == 0 {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
	return l.n
}

func (l *sendLogTail) close() {
	for _, f := range l.files {
		f.Close()
	}
}

// subjectTap counts every message of the account by kind of subject.
type subjectTap struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	mu      sync.Mutex
	n       map[string]int64
	barrier chan struct{}
}

const tapBarrier = "wagate_bench.barrier"

func newSubjectTap(nc *nats.Conn) (*subjectTap, error) {
	t := &subjectTap{nc: nc, n: map[string]int64{}, barrier: make(chan struct{}, 1)}
	var err error
	t.sub, err = nc.Subscribe(">", func(m *nats.Msg) {
		if m.Subject == tapBarrier {
			t.barrier <- struct{}{}
			return
		}
		k := subjectKind(m.Subject, m.Reply)
		t.mu.Lock()
		t.n[k]++
		t.mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	t.sub.SetPendingLimits(-1, -1)
	return t, nc.Flush()
}

// subjectKind names what a message on subject is (docs/cluster.md, "What is shared").
// A message whose reply subject is an acknowledgement subject is a consumer's delivery
// (by the server, to a node), not a node's request.
func subjectKind(subject, reply string) string {
	if strings.HasPrefix(reply, "$JS.ACK.") {
		if strings.HasPrefix(reply, "$JS.ACK.wagate_out.") {
			return "delivery: send stream"
		}
		if i := strings.IndexByte(reply[len("$JS.ACK."):], '.'); i > 0 {
			return "delivery: " + reply[len("$JS.ACK."):len("$JS.ACK.")+i]
		}
		return "delivery: other"
	}
	for _, p := range []struct{ prefix, kind string }{
		{"out.", "send publish (wagate_out)"},
		{"$JS.API.CONSUMER.MSG.NEXT.", "fetch request"},
		{"$JS.ACK.wagate_out.", "ack"},
		{"$JS.ACK.", "ack (other streams)"},
		{"$KV.wagate_out_marks.", "mark put/delete"},
		{"$KV.wagate_state.", "shared state write"},
		{"$KV.wagate_leases.", "lease write"},
		{"$KV.wagate_nodes.", "heartbeat"},
		{"$KV.wagate_wam.", "whatsmeow state write"},
		{"$JS.API.DIRECT.GET.", "KV read (direct get)"},
		{"$JS.API.STREAM.MSG.GET.", "KV read (msg get)"},
		{"$JS.API.STREAM.INFO.", "stream info request"},
		{"$JS.API.CONSUMER.INFO.", "consumer info request"},
		{"$JS.API.", "other JetStream API request"},
		{"$JS.EVENT.", "advisory (from the server)"},
		{"$JS.FC.", "flow control"},
		{"$JS.", "other $JS"},
		{"evt.", "event fan-out (core NATS)"},
		{"rpc.", "forwarded request (core NATS)"},
		{"_INBOX.", "reply or delivery to an inbox"},
	} {
		if strings.HasPrefix(subject, p.prefix) {
			return p.kind
		}
	}
	if i := strings.IndexByte(subject, '.'); i > 0 {
		return "other " + subject[:i]
	}
	return "other " + subject
}

// snapshot copies the counts once the tap has counted everything published before the
// call: a message on the barrier subject comes to the tap after all of them.
func (t *subjectTap) snapshot(tb testing.TB) map[string]int64 {
	if err := t.nc.Publish(tapBarrier, nil); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-t.barrier:
	case <-time.After(30 * time.Second):
		tb.Fatal("the tap did not see its barrier within 30s")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int64, len(t.n))
	for k, v := range t.n {
		out[k] = v
	}
	return out
}

// settle waits until every message of the run has been acknowledged and its mark
// deleted (no mark written for 100 ms), as the tap sees them, and returns the counts.
// It reads no stream information, whose requests the tap would count.
func (t *subjectTap) settle(tb testing.TB, before map[string]int64, n int) map[string]int64 {
	var last int64 = -1
	still := 0
	var now map[string]int64
	poll(tb, 30*time.Second, "every message acknowledged and its mark deleted", func() bool {
		now = t.snapshot(tb)
		if now["ack"]-before["ack"] < int64(n) {
			return false
		}
		if m := now["mark put/delete"]; m != last {
			last, still = m, 0
			return false
		}
		still++
		return still >= 5
	})
	return now
}

// report prints the messages of each kind per message sent (to stderr: the testing
// package cuts long benchmark logs), and reports the JetStream operations (requests of
// the nodes, not the replies, the server's advisories or the events) per message.
func (t *subjectTap) report(b *testing.B, before, after map[string]int64, n float64) {
	if d, err := t.sub.Dropped(); err == nil && d > 0 {
		b.Errorf("the tap dropped %d messages: its counts are short", d)
	}
	var kinds []string
	for k := range after {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	ops := 0.0
	var lines []string
	for _, k := range kinds {
		v := float64(after[k]-before[k]) / n
		lines = append(lines, fmt.Sprintf("  %-34s %8.3f", k, v))
		switch k {
		case "send publish (wagate_out)", "fetch request", "ack", "mark put/delete", "shared state write",
			"KV read (direct get)", "KV read (msg get)", "other JetStream API request", "whatsmeow state write",
			"stream info request", "consumer info request":
			ops += v
		}
	}
	fmt.Fprintf(os.Stderr, "%s N=%d (js-ops %.3f), messages per message sent, by kind:\n%s\n", b.Name(), int(n), ops, strings.Join(lines, "\n"))
	b.ReportMetric(ops, "js-ops/msg")
}
