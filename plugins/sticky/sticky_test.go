package sticky

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
)

func TestSticky(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return time.Date(2026, 1, 2, h, 0, 0, 0, time.UTC) }
	cands := func(contacts ...time.Time) []policy.Candidate {
		var cs []policy.Candidate
		for i, c := range contacts {
			cs = append(cs, policy.Candidate{Session: string(rune('a' + i)), LastContact: c})
		}
		return cs
	}
	for _, tc := range []struct {
		name   string
		config string
		cands  []policy.Candidate
		want   []string // answers of successive calls
	}{
		{"latest contact wins", `{}`, cands(at(10), at(11), time.Time{}), []string{"b", "b"}},
		{"tie: the first", `{}`, cands(at(11), at(11)), []string{"a"}},
		{"no contact: turns", `{}`, cands(time.Time{}, time.Time{}, time.Time{}), []string{"a", "b", "c", "a"}},
		{"expired contacts: turns", `{"max_age":"30m"}`, cands(at(10), at(11)), []string{"a", "b"}},
		{"recent enough", `{"max_age":"90m"}`, cands(at(10), at(11)), []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(policy.Spec{}).(*Sticky)
			if err := p.Configure(ctx, []byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				d, err := p.Route(ctx, policy.RouteInput{Now: now, Candidates: tc.cands})
				if err != nil || d.Session != want {
					t.Errorf("call %d: %q, %v; want %q", i, d.Session, err, want)
				}
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	for cfg, ok := range map[string]bool{
		`{}`: true, `{"max_age":"1h"}`: true, `{"max_age":"-1h"}`: false,
		`{"max_age":3600}`: false, `{"max_age":"soon"}`: false, `{"maxAge":"1h"}`: false,
	} {
		if err := New(policy.Spec{}).Configure(context.Background(), []byte(cfg)); (err == nil) != ok {
			t.Errorf("config %s: err = %v", cfg, err)
		}
	}
}
