//go:build wasip1

// least-loaded, with the Go SDK: the candidate with the shortest queue; ties go to the
// one that sent fewest in the last minute, then to the first (plugins/leastloaded).
package main

import "github.com/wagate/wagate/sdk/wasm"

func route(in wasm.RouteInput) wasm.RouteDecision {
	best := 0
	for i := 1; i < len(in.Candidates); i++ {
		c, b := &in.Candidates[i], &in.Candidates[best]
		if c.QueueDepth < b.QueueDepth || c.QueueDepth == b.QueueDepth && c.SentMinute < b.SentMinute {
			best = i
		}
	}
	return wasm.RouteDecision{Session: in.Candidates[best].Session}
}

func init() { wasm.Register(wasm.Plugin{Route: route}) }

func main() {}
