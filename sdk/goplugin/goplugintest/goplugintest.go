// Package goplugintest serves a go-plugin policy in process, for its author's tests: no
// binary to build, the same gRPC contract and host-side checks as in the gateway.
//
//	func TestRouter(t *testing.T) {
//		p := goplugintest.Serve(t, &Router{})
//		d, err := p.(policy.RouteHook).Route(ctx, policy.RouteInput{...})
//		...
//	}
//
// It imports the gateway's policy packages (the plugin as the gateway sees it is a
// policy.Plugin); a plugin's binary, which imports sdk/goplugin only, does not link
// them.
package goplugintest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/wagate/wagate/core/policy"
	host "github.com/wagate/wagate/core/policy/goplugin"
	sdk "github.com/wagate/wagate/sdk/goplugin"
	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// CallTimeout is the deadline of a call made with a context that has none. The
// gateway's budget is 20ms; tests check behaviour, not speed, so this one is generous.
const CallTimeout = 5 * time.Second

// Serve serves impl over go-plugin's in-process gRPC connection and returns it as the
// gateway sees it: Info checked and configured with "{}". It is closed when the test
// ends. A failure to serve or configure fails the test.
func Serve(t testing.TB, impl sdk.Plugin) policy.Plugin {
	t.Helper()
	p, err := Open(t, impl, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Open is Serve with a configuration (nil is "{}"), returning the error of policy.Open:
// a configuration the plugin refuses matches policy.ErrBadConfig.
func Open(t testing.TB, impl sdk.Plugin, config json.RawMessage) (policy.Plugin, error) {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{Impl: impl}})
	stop := func() {
		// The server first: closing the client first would have go-plugin's controller
		// stop the server too, concurrently with this Stop.
		server.Stop()
		_ = client.Close()
	}
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		stop()
		t.Fatalf("goplugintest: dispensing the policy service: %v", err)
	}
	rt, err := host.New(host.Options{CallTimeout: CallTimeout, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	p, err := policy.Open(context.Background(), attached{rt: rt, rpc: raw.(policypb.PolicyClient), close: stop},
		policy.Spec{Tenant: "test", Name: "plugin", Config: config})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, nil
}

// attached is the runtime of one in-process service.
type attached struct {
	rt    *host.Runtime
	rpc   policypb.PolicyClient
	close func()
}

func (attached) Name() string { return "goplugin" }

func (a attached) Load(ctx context.Context, spec policy.Spec) (policy.Plugin, error) {
	p, err := a.rt.Attach(ctx, a.rpc, spec, a.close)
	if err != nil {
		a.close()
		return nil, err
	}
	return p, nil
}
