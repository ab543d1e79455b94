package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Test timings: a 3s lease, renewed every 900ms, stopped 700ms before its end; a KV
// operation may take 450ms (loaded CI machines need that much).
func testOptions(id string, wanted func() []Key, h Handler) Options {
	lvl := slog.LevelWarn
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		lvl = slog.LevelDebug
	}
	return Options{
		NodeID: id, LeaseTTL: 3 * time.Second, RenewInterval: 900 * time.Millisecond,
		SafetyMargin: 700 * time.Millisecond, OpTimeout: 450 * time.Millisecond,
		ReconcileInterval: 200 * time.Millisecond, ClaimGrace: 900 * time.Millisecond, Settle: 300 * time.Millisecond,
		RebalanceInterval: 500 * time.Millisecond, RebalanceMoves: 2, Replicas: 3,
		Wanted: wanted, Handler: h,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
	}
}

func keys(n int) []Key {
	out := make([]Key, n)
	for i := range out {
		out[i] = Key(fmt.Sprintf("acme.s%02d", i))
	}
	return out
}

// startCluster starts a 3-server JetStream cluster and creates the buckets, then
// follows the leases stream from its first message.
func startCluster(t *testing.T, ctx context.Context) (*LocalCluster, *leaseLog) {
	t.Helper()
	lc, err := StartLocalCluster(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lc.Shutdown)
	nc := connect(t, strings.Join(lc.URLs(), ","))
	js, _ := jetstream.New(nc)
	o := testOptions("x", nil, nil)
	for _, b := range []string{LeaseBucket, NodeBucket} {
		if _, err := ensureBucket(ctx, js, b, "", o.LeaseTTL, 3); err != nil {
			t.Fatal(err)
		}
	}
	return lc, followLeases(t, ctx, js)
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.Timeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startNode starts a node on url.
func startNode(t *testing.T, ctx context.Context, url string, o Options) *Node {
	t.Helper()
	n, err := NewNode(connect(t, url), o)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.Start(sctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = n.Close(cctx)
		}
	})
	return n
}

// halt stops n as a crash would: its loops end, its leases stay until their TTL, its
// handler is not told.
func (n *Node) halt() {
	n.cancel()
	n.loops.Wait()
}

// pause freezes every loop of n, as SIGSTOP would; resume thaws it.
func (n *Node) pause()  { n.gate.Lock() }
func (n *Node) resume() { n.gate.Unlock() }

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	return time.Since(start)
}

// tracker is the sessions' side: which node runs which session, and any moment two
// nodes ran one session at once.
type tracker struct {
	mu         sync.Mutex
	running    map[Key]map[string]bool
	tokens     map[Key]map[string]uint64 // the lease token a node runs a session under
	stopping   map[Key]map[string]bool   // a node's Stop of a session has not returned yet
	stopDelay  map[string]time.Duration  // how long a node's Stop takes
	stops      map[string][]StopReason
	exempt     map[string]bool // a frozen node: its sessions cannot act, fencing covers it
	dead       map[string]bool // a crashed node: nothing of it runs any more
	violations []string
}

func newTracker() *tracker {
	return &tracker{running: map[Key]map[string]bool{}, tokens: map[Key]map[string]uint64{},
		stopping: map[Key]map[string]bool{}, stopDelay: map[string]time.Duration{}, stops: map[string][]StopReason{}, exempt: map[string]bool{}, dead: map[string]bool{}}
}

type trackHandler struct {
	tr   *tracker
	node string
}

func (h trackHandler) Start(ctx context.Context, l *Lease) error {
	h.tr.mu.Lock()
	defer h.tr.mu.Unlock()
	if h.tr.dead[h.node] {
		return nil // the process died: what its goroutines still do runs nothing
	}
	k := l.Key()
	for other := range h.tr.running[k] {
		if other != h.node && !h.tr.exempt[other] {
			h.tr.violations = append(h.tr.violations, fmt.Sprintf("%s started on %s while running on %s", k, h.node, other))
		}
	}
	if h.tr.stopping[k][h.node] {
		h.tr.violations = append(h.tr.violations, fmt.Sprintf("%s started on %s before its previous Stop there returned", k, h.node))
	}
	if h.tr.running[k] == nil {
		h.tr.running[k] = map[string]bool{}
		h.tr.tokens[k] = map[string]uint64{}
	}
	h.tr.running[k][h.node] = true
	h.tr.tokens[k][h.node] = l.Token()
	return nil
}

