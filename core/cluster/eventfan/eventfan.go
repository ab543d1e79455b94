// Package eventfan carries events between the nodes of a cluster, so that an SSE or
// WebSocket subscriber on any node sees the events of every session, whichever node runs
// it (docs/cluster.md, "Events").
//
// Each node publishes the events of its own bus on core NATS subjects
// evt.<tenant>.<session> ("_" for tenant-wide events), and hands the events of the other
// nodes to its bus's subscribers (event.Bus.Deliver): not to its webhook outbox, which the
// node where the event happened fed already.
//
//	br, err := eventfan.New(nc, "gw-1", bus)
//	bus.SetTap(func(env event.Envelope) { outbox(env); br.Out(env) })
//	defer br.Close()
//
// Delivery across nodes is at most once, as core NATS is: live streams already tell a
// subscriber that falls behind to resync (ErrSlowSubscriber); webhooks are the durable
// path. Events of one session keep their order: one publisher (the session's node), one
// connection, one subscription per receiving node.
package eventfan

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/wagate/wagate/core/event"
)

// originHeader names the node that published an event: a node skips its own.
const originHeader = "Wagate-Node"

// Subject is the subject of an event.
func Subject(env event.Envelope) string {
	s := env.Session
	if s == "" {
		s = "_"
	}
	return "evt." + env.Tenant + "." + s
}

// Bridge is one node's end. Safe for concurrent use.
type Bridge struct {
	nc   *nats.Conn
	node string
	sub  *nats.Subscription
}

// New subscribes to every node's events and delivers the others' to bus.
func New(nc *nats.Conn, node string, bus *event.Bus) (*Bridge, error) {
	if node == "" {
		return nil, errors.New("eventfan: a node id is required")
	}
	br := &Bridge{nc: nc, node: node}
	sub, err := nc.Subscribe("evt.>", func(m *nats.Msg) {
		if m.Header.Get(originHeader) == node {
			return
		}
		var env event.Envelope
		if json.Unmarshal(m.Data, &env) != nil || env.Tenant == "" {
			return // not an event: nothing a subscriber could be given
		}
		bus.Deliver(env)
	})
	if err != nil {
		return nil, fmt.Errorf("eventfan: subscribing: %w", err)
	}
	// Events are small and many: a node that falls behind drops, like a slow local
	// subscriber, instead of stalling the connection its leases renew on.
	if err := sub.SetPendingLimits(64*1024, 64<<20); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("eventfan: %w", err)
	}
	br.sub = sub
	return br, nil
}

// Out publishes an event of this node's bus to the other nodes. It does not block:
// NATS buffers it (and drops nothing while connected); a disconnected node's events
// reach only its own subscribers.
func (br *Bridge) Out(env event.Envelope) {
	b, err := json.Marshal(env)
	if err != nil {
		return // an envelope always encodes: its payload is JSON already
	}
	m := &nats.Msg{Subject: Subject(env), Data: b, Header: nats.Header{originHeader: []string{br.node}}}
	_ = br.nc.PublishMsg(m)
}

// Close stops receiving the other nodes' events.
func (br *Bridge) Close() error {
	return br.sub.Unsubscribe()
}
