package weighted

import (
	"context"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/policy"
)

func TestWeighted(t *testing.T) {
	ctx := context.Background()
	cs := func(names ...string) []policy.Candidate {
		var out []policy.Candidate
		for _, n := range names {
			out = append(out, policy.Candidate{Session: n})
		}
		return out
	}
	for _, tc := range []struct {
		name, config string
		cands        []policy.Candidate
		want         string // successive answers; "-" = no opinion
	}{
		{"3 to 1", `{"weights":{"a":3,"b":1}}`, cs("a", "b"), "a a a b a a a b"},
		{"default weight 1", `{"weights":{"b":2}}`, cs("a", "b", "c"), "a b b c a b b c"},
		{"zero excludes", `{"weights":{"a":0}}`, cs("a", "b"), "b b b"},
		{"only listed", `{"weights":{"a":2},"default_weight":0}`, cs("a", "b"), "a a a"},
		{"nobody weighs: no opinion", `{"default_weight":0}`, cs("a", "b"), "- -"},
		{"no config: round robin", `{}`, cs("a", "b"), "a b a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(policy.Spec{}).(*Weighted)
			if err := p.Configure(ctx, []byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for range strings.Fields(tc.want) {
				d, err := p.Route(ctx, policy.RouteInput{Candidates: tc.cands})
				if err != nil {
					t.Fatal(err)
				}
				if d.Session == "" {
					d.Session = "-"
				}
				got = append(got, d.Session)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("got %s, want %s", strings.Join(got, " "), tc.want)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	for cfg, ok := range map[string]bool{
		`{}`: true, `{"weights":{"a":1}}`: true, `{"weights":{"a":-1}}`: false, `{"weights":{"a":"1"}}`: false,
		`{"default_weight":-2}`: false, `{"default_weight":2000000}`: false, `{"weight":{}}`: false,
	} {
		if err := New(policy.Spec{}).Configure(context.Background(), []byte(cfg)); (err == nil) != ok {
			t.Errorf("config %s: err = %v", cfg, err)
		}
	}
}
