package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/wagate/wagate/core/provider"
)

func TestSandboxCallRejected(t *testing.T) {
	ctx := context.Background()
	f, s, rec := groupFixture(t)
	call, err := f.net.Call("tenant-15550000002", "s", aliceID, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := takeKind[provider.CallReceived](t, rec[1]); got.CallData != call {
		t.Fatalf("call.received %+v, want %+v", got, call)
	}
	if err := s[1].RejectCall(ctx, carolID, call.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("rejecting with another caller: %v", err)
	}
	if err := s[2].RejectCall(ctx, aliceID, call.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("rejected by a number not called: %v", err)
	}
	if err := s[1].RejectCall(ctx, aliceID, call.ID); err != nil {
		t.Fatal(err)
	}
	takeKind[provider.CallRejected](t, rec[1])
	if got := takeKind[provider.CallRejected](t, rec[0]); got.ID != call.ID {
		t.Errorf("the caller's call.rejected %+v", got)
	}
	if err := s[1].RejectCall(ctx, aliceID, call.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("rejected twice: %v", err)
	}
}
