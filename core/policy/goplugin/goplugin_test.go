package goplugin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	sdk "github.com/wagate/wagate/sdk/goplugin"
)

// The SDK's contract version is the gateway's: the handshake's protocol version is
// tied to it.
func TestABIVersionTied(t *testing.T) {
	if sdk.ABIVersion != policy.ABIVersion || int(sdk.Handshake.ProtocolVersion) != policy.ABIVersion {
		t.Fatalf("sdk ABI %d, handshake protocol %d, gateway ABI %d", sdk.ABIVersion, sdk.Handshake.ProtocolVersion, policy.ABIVersion)
	}
}

func TestNewChecksConfiguration(t *testing.T) {
	good := bin("router")
	for _, tc := range []struct {
		name string
		bins []Binary
	}{
		{"empty name", []Binary{{Path: testBin, SHA256: testSum}}},
		{"upper-case name", []Binary{{Name: "Router", Path: testBin, SHA256: testSum}}},
		{"twice", []Binary{good, good}},
		{"relative path", []Binary{{Name: "r", Path: "plugins/router", SHA256: testSum}}},
		{"short sha256", []Binary{{Name: "r", Path: testBin, SHA256: testSum[:60]}}},
		{"not hex", []Binary{{Name: "r", Path: testBin, SHA256: strings.Repeat("z", 64)}}},
		{"env without =", []Binary{{Name: "r", Path: testBin, SHA256: testSum, Env: []string{"TZ"}}}},
	} {
		if _, err := New(Options{Binaries: tc.bins}); !errors.Is(err, ErrBadBinary) {
			t.Errorf("%s: got %v, want ErrBadBinary", tc.name, err)
		}
	}
	upper := bin("r")
	upper.SHA256 = strings.ToUpper(testSum)
	if _, err := New(Options{Binaries: []Binary{good, upper}}); err != nil {
		t.Errorf("good configuration refused: %v", err)
	}
}

func TestHooks(t *testing.T) {
	rt, _, _ := newRuntime(t, Options{}, bin("router"))
	p := open(t, rt, "acme", "router", `{}`)
	if info := p.Info(); info.ABIVersion != policy.ABIVersion || info.Hooks != policy.HooksOf(policy.AllHooks[:]...) || info.Trusted {
		t.Fatalf("info %+v", info)
	}

	d, err := p.Route(ctx, routeIn("hi"))
	if err != nil || d.Session != "s1" {
		t.Fatalf("route: %+v, %v", d, err)
	}

	failed := policy.Candidate{Session: "web", Provider: "whatsmeow", SentDay: 7, LastSentAt: now.Add(-time.Second)}
	fd, err := p.Failover(ctx, policy.FailoverInput{Now: now, Message: routeIn("").Message, Session: failed,
		Error: policy.Error{Code: "banned", Message: "banned", Retryable: false}, Attempt: 1, Candidates: cands})
	if want := (policy.FailoverDecision{Action: policy.FailoverFail, Reason: "banned/web"}); err != nil || fd != want {
		t.Fatalf("failover: %+v, %v; want %+v", fd, err, want)
	}
	fd, err = p.Failover(ctx, policy.FailoverInput{Now: now, Session: failed, Error: policy.Error{Code: "retry"}, Attempt: 3})
	if want := (policy.FailoverDecision{Action: policy.FailoverRetry, Delay: 3 * time.Second}); err != nil || fd != want {
		t.Fatalf("failover retry: %+v, %v; want %+v", fd, err, want)
	}

	// Times cross as Unix milliseconds, truncated as the WASM ABI's are: 1500.3ms ago
	// is 1501ms before now's millisecond.
	rd, err := p.Rate(ctx, policy.RateInput{Now: now, Session: policy.Candidate{Session: "s", SentMinute: 10,
		LastSentAt: now.Add(-1500*time.Millisecond - 300*time.Microsecond)}})
	if want := (policy.RateDecision{Action: policy.RateDelay, Delay: 1501 * time.Millisecond}); err != nil || rd != want {
		t.Fatalf("rate: %+v, %v; want %+v", rd, err, want)
	}

	ev := event.Envelope{ID: "evt_1", Timestamp: now.UnixMilli(), Event: "message", Session: "s1", Tenant: "acme",
		Payload: json.RawMessage(`{"body":"hi"}`)}
	tr, err := p.Transform(ctx, policy.TransformInput{Now: now, Event: ev})
	want := ev
	want.Event, want.Payload = "message.seen", json.RawMessage(`{"wrapped":{"body":"hi"}}`)
	if err != nil || tr.Drop || !reflect.DeepEqual(tr.Event, want) {
		t.Fatalf("transform: %+v, %v", tr, err)
	}
}

