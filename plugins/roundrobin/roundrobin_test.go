package roundrobin

import (
	"context"
	"testing"

	"github.com/wagate/wagate/core/policy"
)

func TestRoundRobin(t *testing.T) {
	ctx := context.Background()
	p := New(policy.Spec{}).(*RoundRobin)
	cands := []policy.Candidate{{Session: "a"}, {Session: "b"}, {Session: "c"}}
	var got []string
	for range 7 {
		d, err := p.Route(ctx, policy.RouteInput{Candidates: cands})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Session)
	}
	if want := "a b c a b c a"; join(got) != want {
		t.Errorf("got %s, want %s", join(got), want)
	}
	// The set shrinking keeps the turn going over what is left.
	if d, _ := p.Route(ctx, policy.RouteInput{Candidates: cands[:2]}); d.Session != "b" {
		t.Errorf("8th call over 2 candidates: %s, want b", d.Session)
	}
}

func TestConfigure(t *testing.T) {
	p := New(policy.Spec{})
	for cfg, ok := range map[string]bool{``: true, `{}`: true, `{"x":1}`: false, `[]`: false} {
		if err := p.Configure(context.Background(), []byte(cfg)); (err == nil) != ok {
			t.Errorf("config %q: err = %v", cfg, err)
		}
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
