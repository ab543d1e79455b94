package main

import (
	"context"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
)

// replyToCall queues the message of a session set to reject calls (config.calls) to
// the caller it just rejected: a text like any send, counted against the tenant's
// plan, paced by the session's rate chain. Its idempotency key is the call's id, so a
// call reported twice is answered once. A plan over its daily limit gets no reply
// (logged): the call was rejected all the same.
func (g *gateway) replyToCall(tenant, name string, call provider.CallData, message string) {
	ctx := context.Background()
	log := g.log.With("tenant", tenant, "session", name, "call", call.ID)
	if err := g.tenants.CountMessages(ctx, tenant, 1); err != nil {
		log.Warn("not answering a rejected call", "err", err)
		return
	}
	msg := queue.Message{ID: ids.New(ids.Message), Session: name, ChatID: call.From.String(), Type: provider.KindText, Text: message}
	res, err := g.queue.Enqueue(ctx, tenant, []queue.Item{{Message: msg, IdempotencyKey: "call-reject:" + call.ID}},
		func(txn *badger.Txn) error { return g.tenants.WriteUsage(txn, tenant) })
	if err != nil || res[0].Replayed {
		g.tenants.UncountMessages(tenant, 1)
	}
	if err != nil {
		log.Warn("queueing the answer to a rejected call", "err", err)
		return
	}
	if !res[0].Replayed {
		g.bus.Publish(event.New(event.MessageAck, tenant, name,
			session.NewAckPayload(msg.ID, "", msg.ChatID, string(queue.StatusQueued), "")))
	}
}
