package api

import (
	"strconv"
	"testing"
	"time"
)

func TestNameCache(t *testing.T) {
	var c nameCache
	now := time.Now()
	if _, ok := c.get("acme/a", now); ok {
		t.Fatal("an empty cache answered")
	}
	c.put("acme/a", map[string]string{"1@c.us": "Ann"}, now)
	if n, ok := c.get("acme/a", now.Add(chatNameTTL-time.Millisecond)); !ok || n["1@c.us"] != "Ann" {
		t.Fatalf("within the TTL: %v %v", n, ok)
	}
	if _, ok := c.get("acme/a", now.Add(chatNameTTL)); ok {
		t.Fatal("answered past the TTL")
	}
	if _, ok := c.get("globex/a", now); ok {
		t.Fatal("another tenant's session answered")
	}
	for i := range maxNameCaches + 1 {
		c.put("t/"+strconv.Itoa(i), nil, now)
	}
	if len(c.entries) > maxNameCaches {
		t.Fatalf("%d entries, bound %d", len(c.entries), maxNameCaches)
	}
}
