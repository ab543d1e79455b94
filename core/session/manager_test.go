package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/store"
)

type rig struct {
	t   *testing.T
	db  *store.DB
	bus *event.Bus
	net *sandbox.Network
	m   *Manager
	sub *event.Subscription
}

func sandboxCfg() config.Sandbox {
	c := config.Defaults().Providers.Sandbox
	c.SendLatency = 0
	c.DeliveryDelay = config.Duration(time.Millisecond)
	c.ReadDelay = config.Duration(time.Millisecond)
	return c
}

func newRig(t *testing.T, dir string, cfg config.Sandbox) *rig {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(event.Options{Buffer: 1024})
	sub, _ := bus.Subscribe(event.Filter{Tenant: "acme"})
	net := sandbox.NewNetwork(cfg, sandbox.StoreLinks{DB: db})
	m := NewManager(db, bus, Options{
		StartTimeout: 2 * time.Second, StopTimeout: 200 * time.Millisecond, SendTimeout: 2 * time.Second,
		DefaultProvider: "sandbox",
		MaxSessions:     func(context.Context, string) (int, error) { return 2, nil },
	}, net)
	r := &rig{t: t, db: db, bus: bus, net: net, m: m, sub: sub}
	if err := m.Restore(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) close() {
	r.m.Close(context.Background())
	r.net.Close()
	r.bus.Close()
	r.db.Close()
}

// next waits for the next event matching name (and, for session.status, status).
func (r *rig) next(name string, status State) event.Envelope {
	r.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case env, ok := <-r.sub.C():
			if !ok {
				r.t.Fatalf("subscription ended: %v", r.sub.Err())
			}
			if env.Event != name {
				continue
			}
			if name == event.SessionStatus {
				var p StatusPayload
				json.Unmarshal(env.Payload, &p)
				if p.Status != status {
					continue
				}
			}
			return env
		case <-deadline:
			r.t.Fatalf("no %s %s within 5s", name, status)
		}
	}
}

func TestLifecyclePairSendRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRig(t, dir, sandboxCfg())

	info, err := r.m.Create(ctx, "acme", CreateInput{Name: "main", Start: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.Provider != "sandbox" {
		t.Errorf("provider = %q", info.Provider)
	}
	r.next(event.SessionQR, "")
	qr, err := r.m.QR(ctx, "acme", "main")
	if err != nil || qr.Code == "" {
		t.Fatalf("QR = %+v, %v", qr, err)
	}
	if _, err := r.m.Send(ctx, "acme", "main", provider.Outbound{ID: "m0", ChatID: chatid.MustParse("15550001111"), Kind: provider.KindText, Text: "x"}); !errors.As(err, new(*NotWorkingError)) {
		t.Fatalf("send while pairing: err = %v, want NotWorkingError", err)
	}
	if _, err := r.net.Link("acme", "main", "15551230000"); err != nil {
		t.Fatal(err)
	}
	r.next(event.SessionStatus, StateWorking)
	info, _ = r.m.Get(ctx, "acme", "main")
	if info.Status != StateWorking || info.Me == nil || info.Me.ID.String() != "15551230000@c.us" {
		t.Fatalf("after link: %+v", info)
	}

	res, err := r.m.Send(ctx, "acme", "main", provider.Outbound{ID: "msg_1", ChatID: chatid.MustParse("15550001111"), Kind: provider.KindText, Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 3 {
		env := r.next(event.MessageAck, "")
		var a AckPayload
		json.Unmarshal(env.Payload, &a)
		if a.ID != "msg_1" || a.ProviderID != res.ProviderID {
			t.Fatalf("ack %+v: want id msg_1 / %s", a, res.ProviderID)
		}
		if n, name := WAHAAck(a.Status); a.Ack != n || a.AckName != name {
			t.Fatalf("ack %+v: want ack %d %s for status %s", a, n, name, a.Status)
		}
		seen[a.Status] = true
	}

	// Restart the whole manager on the same data dir: the session comes back WORKING
	// without pairing.
	r.close()
	r = newRig(t, dir, sandboxCfg())
	defer r.close()
	r.next(event.SessionStatus, StateWorking)
	info, _ = r.m.Get(ctx, "acme", "main")
	if info.Status != StateWorking {
		t.Fatalf("after restart: %+v", info)
	}

	// Stop is remembered across restarts too.
	if info, _ := r.m.Stop(ctx, "acme", "main"); info.Status != StateStopped {
		t.Fatalf("stop: %+v", info)
	}
}

func TestPlanLimitNamesAndProviders(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	defer r.close()
	cases := []struct {
		name string
		in   CreateInput
		want error
	}{
		{"bad name", CreateInput{Name: "a/b"}, ErrInvalidName},
		{"empty name", CreateInput{Name: ""}, ErrInvalidName},
		{"unknown provider", CreateInput{Name: "x", Provider: "telegram"}, ErrUnknownProvider},
		{"bad config", CreateInput{Name: "x", Config: json.RawMessage(`{"nope":1}`)}, ErrInvalidConfig},
		{"first", CreateInput{Name: "one"}, nil},
		{"duplicate", CreateInput{Name: "one"}, ErrExists},
		{"second", CreateInput{Name: "two"}, nil},
	}
	for _, c := range cases {
		if _, err := r.m.Create(ctx, "acme", c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	var le *LimitError
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "three"}); !errors.As(err, &le) || le.Limit != 2 {
		t.Errorf("over plan: err = %v, want LimitError{2}", err)
	}
	// Other tenants cannot see or touch acme's sessions.
	if _, err := r.m.Get(ctx, "other", "one"); !errors.Is(err, ErrNotFound) {
		t.Errorf("other tenant Get: %v", err)
	}
	if list, _ := r.m.List(ctx, "other"); len(list) != 0 {
		t.Errorf("other tenant List: %v", list)
	}
	if err := r.m.Delete(ctx, "acme", "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "three"}); err != nil {
		t.Errorf("create after delete freed a slot: %v", err)
	}
}

func TestHangOnStopFailsWithinStopTimeout(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	defer r.close()
	r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true})
	r.next(event.SessionQR, "")
	r.net.Link("acme", "s", "")
	r.next(event.SessionStatus, StateWorking)
	if err := r.net.SetFaults("acme", "s", config.SandboxFaults{HangOnStop: true}); err != nil {
		t.Fatal(err)
	}
	info, err := r.m.Stop(ctx, "acme", "s")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != StateFailed || info.Reason != "stop_timeout" {
		t.Fatalf("stop of a hanging provider: %+v, want FAILED stop_timeout", info)
	}
	// The session is usable again: start works.
	r.net.SetFaults("acme", "s", config.SandboxFaults{})
	if info, err := r.m.Start(ctx, "acme", "s"); err != nil || !info.Status.running() {
		t.Fatalf("start after failed stop: %+v, %v", info, err)
	}
}

func TestProviderReportsMapToStates(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	defer r.close()
	r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true})
	r.next(event.SessionQR, "")
	r.net.Link("acme", "s", "")
	r.next(event.SessionStatus, StateWorking)

	r.net.SetFaults("acme", "s", config.SandboxFaults{TempBan: true})
	env := r.next(event.SessionStatus, StateFailed)
	var p StatusPayload
	json.Unmarshal(env.Payload, &p)
	if p.Reason != "temporary_ban" {
		t.Errorf("ban reason = %q", p.Reason)
	}
	r.net.SetFaults("acme", "s", config.SandboxFaults{LoggedOut: true})
	r.next(event.SessionStatus, StateLoggedOut)
	info, _ := r.m.Get(ctx, "acme", "s")
	if info.Me != nil {
		t.Errorf("logged out session keeps account %+v", info.Me)
	}
	// Inbound from another sandbox number arrives as a message event.
	r.net.SetFaults("acme", "s", config.SandboxFaults{})
}

