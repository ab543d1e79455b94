package session

import (
	"context"
	"errors"
	"testing"

	"github.com/wagate/wagate/core/provider"
)

// lacking is a capability no provider has.
type lacking interface {
	NoSuchOperation(context.Context) error
}

func TestCall(t *testing.T) {
	r := newClockRig(t, t.TempDir(), nil)
	defer r.close()
	ctx := context.Background()

	if err := Do(ctx, r.m, "acme", "main", provider.CapPresence, func(ctx context.Context, p provider.Pinger) error { return p.Ping(ctx) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown session: %v; want ErrNotFound", err)
	}
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "main", Start: true}); err != nil {
		t.Fatal(err)
	}
	r.status("main", 0, is(StateScanQR, ""))
	var nw *NotWorkingError
	if err := Do(ctx, r.m, "acme", "main", "ping", func(ctx context.Context, p provider.Pinger) error { return p.Ping(ctx) }); !errors.As(err, &nw) || nw.State != StateScanQR {
		t.Fatalf("pairing session: %v; want NotWorkingError SCAN_QR_CODE", err)
	}
	if _, err := r.net.Link("acme", "main", "15550001111"); err != nil {
		t.Fatal(err)
	}
	r.status("main", 0, is(StateWorking, ""))

	called := false
	if err := Do(ctx, r.m, "acme", "main", "ping", func(ctx context.Context, p provider.Pinger) error {
		called = true
		return p.Ping(ctx)
	}); err != nil || !called {
		t.Fatalf("supported capability: %v (called %v)", err, called)
	}
	if err := Do(ctx, r.m, "other", "main", "ping", func(ctx context.Context, p provider.Pinger) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's session: %v; want ErrNotFound", err)
	}

	var un *UnsupportedError
	err := Do(ctx, r.m, "acme", "main", provider.CapGroups, func(ctx context.Context, c lacking) error {
		t.Fatal("called a capability the provider lacks")
		return nil
	})
	if !errors.As(err, &un) || un.Provider != "sandbox" || un.Capability != provider.CapGroups || un.Session != "main" || !errors.Is(err, provider.ErrUnsupported) {
		t.Fatalf("lacking capability: %#v; want UnsupportedError sandbox/groups", err)
	}

	// One operation refused by the provider is unsupported too, with its reason kept.
	refusal := errors.New("no archive here")
	_, err = Call(ctx, r.m, "acme", "main", provider.CapChats, func(ctx context.Context, p provider.Pinger) (int, error) {
		return 0, errors.Join(refusal, provider.ErrUnsupported)
	})
	if !errors.As(err, &un) || un.Err == nil || !errors.Is(un.Err, refusal) {
		t.Fatalf("refused operation: %#v", err)
	}
	// Other errors pass as they are.
	_, err = Call(ctx, r.m, "acme", "main", provider.CapChats, func(ctx context.Context, p provider.Pinger) (int, error) {
		return 0, provider.ErrNotFound
	})
	if !errors.Is(err, provider.ErrNotFound) || errors.As(err, &un) {
		t.Fatalf("provider error: %v", err)
	}
}

func TestSupports(t *testing.T) {
	r := newClockRig(t, t.TempDir(), nil)
	defer r.close()
	ctx := context.Background()
	if err := Supports[provider.Stories](r.m, "acme", "main", provider.CapStatus); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown session: %v; want ErrNotFound", err)
	}
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "main"}); err != nil {
		t.Fatal(err)
	}
	if err := Supports[lacking](r.m, "acme", "main", "lacking"); err != nil {
		t.Fatalf("a session not running passes: %v", err)
	}
	if _, err := r.m.Start(ctx, "acme", "main"); err != nil {
		t.Fatal(err)
	}
	r.status("main", 0, is(StateScanQR, ""))
	if err := Supports[provider.Stories](r.m, "acme", "main", provider.CapStatus); err != nil {
		t.Fatalf("sandbox has stories: %v", err)
	}
	var un *UnsupportedError
	if err := Supports[lacking](r.m, "acme", "main", "lacking"); !errors.As(err, &un) || un.Provider != "sandbox" || un.Capability != "lacking" {
		t.Fatalf("lacking capability: %v; want UnsupportedError", err)
	}
}
