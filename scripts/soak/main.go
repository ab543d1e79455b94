// Command soak runs the gateway under load and random faults for a while and checks that
// no message is lost: every message the API accepted ends sent or failed with a reason.
//
//	scripts/soak.sh                          # builds both binaries, 15 minutes
//	scripts/soak.sh -duration 2m -sessions 10 -rate 200
//
// It starts the gateway binary (-wagate) as a child process on a random 127.0.0.1 port
// with a fresh data directory and a config of its own (sandbox provider, anti-ban pacing
// on for the sandbox: 1.5 s gap plus up to 1.5 s jitter, 30 a minute at most), then:
//
//  1. creates a tenant and -sessions sandbox sessions and links them;
//  2. for -duration, sends -rate messages a minute spread over the sessions (POST
//     /api/sendText with an Idempotency-Key, retried on transport errors so that a
//     message accepted but unanswered is still known), to random chats of a pool;
//     every few seconds a chat of the pool writes to a session (inbound);
//  3. meanwhile injects a random fault every -fault-every into a random session through
//     the sandbox fault API, and reverts it after a random 20-90 s: a silent disconnect,
//     a hang on stop (then a restart), a temporary ban, a QR loop (logout, then a start
//     that never pairs until the QR limiter gives up), a reach-out timelock, or flaky
//     sends (30% failures); after each revert the session is brought back to WORKING;
//  4. scrapes /metrics every -scrape: RSS (process_resident_memory_bytes), the Go heap
//     in use (go_memstats_heap_inuse_bytes), goroutines (go_goroutines) and the queue
//     depth;
//  5. stops the load, reverts every fault, waits (at most -drain) for the queue to
//     empty, then reads every accepted message with GET /api/messages/{id};
//  6. prints: messages accepted, refused, sent, failed by reason, still pending, lost
//     (not found, or failed without a reason), the faults injected, RSS and goroutines
//     over time, and the pacing counters; then stops the gateway.
//
// Everything listens on loopback, the run is bounded (duration + drain + a few minutes
// of set-up and shutdown), and the gateway it started is stopped by its pid on exit. It
// exits 1 when a message is lost or still pending.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	adminKey = "soak-admin-key-0123456789abcdef0123"
	tenantID = "soak"
)

type options struct {
	wagate                              string
	duration, faultEvery, drain, scrape time.Duration
	sessions, rate, chats               int
	keep                                bool
	seed                                uint64
}

func main() {
	var o options
	flag.StringVar(&o.wagate, "wagate", "", "the gateway binary (go build ./cmd/wagate)")
	flag.DurationVar(&o.duration, "duration", 15*time.Minute, "how long the load and the faults last")
	flag.IntVar(&o.sessions, "sessions", 50, "sandbox sessions")
	flag.IntVar(&o.rate, "rate", 1000, "messages per minute, over all sessions")
	flag.IntVar(&o.chats, "chats", 20000, "distinct recipients the messages go to")
	flag.DurationVar(&o.faultEvery, "fault-every", 15*time.Second, "one new fault this often")
	flag.DurationVar(&o.drain, "drain", 15*time.Minute, "after the load, longest wait for the queue to empty")
	flag.DurationVar(&o.scrape, "scrape", 30*time.Second, "how often /metrics is read")
	flag.BoolVar(&o.keep, "keep", false, "keep the data directory and the gateway log")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay the fault sequence)")
	flag.Parse()
	if o.wagate == "" || o.sessions < 1 || o.rate < 1 {
		fmt.Fprintln(os.Stderr, "soak: -wagate is required; -sessions and -rate must be positive")
		os.Exit(2)
	}
	ok, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// gateway is the child process and its HTTP API.
type gateway struct {
	cmd    *exec.Cmd
	base   string
	dir    string
	key    string // the tenant's API key
	client *http.Client
	exited chan struct{}
}

