//go:build !wasip1

package wasm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	wasmhost "github.com/wagate/wagate/core/policy/wasm"
	"github.com/wagate/wagate/core/policy/wasm/wasmtest"
)

var ctx = context.Background()

type lines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *lines) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestGuest builds testdata/guest with the SDK and runs every hook through the
// gateway's WASM host.
func TestGuest(t *testing.T) {
	mod := wasmtest.BuildGo(t, "./testdata/guest")
	rt := wasmhost.New(wasmhost.Options{})
	defer rt.Close()
	kv := policy.NewMemKV(policy.KVLimits{})
	log := &lines{}
	open := func(config string) (policy.Plugin, error) {
		return policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "guest", Source: mod, KV: kv.For("acme"),
			Config: json.RawMessage(config), Log: slog.New(slog.NewTextHandler(log, nil))})
	}
	p, err := open(`{"delay":"500ms"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if h := p.Info().Hooks; h != policy.HooksOf(policy.AllHooks[:]...) {
		t.Errorf("hooks %s", h)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)
	msg := policy.Message{ID: "msg_1", Tenant: "acme", ChatID: "4915@c.us", Kind: "text", Text: "hi", Attempts: 1, CreatedAt: now.Add(-time.Second)}
	cands := []policy.Candidate{
		{Session: "a", Provider: "whatsmeow", State: "WORKING", QueueDepth: 2, SentDay: 5, LastSentAt: now.Add(-1500 * time.Millisecond)},
		{Session: "b", Provider: "cloudapi", State: "WORKING", SentDay: 100},
		{Session: "c", Provider: "sandbox", State: "STARTING", LastSentAt: now.Add(-250 * time.Millisecond)},
	}
	// Budgets are generous: a Go module's first call on an instance may take a while.
	callCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	call := func() context.Context { return callCtx }

	t.Run("route takes turns through the KV", func(t *testing.T) {
		for i, want := range []string{"a", "b", "c", "a"} {
			d, err := p.(policy.RouteHook).Route(call(), policy.RouteInput{Now: now, Message: msg, Candidates: cands})
			if err != nil || d.Session != want {
				t.Fatalf("call %d: %+v, %v; want %s", i, d, err, want)
			}
		}
		if v, _, _ := kv.For("acme").Get(ctx, "turn"); string(v) != "4" {
			t.Errorf("turn %q in the KV, want 4", v)
		}
		for _, want := range []string{"msg=\"route msg_1\"", "level=WARN msg=\"candidates: 3\""} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("log has no %s:\n%s", want, log.String())
			}
		}
	})
	t.Run("the clock is the call's time", func(t *testing.T) {
		m := msg
		m.Text = "clock"
		if _, err := p.(policy.RouteHook).Route(call(), policy.RouteInput{Now: now, Message: m, Candidates: cands}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("failover", func(t *testing.T) {
		for _, tc := range []struct {
			code string
			want policy.FailoverDecision
		}{
			{"timeout", policy.FailoverDecision{Action: policy.FailoverRetry, Delay: 3 * time.Second}},
			{"banned", policy.FailoverDecision{Action: policy.FailoverReroute, Session: "c"}},
			{"other", policy.FailoverDecision{Action: policy.FailoverFail, Reason: "other|it failed ✗|true|a|3|3"}},
		} {
			d, err := p.(policy.FailoverHook).Failover(call(), policy.FailoverInput{Now: now, Message: msg, Session: cands[0],
				Error: policy.Error{Code: tc.code, Message: "it failed ✗", Retryable: true}, Attempt: 3, Candidates: cands})
			if err != nil || d != tc.want {
				t.Errorf("%s: %+v, %v; want %+v", tc.code, d, err, tc.want)
			}
		}
	})
	t.Run("rate", func(t *testing.T) {
		for i, want := range []policy.RateDecision{
			{Action: policy.RateDelay, Delay: 2500 * time.Millisecond},
			{Action: policy.RateReject, Reason: "daily b cloudapi WORKING"},
			{Action: policy.RateDelay, Delay: 250 * time.Millisecond},
			{Action: policy.RateAllow},
		} {
			s := policy.Candidate{Session: "d"}
			if i < len(cands) {
				s = cands[i]
			}
			if d, err := p.(policy.RateHook).Rate(call(), policy.RateInput{Now: now, Message: msg, Session: s}); err != nil || d != want {
				t.Errorf("%d: %+v, %v; want %+v", i, d, err, want)
			}
		}
	})
	t.Run("transform", func(t *testing.T) {
		ev := event.Envelope{ID: "evt_1", Timestamp: 1, Event: "message", Session: "a", Tenant: "acme", Payload: json.RawMessage(`{"body":"hi"}`)}
		r, err := p.(policy.TransformHook).Transform(call(), policy.TransformInput{Now: now, Event: ev})
		if err != nil || r.Drop || string(r.Event.Payload) != `{"body":"hi","seen_at":1767323045678}` || r.Event.ID != "evt_1" {
			t.Errorf("%+v, %v", r, err)
		}
		ev.Event = "drop.me"
		if r, err := p.(policy.TransformHook).Transform(call(), policy.TransformInput{Now: now, Event: ev}); err != nil || !r.Drop {
			t.Errorf("drop: %+v, %v", r, err)
		}
	})
	t.Run("a panic fails the call and is logged", func(t *testing.T) {
		m := msg
		m.Text = "panic"
		_, err := p.(policy.RouteHook).Route(call(), policy.RouteInput{Now: now, Message: m, Candidates: cands})
		var ge *policy.GuestError
		if !errors.As(err, &ge) || ge.Code != -3 {
			t.Errorf("%v, want the guest error -3", err)
		}
		if !strings.Contains(log.String(), `level=ERROR msg="route: panic: asked to"`) {
			t.Errorf("log:\n%s", log.String())
		}
	})
	t.Run("a session that is not a candidate", func(t *testing.T) {
		m := msg
		m.Text = "nobody"
		_, err := p.(policy.RouteHook).Route(call(), policy.RouteInput{Now: now, Message: m, Candidates: cands})
		if !errors.Is(err, policy.ErrBadOutput) || !strings.Contains(log.String(), "route: session nobody is not a candidate") {
			t.Errorf("%v\n%s", err, log.String())
		}
	})
	t.Run("configuration", func(t *testing.T) {
		q, err := open(`{"prefer":"c"}`)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		if d, err := q.(policy.RouteHook).Route(call(), policy.RouteInput{Now: now, Message: msg, Candidates: cands}); err != nil || d.Session != "c" {
			t.Errorf("%+v, %v", d, err)
		}
		if _, err := open(`{"unknown":1}`); !errors.Is(err, policy.ErrBadConfig) || !strings.Contains(log.String(), `configure: json: unknown field \"unknown\"`) {
			t.Errorf("unknown field: %v\n%s", err, log.String())
		}
	})
}
