package cluster

import (
	"errors"
	"fmt"
	"testing"
)

func TestAssign(t *testing.T) {
	three := []member{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	cases := []struct {
		name    string
		unowned int
		members []member
		counts  map[string]int
		want    map[string]int // sessions given to each node
	}{
		{"even over three", 30, three, nil, map[string]int{"a": 10, "b": 10, "c": 10}},
		{"fills the least loaded first", 6, three, map[string]int{"a": 4, "b": 2}, map[string]int{"a": 0, "b": 2, "c": 4}},
		{"by capacity", 30, []member{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 20}}, nil, map[string]int{"a": 10, "b": 20}},
		{"capacity is a cap", 30, []member{{ID: "a", Capacity: 5}, {ID: "b", Capacity: 5}}, nil, map[string]int{"a": 5, "b": 5}},
		{"full nodes take none", 4, []member{{ID: "a", Capacity: 2}, {ID: "b"}}, map[string]int{"a": 2}, map[string]int{"a": 0, "b": 4}},
		{"no members", 3, nil, nil, map[string]int{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := map[string]int{}
			a := assign(keys(c.unowned), c.members, c.counts)
			for _, n := range a {
				got[n]++
			}
			for id, w := range c.want {
				if got[id] != w {
					t.Errorf("%s got %d, want %d (all: %v)", id, got[id], w, got)
				}
			}
			if len(c.counts) > 0 && c.counts["b"] == 0 && c.counts["a"] == 0 {
				t.Errorf("counts modified: %v", c.counts)
			}
		})
	}
	// The same inputs give the same assignment on every node.
	x, y := assign(keys(30), three, nil), assign(keys(30), []member{three[2], three[0], three[1]}, nil)
	for k := range x {
		if x[k] != y[k] {
			t.Errorf("%s: %s vs %s depending on member order", k, x[k], y[k])
		}
	}
}

func TestFairShares(t *testing.T) {
	cases := []struct {
		total   int
		members []member
		want    map[string]int
	}{
		{30, []member{{ID: "a"}, {ID: "b"}, {ID: "c"}}, map[string]int{"a": 10, "b": 10, "c": 10}},
		{10, []member{{ID: "a"}, {ID: "b"}, {ID: "c"}}, map[string]int{"a": 4, "b": 3, "c": 3}},
		{30, []member{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 20}}, map[string]int{"a": 10, "b": 20}},
		{30, []member{{ID: "a", Capacity: 2}, {ID: "b", Capacity: 2000}, {ID: "c", Capacity: 2000}}, map[string]int{"a": 0, "b": 15, "c": 15}}, // by weight
		{30, []member{{ID: "a", Capacity: 5}, {ID: "b", Capacity: 5}}, map[string]int{"a": 5, "b": 5}},
		{0, []member{{ID: "a"}}, map[string]int{}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.total, c.members), func(t *testing.T) {
			got := fairShares(c.total, c.members)
			for id, w := range c.want {
				if got[id] != w {
					t.Errorf("%s: %d, want %d (all %v)", id, got[id], w, got)
				}
			}
		})
	}
}

func TestToRelease(t *testing.T) {
	three := []member{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	held := keys(15)
	cases := []struct {
		name   string
		counts map[string]int
		moves  int
		want   int
	}{
		{"a newcomer gets at most moves", map[string]int{"a": 15, "b": 15, "c": 0}, 2, 2},
		{"never below the fair share", map[string]int{"a": 11, "b": 10, "c": 9}, 5, 1},
		{"balanced moves nothing", map[string]int{"a": 10, "b": 10, "c": 10}, 2, 0},
		{"over but nobody lacks", map[string]int{"a": 11, "b": 10, "c": 10}, 2, 0},
		{"disabled", map[string]int{"a": 15, "b": 15, "c": 0}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := toRelease("a", held[:c.counts["a"]], three, c.counts, 30, c.moves)
			if len(got) != c.want {
				t.Errorf("released %d (%v), want %d", len(got), got, c.want)
			}
		})
	}
}

func TestSessionKey(t *testing.T) {
	good := [][2]string{{"acme", "main"}, {"t-1", "S_2"}, {"a", "b"}}
	for _, g := range good {
		k, err := SessionKey(g[0], g[1])
		if err != nil {
			t.Errorf("%v: %v", g, err)
			continue
		}
		if tn, s := k.Split(); tn != g[0] || s != g[1] || !validKey(k) {
			t.Errorf("%v: split %q into %q %q", g, k, tn, s)
		}
	}
	bad := [][2]string{{"", "main"}, {"acme", ""}, {"ac.me", "x"}, {"acme", "a b"}, {"acme", "*"}, {"acme", ">"}, {"é", "x"}}
	for _, b := range bad {
		if _, err := SessionKey(b[0], b[1]); !errors.Is(err, ErrBadKey) {
			t.Errorf("%v: err %v, want ErrBadKey", b, err)
		}
	}
}

func TestFloor(t *testing.T) {
	var f Floor
	k := Key("acme.main")
	steps := []struct {
		token uint64
		ok    bool
	}{{5, true}, {5, true}, {9, true}, {5, false}, {8, false}, {9, true}, {12, true}}
	for i, s := range steps {
		err := f.Admit(Fence{Key: k, Token: s.token})
		if (err == nil) != s.ok || (err != nil && !errors.Is(err, ErrStaleToken)) {
			t.Errorf("step %d token %d: err %v, want ok=%v", i, s.token, err, s.ok)
		}
	}
	if err := f.Admit(Fence{Key: "acme.other", Token: 1}); err != nil {
		t.Errorf("another key's floor: %v", err)
	}
}

func TestOptionsDefaults(t *testing.T) {
	h := trackHandler{}
	w := func() []Key { return nil }
	o := Options{NodeID: "gw1", Wanted: w, Handler: h}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.LeaseTTL.Seconds() != 10 || o.RenewInterval >= o.LeaseTTL-o.SafetyMargin {
		t.Errorf("defaults: ttl %s renew %s margin %s", o.LeaseTTL, o.RenewInterval, o.SafetyMargin)
	}
	bad := []Options{
		{NodeID: "", Wanted: w, Handler: h},
		{NodeID: "a.b", Wanted: w, Handler: h},
		{NodeID: "gw1", Handler: h},
		{NodeID: "gw1", Wanted: w},
		{NodeID: "gw1", Wanted: w, Handler: h, LeaseTTL: 500e6},
		{NodeID: "gw1", Wanted: w, Handler: h, LeaseTTL: 2e9, RenewInterval: 15e8, SafetyMargin: 5e8},
	}
	for i, b := range bad {
		if err := b.setDefaults(); err == nil {
			t.Errorf("case %d: %+v accepted", i, b)
		}
	}
}