func run(o options) (bool, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	fmt.Printf("soak: seed %d, %d sessions, %d messages/min, %s of load, a fault every %s\n",
		o.seed, o.sessions, o.rate, o.duration, o.faultEvery)

	g, err := startGateway(ctx, o)
	if err != nil {
		return false, err
	}
	defer g.stop(o.keep)

	names, err := g.setup(ctx, o)
	if err != nil {
		return false, err
	}
	fmt.Printf("soak: %d sessions WORKING; load starts %s\n", len(names), time.Now().Format(time.TimeOnly))

	s := &soak{g: g, o: o, names: names, rng: rng, faulted: map[string]string{}, faultCounts: map[string]int{},
		refused: map[string]int{}}
	start := time.Now()
	loadCtx, endLoad := context.WithTimeout(ctx, o.duration)
	var wg sync.WaitGroup
	scrapeCtx, endScrape := context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); s.scrapeLoop(scrapeCtx, start) }()
	var load sync.WaitGroup
	load.Add(3)
	go func() { defer load.Done(); s.produce(loadCtx) }()
	go func() { defer load.Done(); s.inject(loadCtx) }()
	go func() { defer load.Done(); s.inbound(loadCtx) }()
	load.Wait()
	endLoad()
	s.faultsWG.Wait() // every fault reverted, every session healed (bounded)
	if ctx.Err() != nil {
		endScrape()
		wg.Wait()
		return false, ctx.Err()
	}
	fmt.Printf("soak: load over after %s: %d accepted; draining (at most %s)\n",
		time.Since(start).Round(time.Second), s.acceptedCount(), o.drain)
	for _, name := range names {
		s.heal(ctx, name)
	}
	drained := s.waitDrained(ctx, o.drain)
	endScrape()
	wg.Wait()
	s.sample(context.Background(), start) // the last reading
	fmt.Printf("soak: drain %s after %s\n", map[bool]string{true: "complete", false: "INCOMPLETE"}[drained],
		time.Since(start).Round(time.Second))
	return s.report(ctx, start)
}

