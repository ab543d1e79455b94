package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// TestVector is a call an upload must answer as expected before it is stored. Input is
// the hook's input as JSON (the fields of policy.RouteInput, FailoverInput, RateInput
// or TransformInput; names are matched case-insensitively), Want the expected answer,
// compared on the fields it lists:
//
//	route:     {"session": "s1"}
//	failover:  {"action": "retry|reroute|fail|no_opinion", "delay": "2s", "session": "...", "reason": "..."}
//	rate:      {"action": "allow|delay|reject|no_opinion", "delay": "500ms", "reason": "..."}
//	transform: {"drop": false, "event": {...}}
type TestVector struct {
	Name  string          `json:"name,omitempty"`
	Hook  string          `json:"hook"`
	Input json.RawMessage `json:"input"`
	Want  json.RawMessage `json:"want"`
}

// Call runs one hook of p on a JSON input and returns its answer in the TestVector
// form. It is what test vectors and `wagate policy test` use.
func Call(ctx context.Context, p policy.Plugin, hook string, input json.RawMessage) (map[string]any, error) {
	bad := func(err error) error { return fmt.Errorf("%w: input of %s: %v", ErrInvalid, hook, err) }
	switch hook {
	case "route":
		h, ok := p.(policy.RouteHook)
		var in policy.RouteInput
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, bad(err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: no route hook", ErrInvalid)
		}
		d, err := h.Route(ctx, in)
		return map[string]any{"session": d.Session}, err
	case "failover":
		h, ok := p.(policy.FailoverHook)
		var in policy.FailoverInput
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, bad(err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: no failover hook", ErrInvalid)
		}
		d, err := h.Failover(ctx, in)
		return map[string]any{"action": d.Action.String(), "delay": d.Delay.String(), "session": d.Session, "reason": d.Reason}, err
	case "rate":
		h, ok := p.(policy.RateHook)
		var in policy.RateInput
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, bad(err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: no rate hook", ErrInvalid)
		}
		d, err := h.Rate(ctx, in)
		return map[string]any{"action": d.Action.String(), "delay": d.Delay.String(), "reason": d.Reason}, err
	case "transform":
		h, ok := p.(policy.TransformHook)
		var in policy.TransformInput
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, bad(err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: no transform hook", ErrInvalid)
		}
		r, err := h.Transform(ctx, in)
		var ev any
		b, _ := json.Marshal(r.Event)
		json.Unmarshal(b, &ev)
		return map[string]any{"drop": r.Drop, "event": ev}, err
	}
	return nil, fmt.Errorf("%w: unknown hook %q (route, failover, rate, transform)", ErrInvalid, hook)
}

// runTests runs every vector; the first that fails refuses the upload.
func runTests(ctx context.Context, p policy.Plugin, tests []TestVector) error {
	for i, tv := range tests {
		name := tv.Name
		if name == "" {
			name = fmt.Sprintf("tests[%d]", i)
		}
		got, err := Call(ctx, p, tv.Hook, tv.Input)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrTestFailed, name, err)
		}
		var want map[string]any
		if err := json.Unmarshal(tv.Want, &want); err != nil {
			return fmt.Errorf("%w: %s: want must be a JSON object: %v", ErrInvalid, name, err)
		}
		for k, w := range want {
			g := got[k]
			if k == "delay" {
				if ws, ok := w.(string); ok {
					if d, err := time.ParseDuration(ws); err == nil {
						w = d.String()
					}
				}
			}
			if !reflect.DeepEqual(normalize(g), normalize(w)) {
				return fmt.Errorf("%w: %s: %s = %v, want %v", ErrTestFailed, name, k, g, w)
			}
		}
	}
	return nil
}

// normalize makes JSON-equal values compare equal (numbers as float64).
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}