func TestInboundBetweenSandboxNumbers(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	defer r.close()
	for _, n := range []string{"a", "b"} {
		r.m.Create(ctx, "acme", CreateInput{Name: n, Start: true})
		r.next(event.SessionQR, "")
	}
	r.net.Link("acme", "a", "15550000001")
	r.net.Link("acme", "b", "15550000002")
	for {
		a, _ := r.m.Get(ctx, "acme", "a")
		b, _ := r.m.Get(ctx, "acme", "b")
		if a.Status == StateWorking && b.Status == StateWorking {
			break
		}
		r.next(event.SessionStatus, StateWorking)
	}
	if _, err := r.m.Send(ctx, "acme", "a", provider.Outbound{ID: "m", ChatID: chatid.MustParse("15550000002"), Kind: provider.KindText, Text: "ping"}); err != nil {
		t.Fatal(err)
	}
	env := r.next(event.Message, "")
	var mp MessagePayload
	json.Unmarshal(env.Payload, &mp)
	if env.Session != "b" || mp.Body != "ping" || mp.From != "15550000001@c.us" {
		t.Fatalf("inbound = %s %+v", env.Session, mp)
	}
}

func TestDeleteLeavesNothingForANewSessionOfTheSameName(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	defer r.close()
	r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true})
	r.next(event.SessionQR, "")
	r.net.Link("acme", "s", "15550001234")
	r.next(event.SessionStatus, StateWorking)
	// Stop and logout hang: the provider cannot clean up after itself.
	r.net.SetFaults("acme", "s", config.SandboxFaults{HangOnStop: true})
	if err := r.m.Delete(ctx, "acme", "s"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := (sandbox.StoreLinks{DB: r.db}).LoadLink(ctx, "acme", "s"); ok {
		t.Fatal("the sandbox link of a deleted session survived")
	}
	info, err := r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true})
	if err != nil {
		t.Fatal(err)
	}
	r.next(event.SessionQR, "") // pairs again: nothing was inherited
	if f, _ := r.net.Faults("acme", "s"); f.HangOnStop {
		t.Errorf("new session inherited the faults of the deleted one: %+v (info %+v)", f, info)
	}
}

