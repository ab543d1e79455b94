package coalesce

import (
	"sync"
	"testing"
	"time"
)

// Items asked for while one runs are merged and run once after it, in one more pass;
// Add never waits for a run; Close waits for the run under way and stops later Adds.
func TestWorkerCoalesces(t *testing.T) {
	var mu sync.Mutex
	runs := map[string]int{}
	gate := make(chan struct{})
	started := make(chan struct{}, 16)
	w := New(func(k string, n int) {
		started <- struct{}{}
		<-gate
		mu.Lock()
		runs[k] += n
		mu.Unlock()
	})
	add := func(k string) { w.Add(func(p map[string]int) { p[k]++ }) }
	add("a")
	<-started // "a" runs, held at the gate
	done := make(chan struct{})
	go func() { // Add does not wait for the run
		for range 5 {
			add("b")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Add waited for the run under way")
	}
	close(gate)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		b := runs["b"]
		mu.Unlock()
		if b == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs %v, want b merged to one run of 5", runs)
		}
		time.Sleep(time.Millisecond)
	}
	if n := len(started); n != 1 {
		t.Errorf("%d more runs started, want 1 (b's five Adds merged)", n)
	}
	w.Close()
	add("c")
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || len(w.pending) > 0 {
		t.Errorf("an Add after Close was taken: running %v, pending %v", w.running, w.pending)
	}
}
