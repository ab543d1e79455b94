package steer

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The counter's cached sums always equal the ring added up again, over adds and
// reads at random times going forward (and, as simulated clocks may, backward).
func TestCounterCache(t *testing.T) {
	var c counter
	var events []time.Time
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 6000 {
		switch r := rng.IntN(100); {
		case r < 50:
			now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
		case r < 52:
			now = now.Add(-time.Duration(rng.IntN(120)) * time.Second)
		case r < 53:
			now = now.Add(time.Duration(rng.IntN(30)) * time.Hour)
		}
		if rng.IntN(2) == 0 {
			c.add(now)
			events = append(events, now)
			continue
		}
		minute, hour, day := c.sums(now)
		m := now.Unix() / 60
		var wm, wh, wd int
		for _, e := range events {
			back := m - e.Unix()/60
			if back < 0 || back >= 1440 {
				continue
			}
			if back == 0 {
				wm++
			}
			if back < 60 {
				wh++
			}
			wd++
		}
		// The ring forgets a slot reused by a later minute: only compare when no event
		// is ahead of now (the ring is then exact).
		ahead := false
		for _, e := range events {
			if e.Unix()/60 > m {
				ahead = true
				break
			}
		}
		if !ahead && (minute != wm || hour != wh || day != wd) {
			t.Fatalf("step %d at %s: sums %d/%d/%d, want %d/%d/%d", i, now, minute, hour, day, wm, wh, wd)
		}
	}
}
