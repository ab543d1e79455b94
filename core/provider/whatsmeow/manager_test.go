package whatsmeow

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	sess "github.com/wagate/wagate/core/session"
)

// TestSessionManager runs the real session manager over the whatsmeow provider, with a
// fake whatsmeow client: create and pair by QR code and pairing code, send and get the
// acks with the gateway's message id, receive, lose the number to a ban, restart, log
// out, delete.
func TestSessionManager(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	bus := event.NewBus(event.Options{Buffer: 1024})
	defer bus.Close()
	sub, err := bus.Subscribe(event.Filter{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	m := sess.NewManager(r.db, bus, sess.Options{
		StartTimeout: 2 * time.Second, StopTimeout: time.Second, SendTimeout: 2 * time.Second,
		DefaultProvider: "sandbox",
	}, r.f)
	defer m.Close(context.Background())
	if err := m.Restore(ctx, true); err != nil {
		t.Fatal(err)
	}
	next := func(name string, status sess.State) event.Envelope {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case env := <-sub.C():
				if env.Event != name {
					continue
				}
				if name == event.SessionStatus {
					var p sess.StatusPayload
					json.Unmarshal(env.Payload, &p)
					if p.Status != status {
						continue
					}
				}
				return env
			case <-deadline:
				t.Fatalf("no %s %s within 5s", name, status)
			}
		}
	}

	if _, err := m.Create(ctx, tenant, sess.CreateInput{Name: session, Provider: "whatsmeow", Config: json.RawMessage(`{"proxy":"x"}`)}); err == nil {
		t.Fatal("a session config with unknown fields was accepted")
	}
	if _, err := m.Create(ctx, tenant, sess.CreateInput{Name: session, Provider: "whatsmeow", Start: true}); err != nil {
		t.Fatal(err)
	}
	next(event.SessionStatus, sess.StateScanQR)
	c := r.client()
	c.qr <- wm.QRChannelItem{Event: wm.QRChannelEventCode, Code: "2@scan-me", Timeout: time.Minute}
	next(event.SessionQR, "")
	if qr, err := m.QR(ctx, tenant, session); err != nil || qr.Code != "2@scan-me" {
		t.Fatalf("QR = %+v, %v", qr, err)
	}
	c.mu.Lock()
	c.pairCode = "WXYZ-1234"
	c.mu.Unlock()
	if code, err := m.RequestCode(ctx, tenant, session, "15551230000"); err != nil || code != "WXYZ-1234" {
		t.Fatalf("RequestCode = %q, %v", code, err)
	}

	c.emit(&events.PairSuccess{ID: types.NewADJID(mePN.User, 0, 3)})
	c.qr <- wm.QRChannelSuccess
	next(event.SessionStatus, sess.StateStarting)
	c.emit(&events.Connected{})
	next(event.SessionStatus, sess.StateWorking)
	info, _ := m.Get(ctx, tenant, session)
	if info.Me == nil || info.Me.ID.String() != "15551230000@c.us" {
		t.Fatalf("info after pairing = %+v", info)
	}

	res, err := m.Send(ctx, tenant, session, provider.Outbound{ID: "msg_1", ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText, Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderID != messageID(provider.Spec{Tenant: tenant, Session: session}, "msg_1") {
		t.Errorf("provider id %q", res.ProviderID)
	}
	next(event.MessageAck, "") // sent
	c.emit(&events.Receipt{MessageSource: types.MessageSource{Chat: alicePN, Sender: alicePN}, MessageIDs: []string{res.ProviderID}, Type: types.ReceiptTypeRead})
	var ack sess.AckPayload
	json.Unmarshal(next(event.MessageAck, "").Payload, &ack)
	if ack.ID != "msg_1" || ack.Status != string(provider.AckRead) || ack.Ack != sess.AckRead || ack.ChatID != "15551230001@c.us" {
		t.Errorf("ack = %+v", ack)
	}

	c.emit(&events.Message{Info: dm("in_1"), Message: &waE2E.Message{Conversation: proto.String("hi back")}})
	var msg sess.MessagePayload
	json.Unmarshal(next(event.Message, "").Payload, &msg)
	if msg.ID != "in_1" || msg.Body != "hi back" || msg.From != "15551230001@c.us" || msg.Type != provider.KindText {
		t.Errorf("message = %+v", msg)
	}

	c.emit(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople})
	env := next(event.SessionStatus, sess.StateFailed)
	var st sess.StatusPayload
	json.Unmarshal(env.Payload, &st)
	if st.Reason != reasonTempBan {
		t.Errorf("reason = %q", st.Reason)
	}

	// Start again: a new connection resumes the stored device, no QR code.
	if _, err := m.Start(ctx, tenant, session); err != nil {
		t.Fatal(err)
	}
	next(event.SessionStatus, sess.StateStarting)
	c2 := r.client()
	if c2 == c || c2.called("GetQRChannel") != 0 {
		t.Fatal("restart after a ban did not resume the stored device on a new client")
	}
	c2.emit(&events.Connected{})
	next(event.SessionStatus, sess.StateWorking)

	if _, err := m.Logout(ctx, tenant, session); err != nil {
		t.Fatal(err)
	}
	next(event.SessionStatus, sess.StateLoggedOut)
	if c2.called("Logout") != 1 || r.devices() != 0 {
		t.Fatalf("logout: unlink calls %d, devices %d", c2.called("Logout"), r.devices())
	}
	if err := m.Delete(ctx, tenant, session); err != nil {
		t.Fatal(err)
	}
}