func TestLogoutOfStoppedSessionReportsOnce(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	defer r.close()
	r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: false})
	if _, err := r.m.Logout(ctx, "acme", "s"); err != nil {
		t.Fatal(err)
	}
	r.m.Create(ctx, "acme", CreateInput{Name: "marker", Start: false}) // a later event to stop at
	n := 0
	for {
		env := <-r.sub.C()
		if env.Session == "marker" {
			break
		}
		var p StatusPayload
		json.Unmarshal(env.Payload, &p)
		if env.Event == event.SessionStatus && p.Status == StateLoggedOut {
			n++
		}
	}
	if n != 1 {
		t.Errorf("LOGGED_OUT published %d times, want 1", n)
	}
}

func TestRestoreWithoutStartLeavesNoPhantomRunningSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRig(t, dir, sandboxCfg())
	r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true})
	r.next(event.SessionQR, "")
	r.net.Link("acme", "s", "")
	r.next(event.SessionStatus, StateWorking)
	// Simulate a crash: close the store without stopping sessions.
	r.net.Close()
	r.db.Close()

	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := NewManager(db, event.NewBus(event.Options{}), Options{DefaultProvider: "sandbox", StopTimeout: time.Second},
		sandbox.NewNetwork(sandboxCfg(), sandbox.StoreLinks{DB: db}))
	if err := m.Restore(ctx, false); err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	info, _ := m.Get(ctx, "acme", "s")
	if info.Status != StateStopped {
		t.Fatalf("after restore without start: %s, want STOPPED", info.Status)
	}
	if _, err := m.Send(ctx, "acme", "s", provider.Outbound{ID: "x", ChatID: chatid.MustParse("15551234567"), Kind: provider.KindText, Text: "x"}); !errors.As(err, new(*NotWorkingError)) {
		t.Errorf("send through a restored-but-stopped session: %v", err)
	}
}

func TestNothingRunsOnASessionDeletedWhileWaiting(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	defer r.close()
	r.m.Create(ctx, "acme", CreateInput{Name: "s", Start: true})
	r.next(event.SessionQR, "")
	r.net.SetFaults("acme", "s", config.SandboxFaults{HangOnStop: true}) // Delete holds the session ~2 stop timeouts

	deleted := make(chan error)
	go func() { deleted <- r.m.Delete(ctx, "acme", "s") }()
	// Wait until Delete holds the session, then queue a Start and a second Delete behind it.
	l, _ := r.m.lookup("acme", "s")
	for len(l.ops) == 0 {
		time.Sleep(time.Millisecond) // polling a channel's length; bounded by Delete's own timeouts
	}
	started := make(chan error)
	go func() { _, err := r.m.Start(ctx, "acme", "s"); started <- err }()
	again := make(chan error)
	go func() { again <- r.m.Delete(ctx, "acme", "s") }()
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if err := <-started; !errors.Is(err, ErrNotFound) {
		t.Errorf("Start queued behind Delete: %v, want ErrNotFound", err)
	}
	if err := <-again; !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	if _, err := r.m.Get(ctx, "acme", "s"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after delete: %v", err)
	}
}

func TestInfoRedactsSecrets(t *testing.T) {
	got := string(redactConfig(json.RawMessage(`{"phoneNumberId":"106","accessToken":"EAAJ","nested":{"appSecret":"s","n":1},"verifyToken":"v","faults":{"temp_ban":true}}`)))
	for _, leaked := range []string{"EAAJ", `"s"`, `"v"`} {
		if strings.Contains(got, leaked) {
			t.Fatalf("secret %s shown: %s", leaked, got)
		}
	}
	if !strings.Contains(got, `"phoneNumberId":"106"`) || !strings.Contains(got, `"temp_ban":true`) {
		t.Fatalf("non-secret fields lost: %s", got)
	}
	if same := `{"faults":{}}`; string(redactConfig(json.RawMessage(same))) != same {
		t.Fatal("a config without secrets was rewritten")
	}
}

// TestCreateFirstStatus: a session created to start tells STARTING first, never a
// STOPPED before it; one created without start tells STOPPED.
func TestCreateFirstStatus(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, t.TempDir(), sandboxCfg())
	first := func(name string) State {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case env := <-r.sub.C():
				if env.Event != event.SessionStatus || env.Session != name {
					continue
				}
				var p StatusPayload
				json.Unmarshal(env.Payload, &p)
				return p.Status
			case <-deadline:
				t.Fatalf("no session.status of %s within 5s", name)
			}
		}
	}
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "started", Start: true}); err != nil {
		t.Fatal(err)
	}
	if got := first("started"); got != StateStarting {
		t.Errorf("first status of a session created to start: %s, want STARTING", got)
	}
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "idle"}); err != nil {
		t.Fatal(err)
	}
	if got := first("idle"); got != StateStopped {
		t.Errorf("first status of a session created stopped: %s, want STOPPED", got)
	}
}