// startGateway writes the config and starts the gateway, waiting for /ready.
func startGateway(ctx context.Context, o options) (*gateway, error) {
	dir, err := os.MkdirTemp("", "wagate-soak-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`server:
  listen: %s
store:
  dir: %s
admin:
  api_key: %s
log:
  level: warn
limits:
  default_plan:
    max_sessions: %d
    max_messages_per_day: 0
sessions:
  qr:
    max_codes: 5
    max_attempts_per_hour: 30
pacing:
  providers: sandbox
  min_gap: 1500ms
  jitter: 1500ms
  per_minute: 30
  per_hour: 1500
  per_day: 0
  warmup:
    days: 0
  contact_per_hour: 2
  first_contacts_per_day: 0
  pause_unknown: 2m
  pause_recheck: 10s
providers:
  sandbox:
    first_qr_timeout: 2s
    qr_timeout: 1s
    max_qr_codes: 1000
`, addr, filepath.Join(dir, "data"), adminKey, o.sessions+10)
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.wagate, "serve", "--config", filepath.Join(dir, "gateway.yaml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// WAGATE_* variables of the caller would override the config: drop them.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WAGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gateway{cmd: cmd, base: "http://" + addr, dir: dir, exited: make(chan struct{}),
		client: &http.Client{Timeout: 15 * time.Second}}
	go func() { _ = cmd.Wait(); logf.Close(); close(g.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-g.exited:
			return nil, fmt.Errorf("gateway exited during start (log: %s)", filepath.Join(dir, "gateway.log"))
		case <-ctx.Done():
			g.stop(true)
			return nil, ctx.Err()
		default:
		}
		if code, _, _ := g.call(ctx, "GET", "/ready", "", nil, nil); code == 200 {
			fmt.Printf("soak: gateway pid %d on %s, data in %s\n", cmd.Process.Pid, g.base, dir)
			return g, nil
		}
		if time.Now().After(deadline) {
			g.stop(true)
			return nil, errors.New("gateway not ready after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the gateway this program started: SIGTERM, then SIGKILL after 30s.
func (g *gateway) stop(keep bool) {
	select {
	case <-g.exited:
	default:
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(30 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
	}
	if keep {
		fmt.Printf("soak: kept %s\n", g.dir)
		return
	}
	_ = os.RemoveAll(g.dir)
}

// call does one request; it returns the status and the body.
func (g *gateway) call(ctx context.Context, method, path, key string, body any, headers map[string]string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := g.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// setup creates the tenant and the sessions and links them.
func (g *gateway) setup(ctx context.Context, o options) ([]string, error) {
	code, b, err := g.call(ctx, "POST", "/api/admin/tenants", adminKey, map[string]any{"id": tenantID}, nil)
	if err != nil || code != 201 {
		return nil, fmt.Errorf("creating the tenant: %d %s %v", code, b, err)
	}
	var t struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.APIKey.Key == "" {
		return nil, fmt.Errorf("tenant answer %s: %v", b, err)
	}
	g.key = t.APIKey.Key
	names := make([]string, o.sessions)
	for i := range names {
		names[i] = fmt.Sprintf("s%02d", i)
		if code, b, err := g.call(ctx, "POST", "/api/sessions", g.key, map[string]any{"name": names[i]}, nil); err != nil || code != 201 {
			return nil, fmt.Errorf("creating session %s: %d %s %v", names[i], code, b, err)
		}
	}
	for _, n := range names {
		if err := g.working(ctx, n, time.Minute); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// status returns a session's status and reason.
func (g *gateway) status(ctx context.Context, name string) (string, string) {
	_, b, err := g.call(ctx, "GET", "/api/sessions/"+name, g.key, nil, nil)
	if err != nil {
		return "", err.Error()
	}
	var s struct{ Status, Reason string }
	_ = json.Unmarshal(b, &s)
	return s.Status, s.Reason
}

// working brings a session to WORKING: start it when it is not running, link it when it
// shows a QR code; within limit.
func (g *gateway) working(ctx context.Context, name string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	lastStart := time.Time{}
	for ctx.Err() == nil {
		st, reason := g.status(ctx, name)
		switch st {
		case "WORKING":
			return nil
		case "SCAN_QR_CODE":
			_, _, _ = g.call(ctx, "POST", "/api/sandbox/"+name+"/link", g.key, map[string]any{}, nil)
		case "STOPPED", "FAILED", "LOGGED_OUT":
			if time.Since(lastStart) > 5*time.Second {
				_, _, _ = g.call(ctx, "POST", "/api/sessions/"+name+"/start", g.key, nil, nil)
				lastStart = time.Now()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("session %s is %s %s, not WORKING, after %s", name, st, reason, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ctx.Err()
}

// soak is the run's state.
type soak struct {
	g     *gateway
	o     options
	names []string

	mu          sync.Mutex
	rng         *rand.Rand
	accepted    []string
	refused     map[string]int // non-202 answers by status
	faulted     map[string]string
	faultCounts map[string]int
	heals       []time.Duration
	healFails   int
	samples     []sample
	faultsWG    sync.WaitGroup

	sendErrors atomic.Int64 // transport errors retried
}

type sample struct {
	at                        time.Duration
	rss, heap, goroutines     float64
	waiting                   float64
	sent, paced, faultsActive float64
}

func (s *soak) intn(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

func (s *soak) acceptedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accepted)
}

// chat is recipient i of the pool.
func chat(i int) string { return fmt.Sprintf("1555%07d", 2000000+i) }

var words = strings.Fields("order shipped invoice ready meeting tomorrow thanks confirmed payment received please call back delivery window update your appointment reminder code")

// produce sends o.rate messages a minute, round-robin over the sessions.
func (s *soak) produce(ctx context.Context) {
	t := time.NewTicker(time.Minute / time.Duration(s.o.rate))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		name := s.names[i%len(s.names)]
		n := 3 + s.intn(8)
		text := make([]string, n)
		for j := range text {
			text[j] = words[s.intn(len(words))]
		}
		body := map[string]any{"session": name, "chatId": chat(s.intn(s.o.chats)), "text": strings.Join(text, " ")}
		key := fmt.Sprintf("soak-%d-%d", s.o.seed, i)
		for attempt := 0; ; attempt++ {
			code, b, err := s.g.call(context.WithoutCancel(ctx), "POST", "/api/sendText", s.g.key, body, map[string]string{"Idempotency-Key": key})
			if err != nil {
				s.sendErrors.Add(1)
				if attempt < 5 {
					continue // the same key: an accepted message is answered again, not queued twice
				}
				s.mu.Lock()
				s.refused["transport_error"]++
				s.mu.Unlock()
				break
			}
			var a struct{ ID string }
			_ = json.Unmarshal(b, &a)
			s.mu.Lock()
			if code == 202 && a.ID != "" {
				s.accepted = append(s.accepted, a.ID)
			} else {
				s.refused[strconv.Itoa(code)]++
			}
			s.mu.Unlock()
			break
		}
	}
}

// inbound makes a chat of the pool write to a session every 2 seconds.
func (s *soak) inbound(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		name := s.names[s.intn(len(s.names))]
		_, _, _ = s.g.call(ctx, "POST", "/api/sandbox/"+name+"/inbound", s.g.key,
			map[string]any{"from": chat(s.intn(s.o.chats)), "text": "hi"}, nil)
	}
}

var faultKinds = []string{"disconnect", "hang", "ban", "qr_loop", "reachout", "flaky"}

// inject starts a fault every o.faultEvery on a session without one.
func (s *soak) inject(ctx context.Context) {
	t := time.NewTicker(s.o.faultEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		var free []string
		for _, n := range s.names {
			if s.faulted[n] == "" {
				free = append(free, n)
			}
		}
		if len(free) == 0 {
			s.mu.Unlock()
			continue
		}
		name := free[s.rng.IntN(len(free))]
		kind := faultKinds[s.rng.IntN(len(faultKinds))]
		hold := 20*time.Second + time.Duration(s.rng.IntN(71))*time.Second
		s.faulted[name] = kind
		s.faultCounts[kind]++
		s.mu.Unlock()
		s.faultsWG.Add(1)
		go func() {
			defer s.faultsWG.Done()
			s.fault(ctx, name, kind, hold)
		}()
	}
}

// fault applies one fault to a session, holds it, reverts it and heals the session.
// The revert runs even when the load is over (ctx done): it is what ends the fault.
func (s *soak) fault(ctx context.Context, name, kind string, hold time.Duration) {
	bg := context.WithoutCancel(ctx)
	put := func(f map[string]any) {
		_, _, _ = s.g.call(bg, "PUT", "/api/sandbox/"+name+"/faults", s.g.key, f, nil)
	}
	action := func(a string) {
		_, _, _ = s.g.call(bg, "POST", "/api/sessions/"+name+"/"+a, s.g.key, nil, nil)
	}
	switch kind {
	case "disconnect":
		put(map[string]any{"silent_disconnect": true})
	case "hang":
		put(map[string]any{"hang_on_stop": true})
		go action("restart") // blocks until sessions.stop_timeout
	case "ban":
		put(map[string]any{"temp_ban": true})
	case "qr_loop":
		action("logout")
		put(map[string]any{"endless_qr": true})
		action("start")
	case "reachout":
		put(map[string]any{"reachout_timelock": true})
	case "flaky":
		put(map[string]any{"send_failure_rate": 0.3})
	}
	select {
	case <-ctx.Done():
	case <-time.After(hold):
	}
	put(map[string]any{})
	s.heal(bg, name)
	s.mu.Lock()
	delete(s.faulted, name)
	s.mu.Unlock()
}

// heal brings a session back to WORKING after a fault (within 3 minutes), counting how
// long it took.
func (s *soak) heal(ctx context.Context, name string) {
	start := time.Now()
	err := s.g.working(ctx, name, 3*time.Minute)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.healFails++
		fmt.Println("soak: heal:", err)
		return
	}
	s.heals = append(s.heals, time.Since(start))
}

// metrics reads /metrics into name{labels} -> value.
func (s *soak) metrics(ctx context.Context) (map[string]float64, error) {
	code, b, err := s.g.call(ctx, "GET", "/metrics", "", nil, nil)
	if err != nil || code != 200 {
		return nil, fmt.Errorf("/metrics: %d %v", code, err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

func (s *soak) sample(ctx context.Context, start time.Time) {
	m, err := s.metrics(ctx)
	if err != nil {
		return
	}
	s.mu.Lock()
	active := len(s.faulted)
	s.samples = append(s.samples, sample{at: time.Since(start), rss: m["process_resident_memory_bytes"],
		heap: m["go_memstats_heap_inuse_bytes"], goroutines: m["go_goroutines"], waiting: m["wagate_queue_messages_waiting"],
		sent: m[`wagate_dispatch_messages_total{outcome="sent"}`], paced: m[`wagate_dispatch_messages_total{outcome="paced"}`],
		faultsActive: float64(active)})
	s.mu.Unlock()
}

func (s *soak) scrapeLoop(ctx context.Context, start time.Time) {
	s.sample(ctx, start)
	t := time.NewTicker(s.o.scrape)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample(ctx, start)
		}
	}
}

// waitDrained waits until no message waits in the queue.
func (s *soak) waitDrained(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	last := time.Time{}
	for ctx.Err() == nil && time.Now().Before(deadline) {
		m, err := s.metrics(ctx)
		if err == nil && m["wagate_queue_messages_waiting"] == 0 {
			return true
		}
		if time.Since(last) > time.Minute {
			fmt.Printf("soak: draining: %.0f waiting\n", m["wagate_queue_messages_waiting"])
			last = time.Now()
		}
		time.Sleep(2 * time.Second)
	}
	return false
}

// report reads every accepted message and prints the figures; ok is false when a
// message is lost or still pending.
func (s *soak) report(ctx context.Context, start time.Time) (bool, error) {
	s.mu.Lock()
	ids := append([]string(nil), s.accepted...)
	s.mu.Unlock()
	type result struct{ status, reason string }
	results := make([]result, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(ids); i = int(next.Add(1)) - 1 {
				code, b, err := s.g.call(ctx, "GET", "/api/messages/"+ids[i], s.g.key, nil, nil)
				switch {
				case err != nil:
					results[i] = result{"error", err.Error()}
				case code == 404:
					results[i] = result{"not_found", ""}
				default:
					var m struct{ Status, Reason string }
					_ = json.Unmarshal(b, &m)
					results[i] = result{m.Status, m.Reason}
				}
			}
		}()
	}
	wg.Wait()
	sent, pending, lost := 0, 0, 0
	failed := map[string]int{}
	for _, r := range results {
		switch r.status {
		case "sent", "delivered", "read":
			sent++
		case "failed":
			if r.reason == "" {
				lost++
				continue
			}
			failed[reasonKey(r.reason)]++
		case "queued", "sending":
			pending++
		default:
			lost++
		}
	}
	m, _ := s.metrics(ctx)

	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Printf("\n== soak result (seed %d; %d sessions; %d messages/min for %s; a fault every %s)\n",
		s.o.seed, s.o.sessions, s.o.rate, s.o.duration, s.o.faultEvery)
	fmt.Printf("accepted   %d\n", len(ids))
	fmt.Printf("sent       %d  (sent, delivered or read)\n", sent)
	nf := 0
	for _, n := range failed {
		nf += n
	}
	fmt.Printf("failed     %d  (each with a reason)\n", nf)
	for _, k := range sortedKeys(failed) {
		fmt.Printf("  %-60s %d\n", k, failed[k])
	}
	fmt.Printf("pending    %d  (still queued after the drain)\n", pending)
	fmt.Printf("lost       %d  (not found, failed without reason, unknown status)\n", lost)
	nr := 0
	for _, n := range s.refused {
		nr += n
	}
	fmt.Printf("refused    %d  (not accepted: %v); transport errors retried: %d\n", nr, s.refused, s.sendErrors.Load())

	fmt.Printf("\nfaults injected: %d %v\n", sum(s.faultCounts), s.faultCounts)
	sort.Slice(s.heals, func(i, j int) bool { return s.heals[i] < s.heals[j] })
	if len(s.heals) > 0 {
		fmt.Printf("back to WORKING after revert: %d sessions, median %s, max %s; not healed within 3m: %d\n",
			len(s.heals), s.heals[len(s.heals)/2].Round(time.Millisecond), s.heals[len(s.heals)-1].Round(time.Millisecond), s.healFails)
	}

	fmt.Printf("\n%8s %9s %9s %11s %9s %9s %9s %7s\n", "t", "RSS MiB", "heap MiB", "goroutines", "waiting", "sent", "paced", "faults")
	var maxRSS, maxHeap, maxG float64
	for _, x := range s.samples {
		maxRSS, maxHeap, maxG = max(maxRSS, x.rss), max(maxHeap, x.heap), max(maxG, x.goroutines)
		fmt.Printf("%8s %9.1f %9.1f %11.0f %9.0f %9.0f %9.0f %7.0f\n", x.at.Round(time.Second), x.rss/(1<<20), x.heap/(1<<20),
			x.goroutines, x.waiting, x.sent, x.paced, x.faultsActive)
	}
	fmt.Printf("max RSS %.1f MiB, max Go heap in use %.1f MiB, max goroutines %.0f\n", maxRSS/(1<<20), maxHeap/(1<<20), maxG)

	fmt.Println("\npacing and dispatch counters at the end:")
	for _, k := range sortedKeys(m) {
		if (strings.HasPrefix(k, "wagate_antiban_") || strings.HasPrefix(k, "wagate_pacing_") ||
			strings.HasPrefix(k, "wagate_dispatch_messages_total")) && m[k] != 0 {
			fmt.Printf("  %-70s %.0f\n", k, m[k])
		}
	}
	fmt.Printf("\nwall time %s\n", time.Since(start).Round(time.Second))
	return lost == 0 && pending == 0, nil
}

// reasonKey groups failure reasons: the code before the first ":" (details vary).
func reasonKey(r string) string {
	if i := strings.Index(r, ": "); i > 0 {
		if j := strings.Index(r[i+2:], ": "); j > 0 && strings.HasPrefix(r, "retries_exhausted") {
			return r[:i+2+j]
		}
		return r[:i]
	}
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