func TestTransformDrop(t *testing.T) {
	rt, _, _ := newRuntime(t, Options{}, bin("t"))
	p := open(t, rt, "acme", "t", `{"transform_drop":true}`)
	r, err := p.Transform(ctx, policy.TransformInput{Now: now, Event: event.Envelope{ID: "e", Tenant: "acme", Event: "x", Payload: json.RawMessage(`{}`)}})
	if err != nil || !r.Drop {
		t.Fatalf("got %+v, %v; want drop", r, err)
	}
}

// A binary whose SHA-256 is not the pinned one is refused before anything runs.
func TestChecksumMismatchRefused(t *testing.T) {
	b := bin("router")
	b.SHA256 = strings.Repeat("ab", 32)
	rt, rec, _ := newRuntime(t, Options{}, b)
	_, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "router", Source: []byte("router")})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
	if msg := err.Error(); !strings.Contains(msg, testSum) || !strings.Contains(msg, "sha256sum "+testBin) {
		t.Errorf("the error should name the file's checksum and how to pin it: %v", err)
	}
	if n := rec.count("started"); n != 0 {
		t.Errorf("%d processes started", n)
	}
	if err := rt.Verify(); !errors.Is(err, ErrChecksum) {
		t.Errorf("Verify: got %v, want ErrChecksum", err)
	}
}

// Tenants name configured binaries; a path or an unknown name is refused.
func TestOnlyConfiguredBinaries(t *testing.T) {
	rt, rec, _ := newRuntime(t, Options{}, bin("router"))
	for _, src := range []string{"other", "/bin/sh", filepath.Join(filepath.Dir(testBin), ".", "testplugin-x")} {
		if _, err := rt.Load(ctx, policy.Spec{Tenant: "acme", Name: "p", Source: []byte(src)}); !errors.Is(err, ErrUnknownBinary) {
			t.Errorf("%q: got %v, want ErrUnknownBinary", src, err)
		}
	}
	if n := rec.count("started"); n != 0 {
		t.Errorf("%d processes started", n)
	}
	if err := rt.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
	// The configured path itself names the binary too.
	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "p", Source: []byte(testBin)})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
}

// Every way a start can fail leaves no process behind.
func TestStartFailuresKillTheProcess(t *testing.T) {
	sh := "/bin/true"
	if _, err := os.Stat(sh); err != nil {
		t.Skip("no /bin/true")
	}
	for _, tc := range []struct {
		name   string
		b      Binary
		config string
		want   error
	}{
		{"exits before the handshake", bin("p", "TESTPLUGIN_MODE=exit"), `{}`, ErrHandshake},
		{"protocol version 2", bin("p", "TESTPLUGIN_MODE=handshake2"), `{}`, ErrHandshake},
		{"not a plugin", Binary{Name: "p", Path: sh, SHA256: sha256File(sh)}, `{}`, ErrHandshake},
		{"ABI version 2", bin("p", "TESTPLUGIN_MODE=abi2"), `{}`, policy.ErrABIVersion},
		{"configuration refused", bin("p"), `{"fail":true}`, policy.ErrBadConfig},
		{"unknown configuration field", bin("p"), `{"nope":1}`, policy.ErrBadConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, rec, _ := newRuntime(t, Options{}, tc.b)
			_, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "p", Source: []byte("p"), Config: []byte(tc.config)})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, ev := range rec.all() {
				if ev.Kind == "started" {
					gone(t, ev.PID)
				}
			}
		})
	}
}

