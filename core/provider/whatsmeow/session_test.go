package whatsmeow

import (
	"errors"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

func TestPairingByQR(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	if err := r.p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusPairing, "")
	c := r.client()
	if c.called("GetQRChannel") != 1 || c.called("ConnectContext") != 1 {
		t.Fatalf("calls = %v, want GetQRChannel then ConnectContext", c.calls)
	}
	if _, err := r.p.RequestPairingCode(ctx, "15551230000"); !errors.Is(err, provider.ErrNotPairing) {
		t.Errorf("pairing code before the first QR code: %v, want ErrNotPairing", err)
	}

	before := time.Now()
	c.qr <- wm.QRChannelItem{Event: wm.QRChannelEventCode, Code: "2@first", Timeout: 60 * time.Second}
	c.qr <- wm.QRChannelItem{Event: wm.QRChannelEventCode, Code: "2@second", Timeout: 20 * time.Second}
	for _, want := range []struct {
		code string
		d    time.Duration
	}{{"2@first", 60 * time.Second}, {"2@second", 20 * time.Second}} {
		qr, ok := r.next().(provider.QREvent)
		if !ok || qr.Code != want.code {
			t.Fatalf("event = %#v, want QR %s", qr, want.code)
		}
		if exp := qr.ExpiresAt.Sub(before); exp < want.d || exp > want.d+5*time.Second {
			t.Errorf("QR %s expires in %v, want about %v", want.code, exp, want.d)
		}
	}

	c.pairCode = "ABCD-EFGH"
	if code, err := r.p.RequestPairingCode(ctx, "+1 555 123 0000"); err != nil || code != "ABCD-EFGH" {
		t.Fatalf("pairing code = %q, %v", code, err)
	}
	c.pairErr = wm.ErrPhoneNumberTooShort
	if _, err := r.p.RequestPairingCode(ctx, "123"); !errors.Is(err, ErrInvalidPhone) {
		t.Errorf("short phone: %v, want ErrInvalidPhone", err)
	}

	c.emit(&events.PairSuccess{ID: types.NewADJID(mePN.User, 0, 9), BusinessName: "Acme", Platform: "android"})
	c.qr <- wm.QRChannelSuccess
	close(c.qr)
	ev := r.status(provider.StatusConnecting, reasonPaired)
	if ev.Me == nil || ev.Me.ID != chatid.MustParse("15551230000") {
		t.Fatalf("paired: Me = %+v", ev.Me)
	}
	c.emit(&events.Connected{})
	ev = r.status(provider.StatusWorking, "")
	if ev.Me == nil || ev.Me.ID.String() != "15551230000@c.us" {
		t.Fatalf("working: Me = %+v", ev.Me)
	}
	if _, err := r.p.RequestPairingCode(ctx, "15551230000"); !errors.Is(err, provider.ErrNotPairing) {
		t.Errorf("pairing code once paired: %v, want ErrNotPairing", err)
	}
	r.quiet() // "success" reports nothing more
}

func TestQRTimeoutThenStartAgain(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	if err := r.p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusPairing, "")
	c := r.client()
	c.qr <- wm.QRChannelItem{Event: wm.QRChannelEventCode, Code: "2@a", Timeout: time.Second}
	r.next()
	c.qr <- wm.QRChannelTimeout
	close(c.qr)
	r.status(provider.StatusFailed, reasonQRTimeout)
	// whatsmeow's own Disconnected after the timeout changes nothing.
	c.emit(&events.Disconnected{})
	r.quiet()

	if err := r.p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r.clientCount() != 2 {
		t.Fatalf("Start after qr_timeout built %d clients, want a new one", r.clientCount())
	}
	if c.called("Disconnect") == 0 || c.called("RemoveEventHandlers") == 0 || c.handlerCount() != 0 {
		t.Errorf("old client not torn down: %v", c.calls)
	}
	r.status(provider.StatusPairing, "")
}

func TestQRChannelErrors(t *testing.T) {
	cases := []struct {
		name   string
		item   wm.QRChannelItem
		event  any // the connection event whatsmeow emits alongside, reported once
		reason string
	}{
		{"client outdated", wm.QRChannelClientOutdated, &events.ClientOutdated{}, reasonClientOutdated},
		{"pair error", wm.QRChannelItem{Event: wm.QRChannelEventError, Error: wm.ErrPairInvalidDeviceSignature},
			&events.PairError{Error: wm.ErrPairInvalidDeviceSignature}, reasonPairError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if err := r.p.Start(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			r.status(provider.StatusPairing, "")
			c := r.client()
			c.emit(tc.event)
			c.qr <- tc.item
			r.status(provider.StatusFailed, tc.reason)
			r.quiet()
		})
	}
}

