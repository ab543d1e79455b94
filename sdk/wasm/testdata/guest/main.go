//go:build wasip1

// guest is the module of the SDK's end-to-end test: every hook, the host functions,
// stdout, the clock and a panic.
package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wagate/wagate/sdk/wasm"
)

type config struct {
	Prefer string        `json:"prefer,omitempty"`
	Delay  wasm.Duration `json:"delay,omitempty"`
}

var conf config

func configure(raw json.RawMessage) error {
	conf = config{}
	return wasm.DecodeConfig(raw, &conf)
}

// route: "panic" panics; "clock" checks time.Now against the input; prefer names a
// session; otherwise candidates take turns, the turn in the KV.
func route(in wasm.RouteInput) wasm.RouteDecision {
	switch in.Message.Text {
	case "panic":
		panic("asked to")
	case "clock":
		if !time.Now().Equal(in.Now) || !wasm.Now().Equal(in.Now) {
			panic(fmt.Sprintf("time.Now() %s, wasm.Now() %s, input %s", time.Now(), wasm.Now(), in.Now))
		}
	case "nobody":
		return wasm.RouteDecision{Session: "nobody"}
	}
	fmt.Println("route", in.Message.ID)
	wasm.Log(wasm.LevelWarn, "candidates: "+strconv.Itoa(len(in.Candidates)))
	if conf.Prefer != "" {
		return wasm.RouteDecision{Session: conf.Prefer}
	}
	n := 0
	if v, ok, err := wasm.KVGet("turn"); err == nil && ok {
		n, _ = strconv.Atoi(string(v))
	}
	if err := wasm.KVSet("turn", []byte(strconv.Itoa(n+1))); err != nil {
		panic(err)
	}
	return wasm.RouteDecision{Session: in.Candidates[n%len(in.Candidates)].Session}
}

func failover(in wasm.FailoverInput) wasm.FailoverDecision {
	switch in.Error.Code {
	case "timeout":
		return wasm.Retry(time.Duration(in.Attempt) * time.Second)
	case "banned":
		return wasm.Reroute(in.Candidates[len(in.Candidates)-1].Session)
	}
	return wasm.Fail(in.Error.Code + "|" + in.Error.Message + "|" + strconv.FormatBool(in.Error.Retryable) + "|" +
		in.Session.Session + "|" + strconv.Itoa(in.Attempt) + "|" + strconv.Itoa(len(in.Candidates)))
}

func rate(in wasm.RateInput) wasm.RateDecision {
	s := in.Session
	switch {
	case s.SentDay >= 100:
		return wasm.Reject("daily " + s.Session + " " + s.Provider + " " + s.State)
	case s.QueueDepth > 0:
		return wasm.Delay(time.Duration(s.QueueDepth)*time.Second + time.Duration(conf.Delay))
	case !s.LastSentAt.IsZero():
		return wasm.Delay(in.Now.Sub(s.LastSentAt))
	}
	return wasm.Allow()
}

func transform(in wasm.TransformInput) wasm.TransformResult {
	if in.Event.Event == "drop.me" {
		return wasm.Drop()
	}
	var p map[string]any
	if err := json.Unmarshal(in.Event.Payload, &p); err != nil {
		panic(err)
	}
	p["seen_at"] = in.Now.UnixMilli()
	in.Event.Payload, _ = json.Marshal(p)
	return wasm.Keep(in.Event)
}

func init() {
	wasm.Register(wasm.Plugin{Configure: configure, Route: route, Failover: failover, Rate: rate, Transform: transform})
}

func main() {}
