package ids

import (
	"strings"
	"testing"
	"time"
)

func TestNewIsUniqueAndOrdered(t *testing.T) {
	prev := ""
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		id := New(Message)
		if !strings.HasPrefix(id, "msg_") || len(id) != 4+26 {
			t.Fatalf("id %q: want msg_ + 26 chars", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q after %d", id, i)
		}
		if id <= prev {
			t.Fatalf("id %q does not sort after %q", id, prev)
		}
		seen[id], prev = true, id
	}
}

func TestNewLowSortsAfterNew(t *testing.T) {
	low := NewLow(Message)
	later := New(Message)
	if !strings.HasPrefix(low, "msg_~") || len(low) != 5+26 || !IsLow(low) || IsLow(later) {
		t.Fatalf("low %q, later %q", low, later)
	}
	if low <= later {
		t.Fatalf("low-priority %q sorts before the later %q", low, later)
	}
	if next := NewLow(Message); next <= low {
		t.Fatalf("low-priority ids out of order: %q then %q", low, next)
	}
	at, ok := Time(low)
	if !ok || time.Since(at) > time.Minute || time.Since(at) < -time.Minute {
		t.Fatalf("Time(%q) = %v %v", low, at, ok)
	}
}
