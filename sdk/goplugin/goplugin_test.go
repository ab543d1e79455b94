package goplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// A plugin author imports this package: it must not link the gateway nor its
// dependencies.
func TestNoHostDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(dep, "github.com/wagate/wagate/") && !strings.HasPrefix(dep, "github.com/wagate/wagate/sdk/goplugin"),
			strings.Contains(dep, "prometheus"), strings.Contains(dep, "badger"), strings.Contains(dep, "whatsmeow"),
			strings.Contains(dep, "fasthttp"):
			t.Errorf("sdk/goplugin depends on %s", dep)
		}
	}
}

type all struct {
	panicIn string
	err     error
}

func (a *all) Configure(_ context.Context, raw json.RawMessage) error {
	if a.panicIn == "configure" {
		panic("configure")
	}
	var c struct {
		OK bool `json:"ok"`
	}
	return DecodeConfig(raw, &c)
}

func (a *all) Route(_ context.Context, in RouteInput) (RouteDecision, error) {
	if a.panicIn == "route" {
		panic("route")
	}
	if a.err != nil {
		return RouteDecision{}, a.err
	}
	c := in.Candidates[1]
	return RouteDecision{Session: fmt.Sprintf("%s/%d/%d/%s/%s/%d", c.Session, c.QueueDepth, c.SentDay,
		c.LastContact.Format(time.RFC3339Nano), in.Now.Format(time.RFC3339Nano), in.Message.Attempts)}, nil
}

func (a *all) Failover(_ context.Context, in FailoverInput) (FailoverDecision, error) {
	return FailoverDecision{Action: FailoverRetry, Delay: time.Duration(in.Attempt)*time.Second + 1500*time.Microsecond,
		Reason: in.Error.Code + "/" + in.Session.Session}, nil
}

func (a *all) Rate(_ context.Context, in RateInput) (RateDecision, error) {
	return RateDecision{Action: RateReject, Reason: in.Session.State}, nil
}

func (a *all) Transform(_ context.Context, in TransformInput) (TransformResult, error) {
	if in.Event.Event == "drop" {
		return Drop(), nil
	}
	ev := in.Event
	if ev.Event == "context" && ev.Me != nil && ev.Environment != nil {
		ev.Session = ev.Engine + " " + ev.Me.ID + " " + ev.Me.PushName + " " + ev.Environment.Version + " " + ev.Metadata["k"]
		return Keep(ev), nil
	}
	ev.Session = "changed"
	return Keep(ev), nil
}

func TestServerConversions(t *testing.T) {
	ctx := context.Background()
	s := NewServer(&all{})
	info, err := s.Info(ctx, &policypb.InfoRequest{})
	if err != nil || info.AbiVersion != ABIVersion || len(info.Hooks) != 4 {
		t.Fatalf("info %v, %v", info, err)
	}
	const ms = 1767323045678
	r, err := s.Route(ctx, &policypb.RouteRequest{NowMs: ms, Message: &policypb.Message{Attempts: 2},
		Candidates: []*policypb.Candidate{{Session: "a"}, {Session: "b", QueueDepth: 4, SentDay: 9, LastContactMs: ms - 1000}}})
	if want := "b/4/9/2026-01-02T03:04:04.678Z/2026-01-02T03:04:05.678Z/2"; err != nil || r.Session != want {
		t.Fatalf("route %q, %v; want %q", r.GetSession(), err, want)
	}
	// A zero time is 0 on the wire and the zero time.Time in Go.
	r, _ = s.Route(ctx, &policypb.RouteRequest{Candidates: []*policypb.Candidate{{}, {Session: "b"}}})
	if want := "b/0/0/0001-01-01T00:00:00Z/0001-01-01T00:00:00Z/0"; r.Session != want {
		t.Fatalf("route %q, want %q", r.Session, want)
	}
	f, err := s.Failover(ctx, &policypb.FailoverRequest{Attempt: 2, Session: &policypb.Candidate{Session: "web"},
		Error: &policypb.Error{Code: "banned"}})
	if err != nil || f.Action != policypb.FailoverAction_FAILOVER_RETRY || f.DelayMs != 2001 || f.Reason != "banned/web" {
		t.Fatalf("failover %v, %v", f, err)
	}
	rt, err := s.Rate(ctx, &policypb.RateRequest{Session: &policypb.Candidate{State: "FAILED"}})
	if err != nil || rt.Action != policypb.RateAction_RATE_REJECT || rt.Reason != "FAILED" {
		t.Fatalf("rate %v, %v", rt, err)
	}
	ev := &policypb.Event{Id: "e", Timestamp: 5, Event: "message", Session: "s", Tenant: "acme", Payload: []byte(`{"a":1}`)}
	tr, err := s.Transform(ctx, &policypb.TransformRequest{Event: ev})
	if err != nil || tr.Drop || tr.Event.Session != "changed" || tr.Event.Id != "e" || string(tr.Event.Payload) != `{"a":1}` {
		t.Fatalf("transform %v, %v", tr, err)
	}
	ev = &policypb.Event{Id: "e", Event: "context", Tenant: "acme", Payload: []byte(`{}`), Engine: "sandbox",
		Me: &policypb.Me{Id: "1555@c.us", PushName: "Ann"}, Environment: &policypb.Environment{Version: "v1", Engine: "sandbox", Tier: "OSS"},
		Metadata: map[string]string{"k": "v"}}
	tr, err = s.Transform(ctx, &policypb.TransformRequest{Event: ev})
	if err != nil || tr.Event.Session != "sandbox 1555@c.us Ann v1 v" || tr.Event.Me != nil || tr.Event.Metadata != nil {
		t.Fatalf("transform of the session context: %v, %v", tr, err)
	}
	tr, err = s.Transform(ctx, &policypb.TransformRequest{Event: &policypb.Event{Event: "drop"}})
	if err != nil || !tr.Drop || tr.Event != nil {
		t.Fatalf("drop %v, %v", tr, err)
	}
}

