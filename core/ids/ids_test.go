package ids

import (
	"strings"
	"testing"
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
