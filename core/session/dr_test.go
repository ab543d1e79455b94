package session

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/store"
)

// A store held by HoldRestored boots (Restore without start, as the gateway does while
// the hold marker is there) with its sessions STOPPED "restored"; ResumeRestored starts those the operator did not touch, and a session
// stopped meanwhile stays stopped.
func TestHoldRestoredAndResume(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := newRig(t, dir, sandboxCfg())
	for _, name := range []string{"a", "b"} {
		if _, err := r.m.Create(ctx, "acme", CreateInput{Name: name, Start: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		r.net.Link("acme", name, "")
	}
	r.close()

	db, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := HoldRestored(db)
	if err != nil || n != 2 {
		t.Fatalf("HoldRestored = %d, %v; want the 2 started sessions", n, err)
	}
	net := sandbox.NewNetwork(sandboxCfg(), sandbox.StoreLinks{DB: db})
	defer net.Close()
	m := NewManager(db, event.NewBus(event.Options{}), Options{DefaultProvider: "sandbox", StopTimeout: time.Second, StartTimeout: 5 * time.Second,
		RestoreConcurrency: 2, MaxSessions: func(context.Context, string) (int, error) { return 10, nil }}, net)
	defer m.Close(ctx)
	if err := m.Restore(ctx, false); err != nil { // as the gateway boots a held store
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if info, _ := m.Get(ctx, "acme", name); info.Status != StateStopped || info.Reason != ReasonRestored {
			t.Fatalf("%s after boot: %s %s, want STOPPED restored", name, info.Status, info.Reason)
		}
	}
	// The operator stops b before resuming: it stays stopped.
	if _, err := m.Stop(ctx, "acme", "b"); err != nil {
		t.Fatal(err)
	}
	if got := m.ResumeRestored(); got != 1 {
		t.Fatalf("ResumeRestored = %d, want 1 (a)", got)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		info, _ := m.Get(ctx, "acme", "a")
		if info.Status == StateWorking {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a after resume: %+v", info)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if info, _ := m.Get(ctx, "acme", "b"); info.Status != StateStopped {
		t.Errorf("b, stopped before resume: %s", info.Status)
	}
	if got := m.ResumeRestored(); got != 0 {
		t.Errorf("second ResumeRestored = %d", got)
	}
}
