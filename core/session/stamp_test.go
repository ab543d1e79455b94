package session

import (
	"context"
	"maps"
	"testing"

	"github.com/wagate/wagate/core/event"
)

// A session's events carry its context: engine and environment from the start, me
// once linked, the metadata as it is now; the metadata survives a restart of the
// manager, and a logout takes me away.
func TestEventsCarrySessionContext(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRig(t, dir, sandboxCfg())
	md := map[string]string{"user.id": "123"}
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "main", Metadata: md, Start: true}); err != nil {
		t.Fatal(err)
	}
	check := func(env event.Envelope, wantMe string, wantMD map[string]string) {
		t.Helper()
		if env.Engine != "sandbox" || env.Environment == nil || env.Environment.Engine != "sandbox" || env.Environment.Tier != event.Tier {
			t.Errorf("%s: engine %q environment %+v", env.Event, env.Engine, env.Environment)
		}
		if !maps.Equal(env.Metadata, wantMD) {
			t.Errorf("%s: metadata %v, want %v", env.Event, env.Metadata, wantMD)
		}
		got := ""
		if env.Me != nil {
			got = env.Me.ID
		}
		if got != wantMe {
			t.Errorf("%s: me %q, want %q", env.Event, got, wantMe)
		}
	}
	check(r.next(event.SessionQR, ""), "", md)
	if _, err := r.net.Link("acme", "main", "15551230000"); err != nil {
		t.Fatal(err)
	}
	check(r.next(event.SessionStatus, StateWorking), "15551230000@c.us", md)

	md2 := map[string]string{"user.id": "456", "crm": "x"}
	if _, err := r.m.SetMetadata(ctx, "acme", "main", md2); err != nil {
		t.Fatal(err)
	}
	env := event.New(event.MessageAck, "acme", "main", nil)
	check(r.m.Stamp(env), "15551230000@c.us", md2)
	if other := r.m.Stamp(event.New(event.MessageAck, "other", "main", nil)); other.Engine != "" || other.Metadata != nil {
		t.Errorf("another tenant's event was stamped with acme's session: %+v", other)
	}

	r.close()
	r = newRig(t, dir, sandboxCfg())
	defer r.close()
	check(r.next(event.SessionStatus, StateWorking), "15551230000@c.us", md2)
	if _, err := r.m.Logout(ctx, "acme", "main"); err != nil {
		t.Fatal(err)
	}
	check(r.next(event.SessionStatus, StateLoggedOut), "", md2)
}
