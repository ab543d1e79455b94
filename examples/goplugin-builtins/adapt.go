package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/sdk/goplugin"
)

// builtin returns the built-in registered under name, adapted to sdk/goplugin.
func builtin(name string, builtins map[string]policy.Factory) (goplugin.Plugin, error) {
	f, ok := builtins[name]
	if !ok {
		names := make([]string, 0, len(builtins))
		for n := range builtins {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("WAGATE_BUILTIN=%q: not a built-in (%s)", name, strings.Join(names, ", "))
	}
	return adapt(f(policy.Spec{Tenant: "goplugin", Name: name}))
}

// adapt wraps a native plugin implementing one hook as an sdk/goplugin plugin with that
// hook (a plugin's hooks are the interfaces its type implements, hence one type per
// hook; the built-ins implement one each).
func adapt(p policy.Plugin) (goplugin.Plugin, error) {
	b := base{p}
	switch h := p.Info().Hooks; h {
	case policy.HooksOf(policy.HookRoute):
		return router{b, p.(policy.RouteHook)}, nil
	case policy.HooksOf(policy.HookFailover):
		return failover{b, p.(policy.FailoverHook)}, nil
	case policy.HooksOf(policy.HookRate):
		return rater{b, p.(policy.RateHook)}, nil
	case policy.HooksOf(policy.HookTransform):
		return transformer{b, p.(policy.TransformHook)}, nil
	default:
		return nil, fmt.Errorf("a plugin with hooks %s: only single-hook plugins are adapted", h)
	}
}

type base struct{ p policy.Plugin }

// Configure passes the configuration on; a refusal crosses as goplugin.ErrBadConfig.
func (b base) Configure(ctx context.Context, raw json.RawMessage) error {
	err := b.p.Configure(ctx, raw)
	if errors.Is(err, policy.ErrBadConfig) {
		return fmt.Errorf("%w: %v", goplugin.ErrBadConfig, err)
	}
	return err
}

type router struct {
	base
	h policy.RouteHook
}

func (r router) Route(ctx context.Context, in goplugin.RouteInput) (goplugin.RouteDecision, error) {
	d, err := r.h.Route(ctx, policy.RouteInput{Now: in.Now, Message: message(in.Message), Candidates: candidates(in.Candidates)})
	return goplugin.RouteDecision{Session: d.Session}, err
}

type failover struct {
	base
	h policy.FailoverHook
}

func (f failover) Failover(ctx context.Context, in goplugin.FailoverInput) (goplugin.FailoverDecision, error) {
	d, err := f.h.Failover(ctx, policy.FailoverInput{Now: in.Now, Message: message(in.Message), Session: candidate(in.Session),
		Error: policy.Error(in.Error), Attempt: in.Attempt, Candidates: candidates(in.Candidates)})
	return goplugin.FailoverDecision{Action: goplugin.FailoverAction(d.Action), Delay: d.Delay, Session: d.Session, Reason: d.Reason}, err
}

type rater struct {
	base
	h policy.RateHook
}

func (r rater) Rate(ctx context.Context, in goplugin.RateInput) (goplugin.RateDecision, error) {
	d, err := r.h.Rate(ctx, policy.RateInput{Now: in.Now, Message: message(in.Message), Session: candidate(in.Session)})
	return goplugin.RateDecision{Action: goplugin.RateAction(d.Action), Delay: d.Delay, Reason: d.Reason}, err
}

type transformer struct {
	base
	h policy.TransformHook
}

func (t transformer) Transform(ctx context.Context, in goplugin.TransformInput) (goplugin.TransformResult, error) {
	e := in.Event
	env := event.Envelope{ID: e.ID, Timestamp: e.Timestamp, Event: e.Event, Session: e.Session, Tenant: e.Tenant,
		Payload: e.Payload, Engine: e.Engine, Metadata: e.Metadata}
	if e.Me != nil {
		env.Me = &event.Me{ID: e.Me.ID, PushName: e.Me.PushName}
	}
	if e.Environment != nil {
		env.Environment = &event.Environment{Version: e.Environment.Version, Engine: e.Environment.Engine, Tier: e.Environment.Tier}
	}
	r, err := t.h.Transform(ctx, policy.TransformInput{Now: in.Now, Event: env})
	o := r.Event
	return goplugin.TransformResult{Drop: r.Drop, Event: goplugin.Event{ID: o.ID, Timestamp: o.Timestamp,
		Event: o.Event, Session: o.Session, Tenant: o.Tenant, Payload: o.Payload}}, err
}

// The SDK's message has core/policy's fields, in the same order.
func message(m goplugin.Message) policy.Message { return policy.Message(m) }

// candidate copies the fields ABI version 1 carries; the pacing fields core/policy
// added since (LastInbound, ChatSentHour, ...) stay zero, as a go-plugin sees them.
func candidate(c goplugin.Candidate) policy.Candidate {
	return policy.Candidate{Session: c.Session, Provider: c.Provider, State: c.State, QueueDepth: c.QueueDepth,
		SentMinute: c.SentMinute, SentHour: c.SentHour, SentDay: c.SentDay,
		LinkedAt: c.LinkedAt, LastContact: c.LastContact, LastSentAt: c.LastSentAt}
}

func candidates(cs []goplugin.Candidate) []policy.Candidate {
	out := make([]policy.Candidate, len(cs))
	for i := range cs {
		out[i] = candidate(cs[i])
	}
	return out
}