func TestScannedWithoutMultideviceKeepsPairing(t *testing.T) {
	r := newRig(t)
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusPairing, "")
	c := r.client()
	c.qr <- wm.QRChannelScannedWithoutMultidevice
	c.qr <- wm.QRChannelItem{Event: wm.QRChannelEventCode, Code: "2@again", Timeout: time.Second}
	if qr, ok := r.next().(provider.QREvent); !ok || qr.Code != "2@again" {
		t.Fatalf("event = %#v, want the next QR code", qr)
	}
}

func TestResumeStoredDevice(t *testing.T) {
	r := newRig(t)
	r.pair()
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusConnecting, "")
	c := r.client()
	if c.called("GetQRChannel") != 0 {
		t.Error("a linked device asked for QR codes")
	}
	if c.device.ID == nil || c.device.ID.User != mePN.User {
		t.Fatalf("client got device %v, want the stored one", c.device.ID)
	}
	if _, err := r.p.RequestPairingCode(ctxT(t), "15551230000"); !errors.Is(err, provider.ErrNotPairing) {
		t.Errorf("pairing code of a linked device: %v", err)
	}
	c.emit(&events.Connected{})
	ev := r.status(provider.StatusWorking, "")
	if ev.Me == nil || ev.Me.ID.String() != "15551230000@c.us" || ev.Me.PushName != "Acme Support" {
		t.Fatalf("Me = %+v", ev.Me)
	}
	// Start on a running session does nothing.
	if err := r.p.Start(ctxT(t)); err != nil || r.clientCount() != 1 {
		t.Fatalf("second Start: %v, %d clients", err, r.clientCount())
	}
}

func TestStopKeepsDeviceAndStartResumes(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	h := c.handler()
	if err := r.p.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusStopped, "")
	if c.called("Disconnect") == 0 || c.handlerCount() != 0 {
		t.Errorf("Stop did not disconnect and unregister: %v", c.calls)
	}
	if r.devices() != 1 {
		t.Fatalf("Stop deleted the device")
	}
	// A message whatsmeow still hands over after Stop is left unacknowledged.
	if h(textMessage("late", alicePN, "hi")) {
		t.Error("a message after Stop was accepted")
	}
	if _, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText, Text: "x"}); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("send after Stop: %v", err)
	}
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusConnecting, "")
	if r.client() == c || r.client().called("GetQRChannel") != 0 {
		t.Fatal("Start after Stop did not resume with a new client and the stored device")
	}
}

func TestLogoutDeletesDevice(t *testing.T) {
	for _, tc := range []struct {
		name      string
		logoutErr error
	}{{"whatsapp told", nil}, {"whatsapp unreachable", wm.ErrIQTimedOut}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			c := r.startPaired()
			c.logoutErr = tc.logoutErr
			if err := r.p.Logout(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			r.status(provider.StatusLoggedOut, reasonLogout)
			if c.called("Logout") != 1 {
				t.Errorf("Logout calls = %d, want 1", c.called("Logout"))
			}
			if n := r.devices(); n != 0 {
				t.Fatalf("%d devices left after Logout", n)
			}
			if err := r.p.Logout(ctxT(t)); err != nil {
				t.Fatalf("second Logout: %v", err)
			}
			r.status(provider.StatusLoggedOut, reasonLogout)
			// The next Start pairs again.
			if err := r.p.Start(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			r.status(provider.StatusPairing, "")
		})
	}
}

