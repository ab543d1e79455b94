//go:build !wasip1

package wasm_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate/sdk/wasm"
)

// leastLoaded is a route hook: the candidate with the shortest queue.
func leastLoaded(in wasm.RouteInput) wasm.RouteDecision {
	best := 0
	for i, c := range in.Candidates {
		if c.QueueDepth < in.Candidates[best].QueueDepth {
			best = i
		}
	}
	return wasm.RouteDecision{Session: in.Candidates[best].Session}
}

// A policy is a main package registering its hooks in init; built with GOOS=wasip1
// GOARCH=wasm go build -buildmode=c-shared, it is a module the gateway loads. In a test,
// call the hook functions directly.
func Example() {
	wasm.Register(wasm.Plugin{Route: leastLoaded}) // in the module: func init() { ... }

	d := leastLoaded(wasm.RouteInput{Candidates: []wasm.Candidate{
		{Session: "s1", QueueDepth: 3},
		{Session: "s2", QueueDepth: 0},
	}})
	fmt.Println(d.Session)
	// Output: s2
}

// Register takes the hooks the policy implements, and its configuration function.
func ExampleRegister() {
	var prefix string
	wasm.Register(wasm.Plugin{
		Configure: func(raw json.RawMessage) error {
			var c struct {
				Prefix string `json:"prefix"`
			}
			err := wasm.DecodeConfig(raw, &c)
			prefix = c.Prefix
			return err
		},
		Route: func(in wasm.RouteInput) wasm.RouteDecision {
			for _, c := range in.Candidates {
				if strings.HasPrefix(c.Session, prefix) {
					return wasm.RouteDecision{Session: c.Session}
				}
			}
			return wasm.RouteDecision{} // no opinion: the next policy, or the default, decides
		},
		Failover: func(in wasm.FailoverInput) wasm.FailoverDecision {
			if in.Error.Retryable && in.Attempt < 3 {
				return wasm.Retry(time.Duration(in.Attempt) * time.Second)
			}
			return wasm.Fail("gave up after " + strconv.Itoa(in.Attempt) + " attempts")
		},
	})
	fmt.Println("registered")
	// Output: registered
}

// The decisions of the failover hook.
func ExampleRetry() {
	fmt.Println(wasm.Retry(2*time.Second), wasm.Reroute("cloud-1"), wasm.Fail("banned"))
	// Output: {1 2s  } {2 0s cloud-1 } {3 0s  banned}
}

// The decisions of the rate hook.
func ExampleDelay() {
	fmt.Println(wasm.Allow(), wasm.Delay(1500*time.Millisecond), wasm.Reject("daily_limit"))
	// Output: {1 0s } {2 1.5s } {3 0s daily_limit}
}

// The results of the transform hook: Keep delivers the (changed) event, Drop stops it.
func ExampleKeep() {
	redact := func(in wasm.TransformInput) wasm.TransformResult {
		if in.Event.Event == "message.ack" {
			return wasm.Drop()
		}
		in.Event.Payload = json.RawMessage(`{"body":"[hidden]"}`)
		return wasm.Keep(in.Event)
	}
	r := redact(wasm.TransformInput{Event: wasm.Event{ID: "evt_1", Event: "message", Payload: json.RawMessage(`{"body":"hi"}`)}})
	fmt.Println(r.Drop, string(r.Event.Payload))
	fmt.Println(redact(wasm.TransformInput{Event: wasm.Event{Event: "message.ack"}}).Drop)
	// Output:
	// false {"body":"[hidden]"}
	// true
}

// DecodeConfig is strict: an unknown field is an error, which refuses the policy.
func ExampleDecodeConfig() {
	var c struct {
		Every wasm.Duration `json:"every"`
	}
	fmt.Println(wasm.DecodeConfig(json.RawMessage(`{"every":"90s"}`), &c), time.Duration(c.Every))
	fmt.Println(wasm.DecodeConfig(json.RawMessage(`{"evry":"90s"}`), &c))
	// Output:
	// <nil> 1m30s
	// json: unknown field "evry"
}

// In tests, the host functions act on a TestHost.
func ExampleUseTestHost() {
	h := &wasm.TestHost{}
	defer wasm.UseTestHost(h)()
	h.SetNow(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

	wasm.Log(wasm.LevelWarn, "queue is long")
	_ = wasm.KVSet("turn", []byte("3"))
	fmt.Println(wasm.Now(), h.Logs(), h.KV())
	// Output: 2026-01-02 03:04:05 +0000 UTC [WARN queue is long] map[turn:3]
}

// Log writes to the policy's log in the gateway.
func ExampleLog() {
	h := &wasm.TestHost{}
	defer wasm.UseTestHost(h)()
	wasm.Log(wasm.LevelInfo, "routing msg_1")
	fmt.Println(h.Logs())
	// Output: [INFO routing msg_1]
}

// Now is the time of the call.
func ExampleNow() {
	h := &wasm.TestHost{}
	defer wasm.UseTestHost(h)()
	h.SetNow(time.UnixMilli(1767323045678))
	fmt.Println(wasm.Now().UnixMilli())
	// Output: 1767323045678
}

// A turn kept in the tenant's key-value store survives instances.
func ExampleKVGet() {
	defer wasm.UseTestHost(&wasm.TestHost{})()
	next := func() int {
		n := 0
		if v, ok, err := wasm.KVGet("turn"); err == nil && ok {
			n, _ = strconv.Atoi(string(v))
		}
		_ = wasm.KVSet("turn", []byte(strconv.Itoa(n+1)))
		return n
	}
	fmt.Println(next(), next(), next())
	// Output: 0 1 2
}

// KVSet refuses invalid keys; an empty value deletes the key.
func ExampleKVSet() {
	defer wasm.UseTestHost(&wasm.TestHost{})()
	fmt.Println(wasm.KVSet("", []byte("x")))
	_ = wasm.KVSet("k", []byte("v"))
	_ = wasm.KVSet("k", nil)
	_, ok, _ := wasm.KVGet("k")
	fmt.Println(ok)
	// Output:
	// invalid kv key
	// false
}
