package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// restriction consumes the next event, which must be a RestrictionEvent.
func (r *recorder) restriction(reason string, active bool) provider.RestrictionEvent {
	r.t.Helper()
	ev := r.take()
	re, ok := ev.(provider.RestrictionEvent)
	if !ok || re.Reason != reason || re.Active != active || !re.Until.IsZero() {
		r.t.Fatalf("event = %#v, want RestrictionEvent{%s active %v}", ev, reason, active)
	}
	return re
}

// Under reachout_timelock, sends to user chats that never wrote fail with a retryable
// reachout_restricted error; chats that wrote, and groups, still get messages; the
// restriction is reported when set and lifted when cleared.
func TestReachoutTimelock(t *testing.T) {
	f := newFixture(t, testConfig())
	p, rec := f.linked("t1", "s1", "15550001111")
	if err := f.net.Inbound("t1", "s1", chatid.MustParse("4915112345678"), "hi"); err != nil {
		t.Fatal(err)
	}
	rec.message()

	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{ReachoutTimelock: true}); err != nil {
		t.Fatal(err)
	}
	rec.restriction(provider.RestrictionReachout, true)
	_, err := p.Send(context.Background(), text("15557654321", "new"))
	var se *provider.SendError
	if !errors.As(err, &se) || se.Code != CodeReachout || !provider.Retryable(err) || !errors.Is(err, ErrReachoutTimelock) {
		t.Fatalf("send to a chat that never wrote: %v, want a retryable reachout_restricted SendError", err)
	}
	if _, err := p.Send(context.Background(), text("4915112345678", "reply")); err != nil {
		t.Fatalf("send to a chat that wrote: %v", err)
	}
	g, err := p.(*session).CreateGroup(context.Background(), "g", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(context.Background(), provider.Outbound{ID: "g", ChatID: g.ID, Kind: provider.KindText, Text: "g"}); err != nil {
		t.Fatalf("send to a group: %v", err)
	}

	if err := f.net.SetFaults("t1", "s1", config.SandboxFaults{}); err != nil {
		t.Fatal(err)
	}
	for ev := rec.take(); ; ev = rec.take() { // the group's join and the acks of the sends come first
		if re, ok := ev.(provider.RestrictionEvent); ok {
			if re.Reason != provider.RestrictionReachout || re.Active {
				t.Fatalf("lift: %#v", re)
			}
			break
		}
		switch ev.(type) {
		case provider.AckEvent, provider.GroupJoin:
		default:
			t.Fatalf("event %#v before the lift", ev)
		}
	}
	if _, err := p.Send(context.Background(), text("15557654321", "new")); err != nil {
		t.Fatalf("send after the lift: %v", err)
	}
}

// A session that links while the fault is set reports the restriction with its status.
func TestReachoutTimelockAtLink(t *testing.T) {
	cfg := testConfig()
	cfg.Faults.ReachoutTimelock = true
	f := newFixture(t, cfg)
	p, rec := f.session("t1", "s1")
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.status(provider.StatusPairing, "")
	rec.qr()
	if _, err := f.net.Link("t1", "s1", "15550001111"); err != nil {
		t.Fatal(err)
	}
	rec.restriction(provider.RestrictionReachout, true)
	rec.status(provider.StatusWorking, "")
}
