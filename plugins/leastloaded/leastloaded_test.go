package leastloaded

import (
	"context"
	"testing"

	"github.com/wagate/wagate/core/policy"
)

func TestLeastLoaded(t *testing.T) {
	c := func(s string, depth, minute int) policy.Candidate {
		return policy.Candidate{Session: s, QueueDepth: depth, SentMinute: minute}
	}
	for _, tc := range []struct {
		name  string
		cands []policy.Candidate
		want  string
	}{
		{"shortest queue", []policy.Candidate{c("a", 5, 0), c("b", 1, 50), c("c", 3, 0)}, "b"},
		{"tie: fewest sent", []policy.Candidate{c("a", 5, 0), c("b", 2, 9), c("c", 2, 3)}, "c"},
		{"full tie: first", []policy.Candidate{c("a", 2, 3), c("b", 2, 3)}, "a"},
		{"one", []policy.Candidate{c("a", 100, 100)}, "a"},
		{"none", nil, ""},
	} {
		d, err := New(policy.Spec{}).(*LeastLoaded).Route(context.Background(), policy.RouteInput{Candidates: tc.cands})
		if err != nil || d.Session != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, d.Session, err, tc.want)
		}
	}
}

func TestConfigure(t *testing.T) {
	for cfg, ok := range map[string]bool{`{}`: true, `{"x":1}`: false} {
		if err := New(policy.Spec{}).Configure(context.Background(), []byte(cfg)); (err == nil) != ok {
			t.Errorf("config %s: err = %v", cfg, err)
		}
	}
}