func TestLogoutWithoutRunDeletesDevice(t *testing.T) {
	r := newRig(t)
	r.pair()
	if err := r.p.Logout(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if r.devices() != 0 || r.clientCount() != 0 {
		t.Fatalf("devices %d, clients %d; want the device deleted without connecting", r.devices(), r.clientCount())
	}
}

func TestStopLogoutSafeAfterFailedStart(t *testing.T) {
	r := newRig(t, func(r *rig) {
		r.prepare = func(c *fakeClient) { c.connectErr = errors.New("dial tcp: connection refused") }
	})
	r.pair()
	if err := r.p.Start(ctxT(t)); err == nil {
		t.Fatal("Start succeeded with a failing connect")
	}
	c := r.client()
	for i := 0; i < 2; i++ {
		if err := r.p.Stop(ctxT(t)); err != nil {
			t.Fatalf("Stop #%d after failed Start: %v", i+1, err)
		}
	}
	waitFor(t, "the failed run torn down", func() bool { return c.called("Disconnect") > 0 })
	if r.devices() != 1 {
		t.Fatal("a failed Start lost the device")
	}
	for i := 0; i < 2; i++ {
		if err := r.p.Logout(ctxT(t)); err != nil {
			t.Fatalf("Logout #%d after failed Start: %v", i+1, err)
		}
	}
	if r.devices() != 0 {
		t.Fatal("Logout after a failed Start kept the device")
	}
}

func TestStopBeforeStart(t *testing.T) {
	r := newRig(t)
	for i := 0; i < 2; i++ {
		if err := r.p.Stop(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ev := <-r.events:
		t.Fatalf("Stop of a stopped provider reported %#v", ev)
	default:
	}
}

func TestClose(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	r.p.Close()
	waitFor(t, "Close to disconnect", func() bool { return c.called("Disconnect") > 0 })
	if err := r.p.Start(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if _, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText}); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

// TestHealthEvents drives a WORKING session through each of whatsmeow's connection
// events and checks the status reported.
func TestHealthEvents(t *testing.T) {
	cases := []struct {
		name   string
		events []any
		want   []provider.StatusEvent // in order; nil Me not checked
		ended  bool                   // the run ended for good
	}{
		{"disconnected then reconnected", []any{&events.Disconnected{}, &events.Connected{}},
			[]provider.StatusEvent{{Status: provider.StatusConnecting, Reason: reasonDisconnected}, {Status: provider.StatusWorking}}, false},
		{"keepalive timeout once, then restored", []any{
			&events.KeepAliveTimeout{ErrorCount: 1}, &events.KeepAliveTimeout{ErrorCount: 2}, &events.KeepAliveRestored{}},
			[]provider.StatusEvent{{Status: provider.StatusConnecting, Reason: reasonKeepAliveTimeout}, {Status: provider.StatusWorking}}, false},
		{"keepalive restored without timeout", []any{&events.KeepAliveRestored{}}, nil, false},
		{"stream error", []any{&events.StreamError{Code: "999"}},
			[]provider.StatusEvent{{Status: provider.StatusConnecting, Reason: reasonStreamError}}, false},
		{"push name", []any{&events.PushNameSetting{Action: &waSyncAction.PushNameSetting{Name: proto.String("New Name")}}},
			[]provider.StatusEvent{{Status: provider.StatusWorking}}, false},
		{"logged out from phone", []any{&events.LoggedOut{Reason: events.ConnectFailureLoggedOut}},
			[]provider.StatusEvent{{Status: provider.StatusLoggedOut, Reason: reasonLoggedOutFromPhone}}, true},
		{"main device gone", []any{&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureMainDeviceGone}},
			[]provider.StatusEvent{{Status: provider.StatusLoggedOut, Reason: reasonMainDeviceGone}}, true},
		{"stream replaced", []any{&events.StreamReplaced{}, &events.Disconnected{}},
			[]provider.StatusEvent{{Status: provider.StatusFailed, Reason: reasonStreamReplaced}}, true},
		{"client outdated", []any{&events.ClientOutdated{}},
			[]provider.StatusEvent{{Status: provider.StatusFailed, Reason: reasonClientOutdated}}, true},
		{"connect failure", []any{&events.ConnectFailure{Reason: events.ConnectFailureBadUserAgent}},
			[]provider.StatusEvent{{Status: provider.StatusFailed, Reason: reasonConnectFailure}}, true},
		{"cat refresh error", []any{&events.CATRefreshError{Error: errors.New("x")}},
			[]provider.StatusEvent{{Status: provider.StatusFailed, Reason: reasonCATRefresh}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			c := r.startPaired()
			for _, ev := range tc.events {
				if !c.emit(ev) {
					t.Fatalf("handler refused %T", ev)
				}
			}
			for _, want := range tc.want {
				got := r.status(want.Status, want.Reason)
				if got.Status == provider.StatusWorking && (got.Me == nil || got.Me.ID.String() != "15551230000@c.us") {
					t.Errorf("WORKING without the account: %+v", got.Me)
				}
				if tc.name == "push name" && got.Me.PushName != "New Name" {
					t.Errorf("push name = %q", got.Me.PushName)
				}
			}
			r.quiet()
			run, _ := r.p.current()
			r.p.mu.Lock()
			ended := run.ended
			r.p.mu.Unlock()
			if ended != tc.ended {
				t.Errorf("run ended = %v, want %v", ended, tc.ended)
			}
			if tc.ended {
				waitFor(t, "the client disconnected", func() bool { return c.called("Disconnect") > 0 })
			}
		})
	}
}

func TestLoggedOutFromPhone(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	c.emit(&events.LoggedOut{Reason: events.ConnectFailureLoggedOut})
	r.status(provider.StatusLoggedOut, reasonLoggedOutFromPhone)
	if r.devices() != 0 {
		t.Fatal("device kept after the phone unlinked it")
	}
	_, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText, Text: "x"})
	if !errors.Is(err, provider.ErrLoggedOut) || provider.Retryable(err) || !isCode(err, CodeLoggedOut, false) {
		t.Errorf("send after unlink: %v", err)
	}
	// A new Start pairs again.
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusPairing, "")
}

