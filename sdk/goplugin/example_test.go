package goplugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/wagate/wagate/sdk/goplugin"
	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// LeastLoaded is a route policy: the candidate with the shortest queue.
type LeastLoaded struct{}

func (LeastLoaded) Configure(_ context.Context, raw json.RawMessage) error {
	return goplugin.DecodeConfig(raw, &struct{}{})
}

func (LeastLoaded) Route(_ context.Context, in goplugin.RouteInput) (goplugin.RouteDecision, error) {
	best := 0
	for i, c := range in.Candidates {
		if c.QueueDepth < in.Candidates[best].QueueDepth {
			best = i
		}
	}
	return goplugin.RouteDecision{Session: in.Candidates[best].Session}, nil
}

// A plugin's main is one call. (Not run here: Serve takes the process over, and exits
// when the binary is started by hand rather than by the gateway.)
func ExampleServe() {
	goplugin.Serve(LeastLoaded{})
}

// The hooks a plugin reports are the hook interfaces it implements.
func ExampleHooks() {
	fmt.Println(goplugin.Hooks(LeastLoaded{}))
	// Output: [HOOK_ROUTE]
}

// Configure usually decodes strictly: an unknown field refuses the binding.
func ExampleDecodeConfig() {
	var cfg struct {
		Weights map[string]int `json:"weights"`
	}
	err := goplugin.DecodeConfig(json.RawMessage(`{"weights":{"s1":3}}`), &cfg)
	fmt.Println(cfg.Weights["s1"], err)
	err = goplugin.DecodeConfig(json.RawMessage(`{"wieghts":{}}`), &cfg)
	fmt.Println(errors.Is(err, goplugin.ErrBadConfig))
	// Output:
	// 3 <nil>
	// true
}

// NewServer is the policy service Serve registers: the wire contract in front of a
// plugin. Calling it directly shows what crosses the process boundary.
func ExampleNewServer() {
	srv := goplugin.NewServer(LeastLoaded{})
	info, _ := srv.Info(context.Background(), &policypb.InfoRequest{})
	fmt.Println("abi", info.AbiVersion, info.Hooks)
	resp, _ := srv.Route(context.Background(), &policypb.RouteRequest{
		NowMs:   1767323045678,
		Message: &policypb.Message{Id: "m1", Tenant: "acme", ChatId: "15551230000@c.us"},
		Candidates: []*policypb.Candidate{
			{Session: "s1", QueueDepth: 3},
			{Session: "s2", QueueDepth: 0},
		},
	})
	fmt.Println("route:", resp.Session)
	_, err := srv.Rate(context.Background(), &policypb.RateRequest{})
	fmt.Println(err)
	// Output:
	// abi 1 [HOOK_ROUTE]
	// route: s2
	// rpc error: code = Unimplemented desc = the plugin has no rate hook
}

// Logger writes records the gateway logs with their level and attributes, under the
// tenant and policy of the binding.
func ExampleLogger() {
	log := goplugin.Logger(slog.LevelInfo)
	log.Warn("no route for the country", "prefix", "44")
}

// Keep passes an event on (possibly changed); Drop stops its delivery.
func ExampleKeep() {
	ev := goplugin.Event{ID: "evt_1", Event: "message", Tenant: "acme", Payload: json.RawMessage(`{"body":"hi"}`)}
	ev.Payload = json.RawMessage(`{"body":"[hidden]"}`)
	r := goplugin.Keep(ev)
	fmt.Println(r.Drop, string(r.Event.Payload), goplugin.Drop().Drop)
	// Output: false {"body":"[hidden]"} true
}