func TestCloseKillsTheProcessGroup(t *testing.T) {
	rt, _, _ := newRuntime(t, Options{}, bin("router"))
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p := open(t, rt, "acme", "router", `{"child_pid_file":"`+pidFile+`"}`)
	pid := p.PID()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	if err := json.Unmarshal(b, &child); err != nil || !alive(child) || !alive(pid) {
		t.Fatalf("plugin %d, child %q (%v): not running", pid, b, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	gone(t, pid)
	gone(t, child)
	if _, err := p.Route(ctx, routeIn("hi")); !errors.Is(err, policy.ErrClosed) {
		t.Errorf("route after close: %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// When the plugin's process dies by itself, what it started dies with it.
func TestCrashKillsTheProcessGroup(t *testing.T) {
	rt, rec, _ := newRuntime(t, Options{}, bin("router"))
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	p := open(t, rt, "acme", "router", `{"child_pid_file":"`+pidFile+`"}`)
	pid := p.PID()
	b, _ := os.ReadFile(pidFile)
	var child int
	_ = json.Unmarshal(b, &child)
	if _, err := p.Route(ctx, routeIn("crash")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("got %v, want ErrCrashed", err)
	}
	gone(t, pid)
	gone(t, child)
	rec.wait(t, 0, "exited")
}

// The plugin's log lines reach the policy's logger, with their level when written with
// sdk/goplugin.Logger.
func TestPluginLogs(t *testing.T) {
	rt, _, _ := newRuntime(t, Options{}, bin("router"))
	logs := &logBuf{}
	spec := policy.Spec{Tenant: "acme", Name: "router", Source: []byte("router"),
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	pl, err := policy.Open(ctx, rt, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if _, err := pl.(*Plugin).Route(ctx, routeIn("log")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both lines logged", func() bool {
		s := logs.String()
		return strings.Contains(s, `level=WARN msg="structured line"`) && strings.Contains(s, "chat=15551230000@c.us") &&
			strings.Contains(s, `level=DEBUG msg="plain stderr line"`)
	})
	if s := logs.String(); !strings.Contains(s, "tenant=acme") || !strings.Contains(s, "policy=router") {
		t.Errorf("lines without tenant and policy:\n%s", s)
	}
}

func TestLineLimiter(t *testing.T) {
	l := &lineLimiter{max: 3}
	at := now
	for i := range 3 {
		if ok, _ := l.allow(at); !ok {
			t.Fatalf("line %d refused", i)
		}
	}
	for range 5 {
		if ok, _ := l.allow(at.Add(500 * time.Millisecond)); ok {
			t.Fatal("line past the limit allowed")
		}
	}
	if ok, dropped := l.allow(at.Add(time.Second)); !ok || dropped != 5 {
		t.Fatalf("next second: ok %v, dropped %d; want true, 5", ok, dropped)
	}
}

func TestTail(t *testing.T) {
	tl := newTail(8)
	_, _ = tl.Write([]byte("abc"))
	if s := tl.String(); s != "abc" {
		t.Fatalf("got %q", s)
	}
	_, _ = tl.Write([]byte("defghij"))
	if s := tl.String(); s != "cdefghij" {
		t.Fatalf("got %q", s)
	}
	_, _ = tl.Write([]byte("0123456789xyz"))
	if s := tl.String(); s != "56789xyz" {
		t.Fatalf("got %q", s)
	}
}

func TestCallWithoutDeadlineIsBounded(t *testing.T) {
	rt, _, _ := newRuntime(t, Options{CallTimeout: 50 * time.Millisecond, HungAfter: 100}, bin("router"))
	p := open(t, rt, "acme", "router", `{}`)
	start := time.Now()
	_, err := p.Route(context.Background(), routeIn("hang"))
	if !errors.Is(err, policy.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a timeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
}