// Errors cross the boundary as status codes: the table of errors.go.
func TestErrorCodes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"hook error", func() error {
			_, err := NewServer(&all{err: errors.New("boom")}).Route(ctx, &policypb.RouteRequest{})
			return err
		}, codes.Unknown, "boom"},
		{"hook panic", func() error {
			_, err := NewServer(&all{panicIn: "route"}).Route(ctx, &policypb.RouteRequest{})
			return err
		}, CodePanic, "panic: route"},
		{"configure panic", func() error {
			_, err := NewServer(&all{panicIn: "configure"}).Configure(ctx, &policypb.ConfigureRequest{})
			return err
		}, CodePanic, "panic: configure"},
		{"bad config", func() error {
			_, err := NewServer(&all{}).Configure(ctx, &policypb.ConfigureRequest{Config: []byte(`{"nope":1}`)})
			return err
		}, CodeBadConfig, "unknown field"},
		{"deadline", func() error {
			_, err := NewServer(&all{err: fmt.Errorf("slow: %w", context.DeadlineExceeded)}).Route(ctx, &policypb.RouteRequest{})
			return err
		}, codes.DeadlineExceeded, "slow"},
		{"status kept", func() error {
			_, err := NewServer(&all{err: status.Error(codes.FailedPrecondition, "not yet")}).Route(ctx, &policypb.RouteRequest{})
			return err
		}, codes.FailedPrecondition, "not yet"},
		{"long message clipped", func() error {
			_, err := NewServer(&all{err: errors.New(strings.Repeat("é", 1000))}).Route(ctx, &policypb.RouteRequest{})
			if s, _ := status.FromError(err); len(s.Message()) > MaxErrorMessage+3 {
				return fmt.Errorf("message of %d bytes", len(s.Message()))
			}
			return err
		}, codes.Unknown, "é..."},
	} {
		s, ok := status.FromError(tc.call())
		if !ok || s.Code() != tc.code || !strings.Contains(s.Message(), tc.msg) {
			t.Errorf("%s: got %v %q, want %v containing %q", tc.name, s.Code(), s.Message(), tc.code, tc.msg)
		}
	}
	// Configure with no configuration gets "{}".
	if _, err := NewServer(&all{}).Configure(ctx, &policypb.ConfigureRequest{}); err != nil {
		t.Errorf("empty configuration: %v", err)
	}
}

// Logger writes hclog's JSON format, which go-plugin parses on the gateway's side.
func TestLoggerFormat(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: hclogAttr}))
	l.Warn("hello", "k", 1)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["@level"] != "warn" || m["@message"] != "hello" || m["k"] != float64(1) {
		t.Fatalf("got %v", m)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", m["@timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
}
