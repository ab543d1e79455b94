package session

import (
	"context"
	"testing"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/store"
)

// benchManager is a manager with one linked-looking session "main" of tenant acme (its
// record has an account and two metadata keys) and a drained subscriber on the bus.
func benchManager(b *testing.B) (*Manager, *live, *event.Bus) {
	db, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	bus := event.NewBus(event.Options{Buffer: 1 << 16})
	b.Cleanup(bus.Close)
	sub, _ := bus.Subscribe(event.Filter{Tenant: "acme"})
	go func() {
		for range sub.C() {
		}
	}()
	net := sandbox.NewNetwork(sandboxCfg(), sandbox.StoreLinks{DB: db})
	b.Cleanup(net.Close)
	m := NewManager(db, bus, Options{DefaultProvider: "sandbox", Version: "v1.0.0"}, net)
	b.Cleanup(func() { m.Close(context.Background()) })
	if _, err := m.Create(context.Background(), "acme", CreateInput{Name: "main"}); err != nil {
		b.Fatal(err)
	}
	l, err := m.lookup("acme", "main")
	if err != nil {
		b.Fatal(err)
	}
	l.update(func(r *Record) {
		r.Me = &provider.Account{ID: chatid.MustParse("15550000001"), PushName: "Ann"}
		r.Metadata = map[string]string{"user.id": "123", "crm": "acct-9"}
	})
	return m, l, bus
}

// BenchmarkPublishAck measures the session's own message.ack: payload, envelope (with
// the session's context), publish to one subscriber.
//
//	go test -run '^$' -bench 'PublishAck|PublishQueueAck' -benchmem -count 3 ./core/session
func BenchmarkPublishAck(b *testing.B) {
	m, l, _ := benchManager(b)
	ev := provider.AckEvent{ProviderID: "3EB0A1B2C3D4E5F60718", ChatID: chatid.MustParse("15557654321"), Ack: provider.AckDelivered}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.publishAck(l, "msg_01JD", ev)
	}
}

// benchStatus is a variable, as a real ack's status is: a payload of constants only
// would be boxed without an allocation.
var benchStatus = "sent"

// BenchmarkPublishQueueAck measures a message.ack published outside the manager (the
// dispatcher's): the bus stamps it through Manager.Stamp.
func BenchmarkPublishQueueAck(b *testing.B) {
	m, _, bus := benchManager(b)
	bus.SetStamp(m.Stamp)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bus.Publish(event.New(event.MessageAck, "acme", "main",
			NewAckPayload("msg_01JD", "3EB0A1B2C3D4E5F60718", "15557654321@c.us", benchStatus, "")))
	}
}
