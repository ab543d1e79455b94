package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
)

// Health: a WORKING session is healthy with no failures; declared unresponsive, it is
// reconnecting and its failure is listed with the monitor's message; failures are kept
// newest first and bounded; another tenant's session is ErrNotFound.
func TestHealthView(t *testing.T) {
	ctx := context.Background()
	r := newClockRig(t, t.TempDir(), healthOpts)
	r.working("s", "15550001111")
	h, err := r.m.Health(ctx, "acme", "s")
	if err != nil || h.Verdict != VerdictHealthy || h.Status != StateWorking || !h.Monitored || len(h.Failures) != 0 {
		t.Fatalf("a WORKING session: %+v, %v", h, err)
	}
	if err := r.net.SetFaults("acme", "s", config.SandboxFaults{SilentDisconnect: true}); err != nil {
		t.Fatal(err)
	}
	r.status("s", 100*time.Millisecond, is(StateStarting, ReasonUnresponsive))
	h, _ = r.m.Health(ctx, "acme", "s")
	if h.Verdict != VerdictReconnecting || len(h.Failures) == 0 {
		t.Fatalf("an unresponsive session: %+v", h)
	}
	if f := h.Failures[0]; f.Kind != FailureSession || f.Reason != ReasonUnresponsive || !strings.Contains(f.Detail, "no sign of life") {
		t.Errorf("its failure: %+v", f)
	}
	for i := range 30 {
		r.m.RecordFailure("acme", "s", Failure{Kind: FailureMessage, Reason: "daily_limit", Message: "m" + string(rune('a'+i%26))})
	}
	h, _ = r.m.Health(ctx, "acme", "s")
	if len(h.Failures) != maxFailures || h.Failures[0].Message != "m"+string(rune('a'+29%26)) {
		t.Errorf("bounded, newest first: %d failures, first %+v", len(h.Failures), h.Failures[0])
	}
	if _, err := r.m.Health(ctx, "globex", "s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant's session: %v", err)
	}
}
