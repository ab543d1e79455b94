package session

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/store"
)

// hookFactory builds hookProviders: WORKING at Start, and every webhook body is one
// inbound text message from 15550001111 whose text is the body.
type hookFactory struct{}

func (hookFactory) Name() string { return "hooks" }

func (hookFactory) New(spec provider.Spec, sink provider.Sink) (provider.Provider, error) {
	return &hookProvider{sink: sink}, nil
}

type hookProvider struct{ sink provider.Sink }

func (p *hookProvider) Start(context.Context) error {
	p.sink(provider.StatusEvent{Status: provider.StatusWorking, Me: &provider.Account{ID: chatid.MustParse("15559990000")}})
	return nil
}
func (p *hookProvider) Stop(context.Context) error   { return nil }
func (p *hookProvider) Logout(context.Context) error { return nil }
func (p *hookProvider) Send(context.Context, provider.Outbound) (provider.SendResult, error) {
	return provider.SendResult{}, provider.ErrUnsupported
}
func (p *hookProvider) RequestPairingCode(context.Context, string) (string, error) {
	return "", provider.ErrUnsupported
}

var errBadBody = errors.New("bad body")

func (p *hookProvider) HandleWebhook(ctx context.Context, body []byte) error {
	if string(body) == "bad" {
		return errBadBody
	}
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("no deadline")
	}
	from := chatid.MustParse("15550001111")
	p.sink(provider.MessageEvent{Message: provider.Inbound{ProviderID: "wamid.1", ChatID: from, From: from,
		Kind: provider.KindText, Text: string(body), Timestamp: time.Unix(1700000000, 0)}})
	return nil
}

var _ provider.WebhookReceiver = (*hookProvider)(nil)

func TestHandleWebhookRoutesToTheRunningProvider(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bus := event.NewBus(event.Options{Buffer: 64})
	defer bus.Close()
	sub, _ := bus.Subscribe(event.Filter{Tenant: "acme"})
	net := sandbox.NewNetwork(sandboxCfg(), nil)
	defer net.Close()
	m := NewManager(db, bus, Options{StartTimeout: time.Second, StopTimeout: time.Second, SendTimeout: time.Second,
		DefaultProvider: "hooks"}, hookFactory{}, net)
	defer m.Close(ctx)
	if err := m.Restore(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, "acme", CreateInput{Name: "cloud"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, "acme", CreateInput{Name: "web", Provider: "sandbox", Start: true}); err != nil {
		t.Fatal(err)
	}

	// Stopped: no provider to take it.
	var nw *NotWorkingError
	if err := m.HandleWebhook(ctx, "acme", "cloud", []byte("hi")); !errors.As(err, &nw) || nw.State != StateStopped {
		t.Fatalf("stopped session: err = %v, want NotWorkingError STOPPED", err)
	}
	if _, err := m.Start(ctx, "acme", "cloud"); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleWebhook(ctx, "acme", "cloud", []byte("hello from meta")); err != nil {
		t.Fatalf("running session: %v", err)
	}
	deadline := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case env := <-sub.C():
			if env.Event != event.Message {
				continue
			}
			var p MessagePayload
			json.Unmarshal(env.Payload, &p)
			if env.Session != "cloud" || p.Body != "hello from meta" || p.ID != "wamid.1" || p.From != "15550001111@c.us" {
				t.Fatalf("message event %s %+v", env.Session, p)
			}
			got = true
		case <-deadline:
			t.Fatal("no message event within 5s")
		}
	}
	if err := m.HandleWebhook(ctx, "acme", "cloud", []byte("bad")); !errors.Is(err, errBadBody) {
		t.Errorf("provider error: got %v, want it passed through", err)
	}

	cases := []struct {
		name, tenant, session string
		want                  error
	}{
		{"provider without webhooks", "acme", "web", ErrNoWebhooks},
		{"unknown session", "acme", "nope", ErrNotFound},
		{"another tenant's session", "other", "cloud", ErrNotFound},
	}
	for _, c := range cases {
		if err := m.HandleWebhook(ctx, c.tenant, c.session, []byte("x")); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}

	// Stopped again: refused, the provider is not called.
	if _, err := m.Stop(ctx, "acme", "cloud"); err != nil {
		t.Fatal(err)
	}
	if err := m.HandleWebhook(ctx, "acme", "cloud", []byte("late")); !errors.As(err, &nw) {
		t.Errorf("after stop: err = %v, want NotWorkingError", err)
	}
}
