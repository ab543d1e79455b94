package session

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// fakePlacement is a cluster whose leases the test hands out.
type fakePlacement struct {
	mu      sync.Mutex
	local   map[string]bool
	changed int
}

func (p *fakePlacement) Local(tenant, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.local[tenant+"/"+name]
}

func (p *fakePlacement) Changed() {
	p.mu.Lock()
	p.changed++
	p.mu.Unlock()
}

func (p *fakePlacement) set(name string, local bool) {
	p.mu.Lock()
	p.local["acme/"+name] = local
	p.mu.Unlock()
}

// TestClusterPlacement: in cluster mode a start on a node without the lease only writes
// the desired state; the lease runs and suspends the session, keeping the desired
// state; a newer record written by another node changes what the session should do
// but not what it does; a record deleted elsewhere drops the session here.
func TestClusterPlacement(t *testing.T) {
	ctx := context.Background()
	p := &fakePlacement{local: map[string]bool{}}
	r := buildClockRig(t, t.TempDir(), func(o *Options) { o.Placement = p })
	if err := r.m.Restore(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Create(ctx, "acme", CreateInput{Name: "s1", Start: true}); err != nil {
		t.Fatal(err)
	}
	if in := r.info("acme", "s1"); in.Status != StateStopped || r.live("s1").hasProvider() {
		t.Fatalf("started without the lease: %s", in.Status)
	}
	if !r.m.Desired("acme", "s1") || len(r.m.Wanted()) != 1 || p.changed == 0 {
		t.Fatalf("desired %v, wanted %v, changed %d", r.m.Desired("acme", "s1"), r.m.Wanted(), p.changed)
	}
	p.set("s1", true)
	if err := r.m.RunLocal(ctx, "acme", "s1"); err != nil {
		t.Fatal(err)
	}
	if !r.live("s1").hasProvider() {
		t.Fatal("RunLocal did not start the provider")
	}
	r.m.Suspend(ctx, "acme", "s1")
	p.set("s1", false)
	if r.live("s1").hasProvider() || !r.m.Desired("acme", "s1") {
		t.Fatalf("after Suspend: provider %v, desired %v", r.live("s1").hasProvider(), r.m.Desired("acme", "s1"))
	}
	// A stop asked of this node, which does not run it: desired state only.
	if _, err := r.m.Stop(ctx, "acme", "s1"); err != nil || r.m.Desired("acme", "s1") {
		t.Fatalf("stop without the lease: %v, desired %v", err, r.m.Desired("acme", "s1"))
	}
	p.set("s1", true)
	if err := r.m.RunLocal(ctx, "acme", "s1"); err != nil {
		t.Fatal(err)
	}
	// Another node writes a newer record: running off, a fallback set.
	writeRecord(t, r, "s1", func(rec *Record) {
		rec.Running, rec.Fallback, rec.State, rec.Version = true, "s2", StateFailed, rec.Version+10
	})
	r.m.Refresh("acme", "s1")
	l := r.live("s1")
	l.mu.Lock()
	got := l.rec
	l.mu.Unlock()
	if got.Fallback != "s2" || !got.Running || got.State == StateFailed {
		t.Fatalf("refreshed while running here: fallback %q running %v state %s (the other node's FAILED must not be taken)", got.Fallback, got.Running, got.State)
	}
	// Not running here: the record is taken whole.
	r.m.Suspend(ctx, "acme", "s1")
	p.set("s1", false)
	writeRecord(t, r, "s1", func(rec *Record) { rec.State, rec.Version = StateWorking, rec.Version+10 })
	r.m.Refresh("acme", "s1")
	if in := r.info("acme", "s1"); in.Status != StateWorking {
		t.Fatalf("a session another node runs shows %s, want its owner's WORKING", in.Status)
	}
	// Deleted elsewhere.
	if err := r.db.Update(func(txn *badger.Txn) error { return records.Delete(txn, "acme", "s1") }); err != nil {
		t.Fatal(err)
	}
	r.m.Refresh("acme", "s1")
	if _, err := r.m.Get(ctx, "acme", "s1"); err == nil {
		t.Fatal("a session deleted by another node is still here")
	}
	// Created elsewhere.
	if err := r.db.Update(func(txn *badger.Txn) error {
		return records.Put(txn, Record{Name: "s3", Provider: "sandbox", State: StateWorking, Running: true, Version: 4}, "acme", "s3")
	}); err != nil {
		t.Fatal(err)
	}
	r.m.Refresh("acme", "s3")
	if in := r.info("acme", "s3"); in.Status != StateWorking || !r.m.Desired("acme", "s3") {
		t.Fatalf("a session created by another node: %s", in.Status)
	}
}

// writeRecord changes the stored record of name as another node's write would.
func writeRecord(t *testing.T, r *clockRig, name string, fn func(*Record)) {
	t.Helper()
	err := r.db.Update(func(txn *badger.Txn) error {
		rec, err := records.Get(txn, "acme", name)
		if err != nil {
			return err
		}
		fn(&rec)
		return records.Put(txn, rec, "acme", name)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The fence of sends: a session WORKING here whose lease this node lost is not sent
// through, and the error is the one the dispatcher takes as "wait" (NotWorkingError).
func TestClusterSendFenced(t *testing.T) {
	ctx := context.Background()
	p := &fakePlacement{local: map[string]bool{}}
	r := buildClockRig(t, t.TempDir(), func(o *Options) { o.Placement = p })
	if err := r.m.Restore(ctx, false); err != nil {
		t.Fatal(err)
	}
	p.set("s", true)
	r.working("s", "6281200000001")
	if _, err := r.m.Send(ctx, "acme", "s", text("owned")); err != nil {
		t.Fatalf("send under the lease: %v", err)
	}
	p.set("s", false) // the lease ended: expired during a pause, or claimed by another node
	_, err := r.m.Send(ctx, "acme", "s", text("stale"))
	var nw *NotWorkingError
	if !errors.As(err, &nw) || !nw.Fenced || nw.State != StateWorking {
		t.Fatalf("send without the lease: %v, want a fenced NotWorkingError", err)
	}
	p.set("s", true)
	if _, err := r.m.Send(ctx, "acme", "s", text("owned again")); err != nil {
		t.Fatalf("send under a new lease: %v", err)
	}
}
