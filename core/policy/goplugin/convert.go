package goplugin

import (
	"fmt"
	"math"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// Conversions between core/policy's values and the wire's. Times are Unix milliseconds
// (0 for the zero time), counts are clamped to u32: the same as the WASM ABI, so that a
// rule answers the same in every runtime.

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func u32(v int) uint32 {
	if v < 0 {
		return 0
	}
	if uint64(v) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

func messagePB(m *policy.Message) *policypb.Message {
	return &policypb.Message{Id: m.ID, Tenant: m.Tenant, Session: m.Session, ChatId: m.ChatID, Kind: m.Kind,
		Text: m.Text, Attempts: u32(m.Attempts), CreatedMs: millis(m.CreatedAt)}
}

func candidatePB(c *policy.Candidate, dst *policypb.Candidate) {
	dst.Session, dst.Provider, dst.State = c.Session, c.Provider, c.State
	dst.QueueDepth, dst.SentMinute, dst.SentHour, dst.SentDay = u32(c.QueueDepth), u32(c.SentMinute), u32(c.SentHour), u32(c.SentDay)
	dst.LinkedMs, dst.LastContactMs, dst.LastSentMs = millis(c.LinkedAt), millis(c.LastContact), millis(c.LastSentAt)
}

// candidatesPB converts cs with two allocations, whatever their number.
func candidatesPB(cs []policy.Candidate) []*policypb.Candidate {
	if len(cs) == 0 {
		return nil
	}
	vals := make([]policypb.Candidate, len(cs))
	out := make([]*policypb.Candidate, len(cs))
	for i := range cs {
		candidatePB(&cs[i], &vals[i])
		out[i] = &vals[i]
	}
	return out
}

func routeRequest(in *policy.RouteInput) *policypb.RouteRequest {
	return &policypb.RouteRequest{NowMs: millis(in.Now), Message: messagePB(&in.Message), Candidates: candidatesPB(in.Candidates)}
}

func failoverRequest(in *policy.FailoverInput) *policypb.FailoverRequest {
	s := &policypb.Candidate{}
	candidatePB(&in.Session, s)
	return &policypb.FailoverRequest{NowMs: millis(in.Now), Message: messagePB(&in.Message), Session: s,
		Error:   &policypb.Error{Code: in.Error.Code, Message: in.Error.Message, Retryable: in.Error.Retryable},
		Attempt: u32(in.Attempt), Candidates: candidatesPB(in.Candidates)}
}

func rateRequest(in *policy.RateInput) *policypb.RateRequest {
	s := &policypb.Candidate{}
	candidatePB(&in.Session, s)
	return &policypb.RateRequest{NowMs: millis(in.Now), Message: messagePB(&in.Message), Session: s}
}

func transformRequest(in *policy.TransformInput) *policypb.TransformRequest {
	e := &in.Event
	pe := &policypb.Event{Id: e.ID, Timestamp: e.Timestamp, Event: e.Event, Session: e.Session, Tenant: e.Tenant,
		Payload: e.Payload, Engine: e.Engine, Metadata: e.Metadata}
	if me := e.Me; me != nil {
		pe.Me = &policypb.Me{Id: me.ID, PushName: me.PushName}
	}
	if env := e.Environment; env != nil {
		pe.Environment = &policypb.Environment{Version: env.Version, Engine: env.Engine, Tier: env.Tier}
	}
	return &policypb.TransformRequest{NowMs: millis(in.Now), Event: pe}
}

// delay converts a wire delay, refusing what does not fit the contract's range (the
// chain checks the range again, with its lower bound per hook).
func delay(ms int64) (time.Duration, error) {
	if ms < 0 || ms > int64(policy.MaxDelay/time.Millisecond) {
		return 0, fmt.Errorf("%w: delay of %dms (0 to %dms)", policy.ErrBadOutput, ms, policy.MaxDelay/time.Millisecond)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// action checks a wire enum value before it is narrowed to the contract's u8 (the
// chain refuses the unknown values that fit).
func action(v int32) (uint8, error) {
	if v < 0 || v > math.MaxUint8 {
		return 0, fmt.Errorf("%w: action %d", policy.ErrBadOutput, v)
	}
	return uint8(v), nil
}

func failoverDecision(r *policypb.FailoverResponse) (policy.FailoverDecision, error) {
	a, err := action(int32(r.Action))
	if err != nil {
		return policy.FailoverDecision{}, err
	}
	d, err := delay(r.DelayMs)
	if err != nil {
		return policy.FailoverDecision{}, err
	}
	return policy.FailoverDecision{Action: policy.FailoverAction(a), Delay: d, Session: r.Session, Reason: r.Reason}, nil
}

func rateDecision(r *policypb.RateResponse) (policy.RateDecision, error) {
	a, err := action(int32(r.Action))
	if err != nil {
		return policy.RateDecision{}, err
	}
	d, err := delay(r.DelayMs)
	if err != nil {
		return policy.RateDecision{}, err
	}
	return policy.RateDecision{Action: policy.RateAction(a), Delay: d, Reason: r.Reason}, nil
}

func transformResult(r *policypb.TransformResponse) (policy.TransformResult, error) {
	if r.Drop {
		return policy.Drop(), nil
	}
	e := r.Event
	if e == nil {
		return policy.TransformResult{}, fmt.Errorf("%w: transform kept no event (neither drop nor event)", policy.ErrBadOutput)
	}
	return policy.TransformResult{Event: event.Envelope{ID: e.Id, Timestamp: e.Timestamp, Event: e.Event,
		Session: e.Session, Tenant: e.Tenant, Payload: e.Payload}}, nil
}
