package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/clustertest"
	"github.com/wagate/wagate/core/cluster/outq"
)

type nopHandler struct{}

func (nopHandler) Start(context.Context, *cluster.Lease) error           { return nil }
func (nopHandler) Stop(context.Context, cluster.Key, cluster.StopReason) {}

// `wagate cluster status` against an embedded server: the node that runs, its three
// leases, and the backlog of a session's send queue; JSON and text.
func TestClusterStatusCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Before any node started, the buckets and the stream do not exist: nothing to show.
	srv := clustertest.Solo(t)
	out, err := runCLI(t, "cluster", "status", "--nats", srv.URL(), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var empty clusterStatus
	if err := json.Unmarshal([]byte(out), &empty); err != nil || len(empty.Nodes)+len(empty.Leases)+len(empty.Queue) != 0 {
		t.Fatalf("empty cluster: %v %s", err, out)
	}

	nc := clustertest.Connect(t, srv.URL())
	want := []cluster.Key{"acme.s0", "acme.s1", "acme.s2"}
	n, err := cluster.NewNode(nc, cluster.Options{NodeID: "gw-1", Capacity: 50, LeaseTTL: 3 * time.Second,
		ReconcileInterval: 100 * time.Millisecond, Settle: 10 * time.Millisecond,
		Wanted: func() []cluster.Key { return want }, Handler: nopHandler{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	js, _ := jetstream.New(nc)
	q, err := outq.Open(ctx, js, outq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := q.Publish(ctx, "acme.s1", fmt.Sprint("m", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A consumer exists once a session's owner starts consuming: start one, hand over
	// nothing (its fence is invalid at once).
	if err := q.Consume(ctx, "acme.s1", invalidFence{}, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(n.Held()) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the node holds %v", n.Held())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	out, err = runCLI(t, "cluster", "status", "--nats", srv.URL(), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st clusterStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 1 || st.Nodes[0].ID != "gw-1" || st.Nodes[0].Capacity != 50 || st.Nodes[0].Sessions != 3 {
		t.Errorf("nodes %+v", st.Nodes)
	}
	if len(st.Leases) != 3 || st.Leases[1].Key != "acme.s1" || st.Leases[1].Node != "gw-1" || st.Leases[1].Token == 0 {
		t.Errorf("leases %+v", st.Leases)
	}
	if len(st.Queue) != 1 || st.Queue[0].Key != "acme.s1" || st.Queue[0].Waiting != 4 {
		t.Errorf("queue %+v", st.Queue)
	}
	text, err := runCLI(t, "cluster", "status", "--nats", srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"NODES (1)", "gw-1", "LEASES (3)", "acme.s2", "SEND QUEUE (1 sessions)"} {
		if !strings.Contains(text, w) {
			t.Errorf("text output lacks %q:\n%s", w, text)
		}
	}
	// No server: a clear error, not a hang.
	srv.Shutdown()
	if _, err := runCLI(t, "cluster", "status", "--nats", srv.URL(), "--timeout", "1s"); err == nil || !strings.Contains(err.Error(), "connecting") {
		t.Errorf("no server: %v", err)
	}
}

type invalidFence struct{}

func (invalidFence) Valid() bool    { return false }
func (invalidFence) Released() bool { return false }
