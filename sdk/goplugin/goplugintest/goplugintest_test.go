package goplugintest_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
	sdk "github.com/wagate/wagate/sdk/goplugin"
	"github.com/wagate/wagate/sdk/goplugin/goplugintest"
)

type rule struct{ mode string }

func (r *rule) Configure(_ context.Context, raw json.RawMessage) error {
	var c struct {
		Mode string `json:"mode"`
	}
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return err
	}
	r.mode = c.Mode
	return nil
}

func (r *rule) Rate(ctx context.Context, in sdk.RateInput) (sdk.RateDecision, error) {
	switch r.mode {
	case "panic":
		panic("rate panicked")
	case "slow":
		<-ctx.Done()
		return sdk.RateDecision{}, ctx.Err()
	}
	return sdk.RateDecision{Action: sdk.RateDelay, Delay: in.Now.Sub(in.Session.LastSentAt)}, nil
}

func TestServe(t *testing.T) {
	p := goplugintest.Serve(t, &rule{})
	if info := p.Info(); info.Hooks != policy.HooksOf(policy.HookRate) || info.ABIVersion != policy.ABIVersion {
		t.Fatalf("info %+v", info)
	}
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	d, err := p.(policy.RateHook).Rate(context.Background(), policy.RateInput{Now: now,
		Session: policy.Candidate{Session: "s", LastSentAt: now.Add(-2 * time.Second)}})
	if want := (policy.RateDecision{Action: policy.RateDelay, Delay: 2 * time.Second}); err != nil || d != want {
		t.Fatalf("got %+v, %v; want %+v", d, err, want)
	}
	if _, ok := p.(policy.RouteHook); !ok {
		t.Fatal("the host's plugin implements every hook interface")
	}
	if _, err := p.(policy.RouteHook).Route(context.Background(), policy.RouteInput{}); !errors.Is(err, policy.ErrNotImplemented) {
		t.Errorf("route: got %v, want ErrNotImplemented", err)
	}
}

// What the gateway would see of a failing plugin: the same errors as from a binary.
func TestOpenErrors(t *testing.T) {
	if _, err := goplugintest.Open(t, &rule{}, []byte(`{"mod":"x"}`)); !errors.Is(err, policy.ErrBadConfig) {
		t.Errorf("bad config: got %v", err)
	}
	p, err := goplugintest.Open(t, &rule{}, []byte(`{"mode":"panic"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.(policy.RateHook).Rate(context.Background(), policy.RateInput{}); !errors.Is(err, policy.ErrPanic) {
		t.Errorf("panic: got %v", err)
	}
	p, err = goplugintest.Open(t, &rule{}, []byte(`{"mode":"slow"}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.(policy.RateHook).Rate(ctx, policy.RateInput{}); !errors.Is(err, policy.ErrTimeout) {
		t.Errorf("slow: got %v", err)
	}
}
