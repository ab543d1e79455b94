package goplugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

// testBin is the test plugin (internal/testplugin), built once per test run, and its
// SHA-256.
var testBin, testSum string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wagate-goplugin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBin = filepath.Join(dir, "testplugin")
	out, err := exec.Command("go", "build", "-o", testBin, "./internal/testplugin").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the test plugin: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	testSum = sha256File(testBin)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func sha256File(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var ctx = context.Background()

// bin is the test plugin configured under name with env.
func bin(name string, env ...string) Binary {
	return Binary{Name: name, Path: testBin, SHA256: testSum, Env: env}
}

// recorder keeps a runtime's lifecycle events and lets a test wait for one.
type recorder struct {
	mu     sync.Mutex
	events []procEvent
	notify chan struct{}
}

func (r *recorder) add(ev procEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

// wait returns the first event of kind from index from on (the count of events seen
// before), waiting up to 10s.
func (r *recorder) wait(t *testing.T, from int, kind string) (procEvent, int) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i := from; i < len(r.events); i++ {
			if r.events[i].Kind == kind {
				ev := r.events[i]
				r.mu.Unlock()
				return ev, i + 1
			}
		}
		ch := r.notify
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no %q event within 10s; events: %+v", kind, r.all())
		}
	}
}

func (r *recorder) all() []procEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]procEvent(nil), r.events...)
}

func (r *recorder) count(kind string) int {
	n := 0
	for _, ev := range r.all() {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// logBuf is a concurrency-safe log destination.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newRuntime returns a runtime of bins with fast restarts, recording its lifecycle.
func newRuntime(t *testing.T, o Options, bins ...Binary) (*Runtime, *recorder, *logBuf) {
	t.Helper()
	o.Binaries = bins
	logs := &logBuf{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if o.RestartBackoff == 0 {
		o.RestartBackoff, o.MaxRestartBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 5 * time.Second // direct calls on a loaded machine; chains set budgets
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 20 * time.Second // -race on a loaded machine
	}
	rt, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{notify: make(chan struct{})}
	rt.trace = rec.add
	return rt, rec, logs
}

// open opens binary name for tenant with config, closed at the end of the test.
func open(t *testing.T, rt *Runtime, tenant, name, config string) *Plugin {
	t.Helper()
	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: tenant, Name: "plugin", Source: []byte(name), Config: []byte(config)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.(*Plugin)
}

// gone waits until process pid no longer exists (killed and reaped).
func gone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid (%d)", pid)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still exists 10s later (kill 0: %v)", pid, err)
		}
		time.Sleep(5 * time.Millisecond) // polling a kernel state: no event to wait on
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitUntil polls cond until it holds, up to 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling with a deadline
	}
}

// failures collects a chain's failure reports.
type failures struct {
	mu sync.Mutex
	fs []policy.Failure
}

func (f *failures) add(x policy.Failure) { f.mu.Lock(); f.fs = append(f.fs, x); f.mu.Unlock() }
func (f *failures) list() []policy.Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]policy.Failure(nil), f.fs...)
}

// lastCandidate is the default route of the tests: a trusted rule the plugin never
// answers with (the plugin picks the shortest queue, which the tests put first).
type lastCandidate struct{}

func (lastCandidate) Route(_ context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	return policy.RouteDecision{Session: in.Candidates[len(in.Candidates)-1].Session}, nil
}

// chainOf binds p alone in tenant's chain with budget per call.
func chainOf(t *testing.T, tenant string, p policy.Plugin, budget time.Duration) (*policy.Chain, *failures) {
	t.Helper()
	fs := &failures{}
	c, err := policy.NewChain(tenant, policy.ChainOptions{Defaults: policy.Defaults{Route: lastCandidate{}},
		OnFailure: fs.add, BreakerThreshold: 1000}, policy.Binding{Name: "plugin", Plugin: p, Timeout: budget})
	if err != nil {
		t.Fatal(err)
	}
	return c, fs
}

var (
	now   = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	cands = []policy.Candidate{{Session: "s1", State: "WORKING", QueueDepth: 0}, {Session: "s2", State: "WORKING", QueueDepth: 5}}
)

func transformIn() policy.TransformInput {
	return policy.TransformInput{Now: now, Event: event.Envelope{ID: "evt_1", Timestamp: now.UnixMilli(), Event: "message",
		Tenant: "acme", Payload: json.RawMessage(`{"body":"hi"}`)}}
}

// routeIn is a route input whose text picks the test plugin's behaviour.
func routeIn(text string) policy.RouteInput {
	return policy.RouteInput{Now: now, Message: policy.Message{ID: "msg_1", Tenant: "acme", ChatID: "15551230000@c.us",
		Kind: "text", Text: text}, Candidates: cands}
}