func TestTemporaryBanRefusesSends(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	c.emit(&events.TemporaryBan{Code: events.TempBanBlockedByUsers})
	if ev, ok := r.next().(provider.RestrictionEvent); !ok || !ev.Active || !ev.Until.IsZero() {
		t.Errorf("ban without expiry: %#v, want a restriction without end", ev)
	}
	r.status(provider.StatusFailed, reasonTempBan)
	_, err := r.p.Send(ctxT(t), provider.Outbound{ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText, Text: "x"})
	if !errors.Is(err, provider.ErrBanned) || !isCode(err, CodeBanned, false) {
		t.Errorf("send while banned: %v", err)
	}
	if c.called("SendMessage") != 0 {
		t.Error("a banned session reached SendMessage")
	}
}

func TestDisconnectWhilePairingIsNotReported(t *testing.T) {
	r := newRig(t)
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusPairing, "")
	c := r.client()
	c.emit(&events.Disconnected{})
	c.emit(&events.KeepAliveTimeout{})
	r.quiet()
}

func TestValidateConfig(t *testing.T) {
	f := NewFactory(newRig(t).cfg, nil)
	for _, good := range []string{"", "null", "{}", " { } "} {
		if err := f.ValidateConfig([]byte(good)); err != nil {
			t.Errorf("ValidateConfig(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{`{"proxy":"x"}`, `[1]`, `"x"`, `{`, `{} {}`} {
		if err := f.ValidateConfig([]byte(bad)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ValidateConfig(%q) = %v, want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := f.New(provider.Spec{Tenant: "a", Session: "b", Config: []byte(`{"x":1}`)}, func(provider.Event) {}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New with a bad config: %v", err)
	}
	if _, err := f.New(provider.Spec{Tenant: "a/b", Session: "c"}, func(provider.Event) {}); err == nil {
		t.Error("New accepted a tenant with a slash")
	}
	if f.Name() != "whatsmeow" {
		t.Errorf("Name = %q", f.Name())
	}
}

// waitFor polls cond until it holds, failing after 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStopDeliversQueuedEvents: what was accepted before Stop (acknowledged to WhatsApp)
// is still reported, before STOPPED.
func TestStopDeliversQueuedEvents(t *testing.T) {
	gate := make(chan struct{})
	stuck := make(chan struct{}, 1)
	r := newRig(t, func(r *rig) {
		r.sinkHook = func(ev provider.Event) {
			if m, ok := ev.(provider.MessageEvent); ok && m.Message.Text == "first" {
				stuck <- struct{}{}
				<-gate
			}
		}
	})
	c := r.startPaired()
	c.emit(textMessage("1", alicePN, "first"))
	<-stuck
	c.emit(textMessage("2", alicePN, "second"))
	stopped := make(chan error, 1)
	go func() { stopped <- r.p.Stop(ctxT(t)) }()
	waitFor(t, "Stop to disconnect", func() bool { return c.called("Disconnect") > 0 })
	close(gate)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"first", "second"} {
		if ev, ok := r.next().(provider.MessageEvent); !ok || ev.Message.Text != want {
			t.Fatalf("event = %#v, want message %q", ev, want)
		}
	}
	r.status(provider.StatusStopped, "")
}

func TestNewClientAndDeviceProps(t *testing.T) {
	r := newRig(t)
	c := r.p.container.NewDevice()
	cli, ok := NewClient(c, nil).(*wm.Client)
	if !ok || !cli.SynchronousAck || !cli.EnableDecryptedEventBuffer || !cli.ManualHistorySyncDownload || !cli.EnableAutoReconnect ||
		!cli.EmitAppStateEventsOnFullSync {
		t.Fatalf("NewClient = %T %+v", cli, cli)
	}
	r.startPaired()
	if os := wmstore.DeviceProps.GetOs(); os != "wagate" {
		t.Errorf("device props os = %q, want wagate", os)
	}
}
