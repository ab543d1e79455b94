// Package goplugin is the SDK of wagate's go-plugin policies: out-of-process Go binaries
// that implement any of the four policy hooks (route, failover, rate, transform) and
// that the gateway starts, talks to over gRPC (hashicorp/go-plugin) and restarts when
// they crash. docs/plugins.md ("go-plugin") is the full contract.
//
// A plugin is a value implementing Plugin (Configure) and one or more of RouteHook,
// FailoverHook, RateHook and TransformHook; its main hands it to Serve:
//
//	type router struct{}
//
//	func (router) Configure(ctx context.Context, config json.RawMessage) error {
//		return goplugin.DecodeConfig(config, &struct{}{})
//	}
//
//	func (router) Route(ctx context.Context, in goplugin.RouteInput) (goplugin.RouteDecision, error) {
//		return goplugin.RouteDecision{Session: in.Candidates[0].Session}, nil
//	}
//
//	func main() { goplugin.Serve(router{}) }
//
// The hooks a plugin implements are the hooks it reports (Info): there is nothing to
// declare. Hook methods are called concurrently, each with a context whose deadline is
// the binding's budget (20ms by default): honour it. Configure is called once per
// process, before any hook, and again with the same configuration when the gateway
// restarts a crashed process.
//
// The package imports neither the gateway nor its dependencies: only go-plugin, gRPC and
// the generated contract (policypb). Test a plugin without building a binary with
// sdk/goplugin/goplugintest.
package goplugin

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// ABIVersion is the version of the policy contract this SDK implements: the gateway's
// policy.ABIVersion. It is the go-plugin protocol version of the handshake, and what Info
// reports; a gateway with another version refuses the plugin at start.
const ABIVersion = 1

// PluginName is the name the policy service is dispensed under in go-plugin's plugin set.
const PluginName = "policy"

// Handshake is the go-plugin handshake of wagate policy plugins. The gateway starts a
// plugin with the magic cookie in its environment; a binary started without it (by hand)
// prints a notice and exits. ProtocolVersion is ABIVersion: a gateway and a plugin of
// different contract versions fail the handshake with go-plugin's "incompatible API
// version" error.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ABIVersion,
	MagicCookieKey:   "WAGATE_POLICY_PLUGIN",
	MagicCookieValue: "b7d1e0f4c2a94e6f9c0d3a5b8e7f1c2d",
}

// Plugin is what a plugin binary serves: Configure, plus any non-empty subset of the
// hook interfaces (RouteHook, FailoverHook, RateHook, TransformHook). Hooks are found by
// type assertion; a value implementing none is refused by Serve.
type Plugin interface {
	// Configure receives the binding's configuration, a JSON object ("{}" when there is
	// none), once per process and before any hook call. Return an error wrapping
	// ErrBadConfig to refuse it (DecodeConfig does); the gateway then refuses the
	// binding.
	Configure(ctx context.Context, config json.RawMessage) error
}

// RouteHook picks the session that sends a message among candidates.
type RouteHook interface {
	// Route returns a candidate's session, or the zero RouteDecision for no opinion. A
	// session that is not among in.Candidates is a bad output.
	Route(ctx context.Context, in RouteInput) (RouteDecision, error)
}

// FailoverHook decides what happens to a message whose send failed.
type FailoverHook interface {
	Failover(ctx context.Context, in FailoverInput) (FailoverDecision, error)
}

// RateHook decides whether a session may send a message now.
type RateHook interface {
	Rate(ctx context.Context, in RateInput) (RateDecision, error)
}

// TransformHook rewrites or drops an event before it is delivered to webhooks.
type TransformHook interface {
	Transform(ctx context.Context, in TransformInput) (TransformResult, error)
}

// Hooks returns the hooks p implements, in ABI order.
func Hooks(p Plugin) []policypb.Hook {
	var hs []policypb.Hook
	if _, ok := p.(RouteHook); ok {
		hs = append(hs, policypb.Hook_HOOK_ROUTE)
	}
	if _, ok := p.(FailoverHook); ok {
		hs = append(hs, policypb.Hook_HOOK_FAILOVER)
	}
	if _, ok := p.(RateHook); ok {
		hs = append(hs, policypb.Hook_HOOK_RATE)
	}
	if _, ok := p.(TransformHook); ok {
		hs = append(hs, policypb.Hook_HOOK_TRANSFORM)
	}
	return hs
}

// GRPCPlugin is the go-plugin glue, shared by both sides: in a plugin (Impl set) it
// registers the policy service; in the gateway (Impl nil) it returns the service's
// client, a policypb.PolicyClient.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin served; nil on the gateway's side.
	Impl Plugin
}

// GRPCServer registers Impl's policy service on s.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	policypb.RegisterPolicyServer(s, NewServer(p.Impl))
	return nil
}

// GRPCClient returns a policypb.PolicyClient on c.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return policypb.NewPolicyClient(c), nil
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)
