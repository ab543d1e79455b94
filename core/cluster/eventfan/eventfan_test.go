package eventfan

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/core/cluster/clustertest"
	"github.com/wagate/wagate/core/event"
)

type node struct {
	bus  *event.Bus
	br   *Bridge
	taps atomic.Int32 // events the node's webhook outbox saw
}

func startNode(t *testing.T, url, id string) *node {
	t.Helper()
	nc := clustertest.Connect(t, url)
	n := &node{bus: event.NewBus(event.Options{})}
	t.Cleanup(n.bus.Close)
	var err error
	if n.br, err = New(nc, id, n.bus); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.br.Close() })
	n.bus.SetTap(func(env event.Envelope) { n.taps.Add(1); n.br.Out(env) })
	if err := nc.Flush(); err != nil { // the subscription is in place on the server
		t.Fatal(err)
	}
	return n
}

func subscribe(t *testing.T, b *event.Bus, tenant string) *event.Subscription {
	t.Helper()
	s, err := b.Subscribe(event.Filter{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func next(s *event.Subscription, within time.Duration) (event.Envelope, bool) {
	select {
	case e := <-s.C():
		return e, true
	case <-time.After(within):
		return event.Envelope{}, false
	}
}

// An event published on node a reaches the subscribers of its tenant on a and b, once
// each, unchanged (stamp included); b's webhook outbox does not see it, and no other
// tenant's subscriber does.
func TestEventsReachEveryNode(t *testing.T) {
	srv := clustertest.Solo(t)
	a, b := startNode(t, srv.URL(), "a"), startNode(t, srv.URL(), "b")
	onA, onB, other := subscribe(t, a.bus, "acme"), subscribe(t, b.bus, "acme"), subscribe(t, b.bus, "globex")

	env := event.New(event.MessageAck, "acme", "sales", map[string]string{"id": "msg_1", "status": "read"})
	env.Engine, env.Metadata = "sandbox", map[string]string{"team": "emea"}
	a.bus.Publish(env)
	a.bus.Publish(event.New("session.status", "acme", "", map[string]string{"status": "WORKING"})) // tenant-wide

	for _, s := range []*event.Subscription{onA, onB} {
		got, ok := next(s, 5*time.Second)
		if !ok {
			t.Fatal("the event did not arrive")
		}
		want, _ := json.Marshal(env)
		have, _ := json.Marshal(got)
		if string(want) != string(have) {
			t.Errorf("received %s, want %s", have, want)
		}
		if got, ok := next(s, 5*time.Second); !ok || got.Session != "" || got.Event != "session.status" {
			t.Errorf("tenant-wide event: %+v %v", got, ok)
		}
		if dup, ok := next(s, 200*time.Millisecond); ok { // a grace period for a duplicate or an echo
			t.Errorf("received a third event: %+v", dup)
		}
	}
	if _, ok := next(other, 100*time.Millisecond); ok {
		t.Error("another tenant's subscriber got the event")
	}
	if a.taps.Load() != 2 || b.taps.Load() != 0 {
		t.Errorf("outbox taps a=%d b=%d, want 2 and 0: an event enters the outbox once, where it happened", a.taps.Load(), b.taps.Load())
	}
}

func TestSubject(t *testing.T) {
	for _, c := range []struct{ tenant, session, want string }{
		{"acme", "sales", "evt.acme.sales"}, {"acme", "", "evt.acme._"},
	} {
		if got := Subject(event.Envelope{Tenant: c.tenant, Session: c.session}); got != c.want {
			t.Errorf("Subject(%s, %s) = %s", c.tenant, c.session, got)
		}
	}
}

// BenchmarkOut is one event sent to the other nodes (encode + publish, loopback):
// what every event of a clustered node costs on top of its local bus.
//
//	go test -run '^$' -bench Out -benchmem ./core/cluster/eventfan
func BenchmarkOut(b *testing.B) {
	srv := clustertest.Solo(b)
	nc := clustertest.Connect(b, srv.URL())
	br, err := New(nc, "a", event.NewBus(event.Options{}))
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	env := event.New(event.MessageAck, "acme", "sales", map[string]any{"id": "msg_01KF3QZ8J5Y7W2", "status": "delivered", "ack": 2})
	env.Engine = "sandbox"
	b.ReportAllocs()
	for range b.N {
		br.Out(env)
	}
	b.StopTimer()
	_ = nc.Flush()
}
