package main

import (
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/store"
)

// echoHook commits like statesync's hook when another node's write to the same key
// arrived meanwhile: the mirror tells Applied about it from inside the writer's commit.
type echoHook struct{ applied func(keys [][]byte) }

func (h echoHook) Commit(txn *badger.Txn, writes []store.Write) error {
	if err := txn.Commit(); err != nil {
		return err
	}
	keys := make([][]byte, len(writes))
	for i, w := range writes {
		keys[i] = append([]byte(nil), w.Key...)
	}
	h.applied(keys)
	return nil
}

// A session record another node wrote, told to the cluster mode from inside the
// session manager's own commit of that session, must not hang the session: it used to
// (Refresh waited for the lock the committing persist held) and the session stayed
// STARTING forever with its queue stuck.
func TestClusterRefreshFromInsideACommit(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults().Providers.Sandbox
	net := sandbox.NewNetwork(cfg, sandbox.NewMemoryLinkStore())
	mgr := session.NewManager(db, event.NewBus(event.Options{}), session.Options{
		StartTimeout: 2 * time.Second, StopTimeout: time.Second, SendTimeout: time.Second,
		DefaultProvider: sandbox.Name,
	}, net)
	c := newClusterMode(&gateway{sessions: mgr})
	// Closed at the end, not deferred: after a hang the deferred closes would wait for
	// the hung session forever (a panic runs them too).
	closeAll := func() { c.refresh.Close(); mgr.Close(context.Background()); net.Close(); db.Close() }
	if err := db.SetCommitHook([]store.Prefix{store.PrefixSession}, echoHook{c.applied}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := mgr.Create(context.Background(), "acme", session.CreateInput{Name: "s1", Start: true})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		panic("creating and starting a session hung: a Refresh from inside its own commit")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		in, err := mgr.Get(context.Background(), "acme", "s1")
		if err == nil && in.Status == session.StateScanQR {
			closeAll()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session after 20s: %+v %v (want SCAN_QR_CODE)", in, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
