package goplugin

import (
	"context"
	"encoding/json"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// NewServer returns the policy service serving p: it converts the wire messages to the
// SDK's types and back, recovers a hook's panic (reported as a panic, the process lives
// on) and flattens errors to status codes (see errors.go). Serve uses it; it is exported
// for hosts of the contract other than go-plugin's (a test, a custom server).
func NewServer(p Plugin) policypb.PolicyServer {
	s := &server{impl: p, hooks: Hooks(p)}
	s.route, _ = p.(RouteHook)
	s.failover, _ = p.(FailoverHook)
	s.rate, _ = p.(RateHook)
	s.transform, _ = p.(TransformHook)
	return s
}

type server struct {
	policypb.UnimplementedPolicyServer
	impl      Plugin
	hooks     []policypb.Hook
	route     RouteHook
	failover  FailoverHook
	rate      RateHook
	transform TransformHook
}

func (s *server) Info(context.Context, *policypb.InfoRequest) (*policypb.InfoResponse, error) {
	return &policypb.InfoResponse{AbiVersion: ABIVersion, Hooks: s.hooks}, nil
}

func (s *server) Configure(ctx context.Context, req *policypb.ConfigureRequest) (_ *policypb.ConfigureResponse, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = recovered(v)
		}
	}()
	cfg := json.RawMessage(req.Config)
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	if err := s.impl.Configure(ctx, cfg); err != nil {
		return nil, statusOf(err)
	}
	return &policypb.ConfigureResponse{}, nil
}

func unimplemented(hook string) error {
	return status.Errorf(codes.Unimplemented, "the plugin has no %s hook", hook)
}

func (s *server) Route(ctx context.Context, req *policypb.RouteRequest) (_ *policypb.RouteResponse, err error) {
	if s.route == nil {
		return nil, unimplemented("route")
	}
	defer func() {
		if v := recover(); v != nil {
			err = recovered(v)
		}
	}()
	d, err := s.route.Route(ctx, RouteInput{Now: fromMillis(req.NowMs), Message: message(req.Message),
		Candidates: candidates(req.Candidates)})
	if err != nil {
		return nil, statusOf(err)
	}
	return &policypb.RouteResponse{Session: d.Session}, nil
}

func (s *server) Failover(ctx context.Context, req *policypb.FailoverRequest) (_ *policypb.FailoverResponse, err error) {
	if s.failover == nil {
		return nil, unimplemented("failover")
	}
	defer func() {
		if v := recover(); v != nil {
			err = recovered(v)
		}
	}()
	d, err := s.failover.Failover(ctx, FailoverInput{Now: fromMillis(req.NowMs), Message: message(req.Message),
		Session: candidate(req.Session), Error: sendError(req.Error), Attempt: int(req.Attempt),
		Candidates: candidates(req.Candidates)})
	if err != nil {
		return nil, statusOf(err)
	}
	return &policypb.FailoverResponse{Action: policypb.FailoverAction(d.Action), DelayMs: d.Delay.Milliseconds(),
		Session: d.Session, Reason: d.Reason}, nil
}

func (s *server) Rate(ctx context.Context, req *policypb.RateRequest) (_ *policypb.RateResponse, err error) {
	if s.rate == nil {
		return nil, unimplemented("rate")
	}
	defer func() {
		if v := recover(); v != nil {
			err = recovered(v)
		}
	}()
	d, err := s.rate.Rate(ctx, RateInput{Now: fromMillis(req.NowMs), Message: message(req.Message),
		Session: candidate(req.Session)})
	if err != nil {
		return nil, statusOf(err)
	}
	return &policypb.RateResponse{Action: policypb.RateAction(d.Action), DelayMs: d.Delay.Milliseconds(), Reason: d.Reason}, nil
}

func (s *server) Transform(ctx context.Context, req *policypb.TransformRequest) (_ *policypb.TransformResponse, err error) {
	if s.transform == nil {
		return nil, unimplemented("transform")
	}
	defer func() {
		if v := recover(); v != nil {
			err = recovered(v)
		}
	}()
	r, err := s.transform.Transform(ctx, TransformInput{Now: fromMillis(req.NowMs), Event: event(req.Event)})
	if err != nil {
		return nil, statusOf(err)
	}
	if r.Drop {
		return &policypb.TransformResponse{Drop: true}, nil
	}
	return &policypb.TransformResponse{Event: eventPB(&r.Event)}, nil
}