func (h trackHandler) Stop(ctx context.Context, k Key, reason StopReason) {
	h.tr.mu.Lock()
	defer h.tr.mu.Unlock()
	if h.tr.dead[h.node] {
		return
	}
	if d := h.tr.stopDelay[h.node]; d > 0 {
		if h.tr.stopping[k] == nil {
			h.tr.stopping[k] = map[string]bool{}
		}
		h.tr.stopping[k][h.node] = true
		h.tr.mu.Unlock()
		time.Sleep(d) // a session that takes this long to stop
		h.tr.mu.Lock()
		delete(h.tr.stopping[k], h.node)
	}
	if ctx.Err() != nil && !h.tr.exempt[h.node] {
		h.tr.violations = append(h.tr.violations, fmt.Sprintf("%s stopped on %s after its lease could end", k, h.node))
	}
	delete(h.tr.running[k], h.node)
	h.tr.stops[h.node] = append(h.tr.stops[h.node], reason)
}

func (tr *tracker) handler(node string) Handler { return trackHandler{tr, node} }

// crashed forgets node's sessions: its process died with them, at this instant. Until
// revive, the node's handler runs nothing (a halted node's goroutines may still call it
// while they wind down; a dead process would not).
func (tr *tracker) crashed(node string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.dead[node] = true
	for _, m := range tr.running {
		delete(m, node)
	}
}

// revive is a restart of a crashed node's process: its handler runs sessions again.
func (tr *tracker) revive(node string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.dead[node] = false
}

func (tr *tracker) count(node string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	c := 0
	for _, m := range tr.running {
		if m[node] {
			c++
		}
	}
	return c
}

// owners is how many sessions run on some node.
func (tr *tracker) owned() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	c := 0
	for _, m := range tr.running {
		if len(m) > 0 {
			c++
		}
	}
	return c
}

func (tr *tracker) check(t *testing.T) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, v := range tr.violations {
		t.Error(v)
	}
}

// leaseLog is every message of the leases stream, in stream order: claims, renewals,
// releases and the server's expiry markers.
type leaseLog struct {
	mu   sync.Mutex
	msgs []logEntry
}

type logEntry struct {
	seq   uint64
	key   Key
	op    string // put, del, purge, expired
	value leaseValue
}

func followLeases(t *testing.T, ctx context.Context, js jetstream.JetStream) *leaseLog {
	t.Helper()
	c, err := js.OrderedConsumer(ctx, "KV_"+LeaseBucket, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ll := &leaseLog{}
	cc, err := c.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		e := logEntry{seq: md.Sequence.Stream, key: Key(strings.TrimPrefix(m.Subject(), "$KV."+LeaseBucket+"."))}
		switch {
		case m.Headers().Get(jetstream.MarkerReasonHeader) != "":
			e.op = "expired"
		case m.Headers().Get("KV-Operation") == "DEL":
			e.op = "del"
		case m.Headers().Get("KV-Operation") == "PURGE":
			e.op = "purge"
		default:
			e.op = "put"
			_ = json.Unmarshal(m.Data(), &e.value)
		}
		ll.mu.Lock()
		ll.msgs = append(ll.msgs, e)
		ll.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return ll
}

// check replays the log: a claim must find the key free, a renewal must renew the
// lease in place (same node, same token). Anything else is two owners at once.
func (ll *leaseLog) check(t *testing.T) (claims int) {
	t.Helper()
	ll.mu.Lock()
	defer ll.mu.Unlock()
	type cur struct {
		node  string
		token uint64
	}
	state := map[Key]cur{}
	last := uint64(0)
	for _, e := range ll.msgs {
		if e.seq <= last {
			t.Errorf("seq %d after %d", e.seq, last)
		}
		last = e.seq
		c, held := state[e.key]
		switch e.op {
		case "put":
			if e.value.Token == 0 { // a claim
				if held {
					t.Errorf("seq %d: %s claimed by %s while %s holds token %d", e.seq, e.key, e.value.Node, c.node, c.token)
				}
				claims++
				state[e.key] = cur{e.value.Node, e.seq}
			} else if !held || c.node != e.value.Node || c.token != e.value.Token {
				t.Errorf("seq %d: %s renewed by %s with token %d, but the lease is %+v (held %v)", e.seq, e.key, e.value.Node, e.value.Token, c, held)
			}
		default:
			delete(state, e.key)
		}
	}
	return claims
}

func (ll *leaseLog) count(op string) int {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	n := 0
	for _, e := range ll.msgs {
		if e.op == op {
			n++
		}
	}
	return n
}

// proxy forwards TCP to target and can freeze: bytes stop flowing both ways, the
// connections stay open, as in a network partition.
type proxy struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, thaw: make(chan struct{})}
	var conns []net.Conn
	var cmu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		p.unfreeze()
		cmu.Lock()
		for _, c := range conns {
			c.Close()
		}
		cmu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", strings.TrimPrefix(target, "nats://"))
			if err != nil {
				c.Close()
				continue
			}
			cmu.Lock()
			conns = append(conns, c, u)
			cmu.Unlock()
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	return p
}

func (p *proxy) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen, thaw := p.frozen, p.thaw
			p.mu.Unlock()
			if frozen {
				<-thaw
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

func (p *proxy) unfreeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thaw)
		p.thaw = make(chan struct{})
	}
}
