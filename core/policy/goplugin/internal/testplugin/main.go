// Command testplugin is the go-plugin policy the host's tests run: well-behaved by
// default, hostile on demand. The message text of a route call picks a behaviour; the
// environment (Binary.Env) picks how the process starts:
//
//	text "crash"          the process exits (os.Exit) mid-call
//	text "crash-goroutine" a goroutine panics mid-call: the process dies
//	text "panic"          the hook panics (the SDK recovers it; the process lives)
//	text "hang"           the hook blocks for good, ignoring its deadline
//	text "error"          the hook returns an error
//	text "not-candidate"  the hook names a session that is not a candidate
//	text "log"            the hook logs through goplugin.Logger and on stderr
//	anything else         the candidate with the shortest queue (least-loaded)
//
//	TESTPLUGIN_MODE=wire        the service answers route with bytes that do not decode,
//	                            rate with an action out of range, transform with neither
//	                            drop nor event
//	TESTPLUGIN_MODE=abi2        Info reports ABI version 2
//	TESTPLUGIN_MODE=exit        the process exits before the handshake
//	TESTPLUGIN_MODE=handshake2  the process speaks protocol version 2
//	TESTPLUGIN_SLEEPER=1        the process only sleeps (a child the plugin starts)
//
// Configure accepts {"fail": true} (refused), {"child_pid_file": path} (starts a child
// in its process group and writes its pid there) and {"transform_drop": bool}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	sdk "github.com/wagate/wagate/sdk/goplugin"
	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

type config struct {
	Fail          bool   `json:"fail"`
	ChildPIDFile  string `json:"child_pid_file"`
	TransformDrop bool   `json:"transform_drop"`
}

type testPlugin struct {
	cfg config
	log *slog.Logger
}

func (p *testPlugin) Configure(_ context.Context, raw json.RawMessage) error {
	if err := sdk.DecodeConfig(raw, &p.cfg); err != nil {
		return err
	}
	if p.cfg.Fail {
		return fmt.Errorf("%w: asked to fail", sdk.ErrBadConfig)
	}
	if p.cfg.ChildPIDFile != "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cmd := exec.Command(self)
		cmd.Env = []string{"TESTPLUGIN_SLEEPER=1"}
		if err := cmd.Start(); err != nil {
			return err
		}
		if err := os.WriteFile(p.cfg.ChildPIDFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (p *testPlugin) Route(ctx context.Context, in sdk.RouteInput) (sdk.RouteDecision, error) {
	switch in.Message.Text {
	case "crash":
		p.log.Error("testplugin: crashing on purpose")
		os.Exit(3)
	case "crash-goroutine":
		go func() { panic("testplugin: goroutine panic") }()
		select {}
	case "panic":
		panic("testplugin: hook panic")
	case "hang":
		select {}
	case "error":
		return sdk.RouteDecision{}, errors.New("testplugin: asked to fail")
	case "not-candidate":
		return sdk.RouteDecision{Session: "nobody"}, nil
	case "log":
		p.log.Warn("structured line", "chat", in.Message.ChatID)
		fmt.Fprintln(os.Stderr, "plain stderr line")
	}
	best := 0
	for i, c := range in.Candidates {
		if c.QueueDepth < in.Candidates[best].QueueDepth {
			best = i
		}
	}
	return sdk.RouteDecision{Session: in.Candidates[best].Session}, nil
}

func (p *testPlugin) Failover(_ context.Context, in sdk.FailoverInput) (sdk.FailoverDecision, error) {
	switch in.Error.Code {
	case "bad-action":
		return sdk.FailoverDecision{Action: 9}, nil
	case "retry":
		return sdk.FailoverDecision{Action: sdk.FailoverRetry, Delay: time.Duration(in.Attempt) * time.Second}, nil
	}
	return sdk.FailoverDecision{Action: sdk.FailoverFail, Reason: in.Error.Code + "/" + in.Session.Session}, nil
}

func (p *testPlugin) Rate(_ context.Context, in sdk.RateInput) (sdk.RateDecision, error) {
	if in.Session.SentMinute >= 10 {
		return sdk.RateDecision{Action: sdk.RateDelay, Delay: in.Now.Sub(in.Session.LastSentAt)}, nil
	}
	return sdk.RateDecision{Action: sdk.RateAllow}, nil
}

func (p *testPlugin) Transform(_ context.Context, in sdk.TransformInput) (sdk.TransformResult, error) {
	if p.cfg.TransformDrop {
		return sdk.Drop(), nil
	}
	ev := in.Event
	ev.Event += ".seen"
	ev.Payload = json.RawMessage(`{"wrapped":` + string(ev.Payload) + `}`)
	return sdk.Keep(ev), nil
}

// abi2 serves the test plugin but reports another contract version.
type abi2 struct {
	plugin.NetRPCUnsupportedPlugin
	p *testPlugin
}

type abi2Server struct{ policypb.PolicyServer }

func (s abi2Server) Info(ctx context.Context, req *policypb.InfoRequest) (*policypb.InfoResponse, error) {
	r, err := s.PolicyServer.Info(ctx, req)
	if err == nil {
		r.AbiVersion = 2
	}
	return r, err
}

func (a abi2) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	policypb.RegisterPolicyServer(s, abi2Server{sdk.NewServer(a.p)})
	return nil
}

func (abi2) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server only")
}

// wirePlugin serves a route answer of the wrong message type.
type wirePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (wirePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	desc := policypb.Policy_ServiceDesc
	desc.HandlerType = (*any)(nil)
	methods := append([]grpc.MethodDesc(nil), desc.Methods...)
	for i := range methods {
		switch methods[i].MethodName {
		case "Info":
			methods[i].Handler = func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
				return &policypb.InfoResponse{AbiVersion: sdk.ABIVersion, Hooks: []policypb.Hook{
					policypb.Hook_HOOK_ROUTE, policypb.Hook_HOOK_RATE, policypb.Hook_HOOK_TRANSFORM}}, nil
			}
		case "Configure":
			methods[i].Handler = func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
				return &policypb.ConfigureResponse{}, nil
			}
		case "Route":
			// Field 1 of RouteResponse is a string: these bytes are not UTF-8.
			methods[i].Handler = func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
				return &policypb.ConfigureRequest{Config: []byte{0xff, 0xfe, 0xfd}}, nil
			}
		case "Rate":
			methods[i].Handler = func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
				return &policypb.RateResponse{Action: 300}, nil
			}
		case "Transform":
			methods[i].Handler = func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
				return &policypb.TransformResponse{}, nil
			}
		}
	}
	desc.Methods = methods
	s.RegisterService(&desc, struct{}{})
	return nil
}

func (wirePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server only")
}

func main() {
	if os.Getenv("TESTPLUGIN_SLEEPER") != "" {
		select {}
	}
	p := &testPlugin{log: sdk.Logger(slog.LevelDebug)}
	switch os.Getenv("TESTPLUGIN_MODE") {
	case "exit":
		fmt.Fprintln(os.Stderr, "testplugin: exiting before the handshake")
		os.Exit(2)
	case "abi2":
		cfg := sdk.ServeConfig(p)
		cfg.Plugins = plugin.PluginSet{sdk.PluginName: abi2{p: p}}
		plugin.Serve(cfg)
		return
	case "handshake2":
		cfg := sdk.ServeConfig(p)
		cfg.ProtocolVersion = 2
		plugin.Serve(cfg)
		return
	case "wire":
		cfg := sdk.ServeConfig(p)
		cfg.Plugins = plugin.PluginSet{sdk.PluginName: wirePlugin{}}
		plugin.Serve(cfg)
		return
	}
	sdk.Serve(p)
}
