package event

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func env(tenant, session, name string) Envelope {
	return New(name, tenant, session, map[string]string{"k": "v"})
}

func TestFilterMatch(t *testing.T) {
	cases := []struct {
		name   string
		filter Filter
		env    Envelope
		want   bool
	}{
		{"same tenant", Filter{Tenant: "a"}, env("a", "s", Message), true},
		{"other tenant", Filter{Tenant: "a"}, env("b", "s", Message), false},
		{"all tenants", Filter{AllTenants: true}, env("b", "s", Message), true},
		{"session kept", Filter{Tenant: "a", Sessions: []string{"s"}}, env("a", "s", Message), true},
		{"session dropped", Filter{Tenant: "a", Sessions: []string{"x"}}, env("a", "s", Message), false},
		{"exact name", Filter{Tenant: "a", Events: []string{MessageAck}}, env("a", "s", MessageAck), true},
		{"exact name miss", Filter{Tenant: "a", Events: []string{MessageAck}}, env("a", "s", Message), false},
		{"wildcard child", Filter{Tenant: "a", Events: []string{"message.*"}}, env("a", "s", MessageAck), true},
		{"wildcard base", Filter{Tenant: "a", Events: []string{"message.*"}}, env("a", "s", Message), true},
		{"wildcard other", Filter{Tenant: "a", Events: []string{"message.*"}}, env("a", "s", SessionStatus), false},
		{"wildcard not prefix", Filter{Tenant: "a", Events: []string{"message.*"}}, env("a", "s", "messages.x"), false},
		{"star", Filter{Tenant: "a", Events: []string{"*"}}, env("a", "s", SessionQR), true},
	}
	for _, c := range cases {
		if got := c.filter.Match(&c.env); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPublishDeliversInOrderToMatchingSubscribers(t *testing.T) {
	b := NewBus(Options{Buffer: 16})
	a, _ := b.Subscribe(Filter{Tenant: "a"})
	other, _ := b.Subscribe(Filter{Tenant: "b"})
	for i := 0; i < 10; i++ {
		b.Publish(New(Message, "a", "s", i))
	}
	for i := 0; i < 10; i++ {
		got := <-a.C()
		if string(got.Payload) != fmt.Sprint(i) {
			t.Fatalf("event %d: payload %s", i, got.Payload)
		}
	}
	select {
	case e := <-other.C():
		t.Fatalf("tenant b received tenant a's event %+v", e)
	default:
	}
}

func TestSlowSubscriberIsDroppedWithoutBlocking(t *testing.T) {
	b := NewBus(Options{Buffer: 4})
	slow, _ := b.Subscribe(Filter{Tenant: "a"})
	fast, _ := b.Subscribe(Filter{Tenant: "a"})
	for i := 0; i < 100; i++ {
		b.Publish(env("a", "s", Message)) // must never block on slow
		if _, ok := <-fast.C(); !ok {
			t.Fatalf("fast subscriber dropped at event %d: %v", i, fast.Err())
		}
	}
	// slow's channel holds its 4 buffered events, then is closed.
	n := 0
	for range slow.C() {
		n++
	}
	if n != 4 {
		t.Errorf("slow subscriber got %d buffered events, want 4", n)
	}
	if !errors.Is(slow.Err(), ErrSlowSubscriber) {
		t.Errorf("slow.Err() = %v, want ErrSlowSubscriber", slow.Err())
	}
	if b.Subscribers() != 1 {
		t.Errorf("Subscribers = %d after drop, want 1", b.Subscribers())
	}
	fast.Close()
}

func TestSubscriberLimitAndClose(t *testing.T) {
	b := NewBus(Options{MaxSubscribers: 2})
	s1, _ := b.Subscribe(Filter{Tenant: "a"})
	if _, err := b.Subscribe(Filter{Tenant: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(Filter{Tenant: "a"}); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("third Subscribe err = %v, want ErrTooManySubscribers", err)
	}
	s1.Close()
	s1.Close() // idempotent
	if s1.Err() != nil {
		t.Errorf("owner-closed subscription Err = %v, want nil", s1.Err())
	}
	s3, err := b.Subscribe(Filter{Tenant: "a"})
	if err != nil {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	b.Close()
	if _, ok := <-s3.C(); ok {
		t.Fatal("channel open after bus Close")
	}
	if !errors.Is(s3.Err(), ErrBusClosed) {
		t.Errorf("Err after bus Close = %v", s3.Err())
	}
	if _, err := b.Subscribe(Filter{Tenant: "a"}); !errors.Is(err, ErrBusClosed) {
		t.Errorf("Subscribe on closed bus err = %v", err)
	}
}

func TestConcurrentPublishSubscribeClose(t *testing.T) {
	b := NewBus(Options{Buffer: 8})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					b.Publish(env("a", "s", Message))
				}
			}
		}()
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		s, err := b.Subscribe(Filter{Tenant: "a"})
		if err != nil {
			t.Fatal(err)
		}
		<-s.C()
		s.Close()
	}
	close(stop)
	wg.Wait()
}

func BenchmarkPublish(b *testing.B) {
	bus := NewBus(Options{Buffer: 1 << 16})
	subs := make([]*Subscription, 8)
	for i := range subs {
		subs[i], _ = bus.Subscribe(Filter{Tenant: fmt.Sprint("t", i%2), Events: []string{"message.*"}})
		go func(s *Subscription) {
			for range s.C() {
			}
		}(subs[i])
	}
	e := env("t0", "s", MessageAck)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bus.Publish(e)
	}
	b.StopTimer()
	bus.Close()
}

func TestRevokeEndsOnlyThatKeyOrTenant(t *testing.T) {
	b := NewBus(Options{})
	k1, _ := b.Subscribe(Filter{Tenant: "a", KeyID: "k1"})
	k2, _ := b.Subscribe(Filter{Tenant: "a", KeyID: "k2"})
	other, _ := b.Subscribe(Filter{Tenant: "ab", KeyID: "k1"})
	b.Revoke("a", "k1")
	if _, ok := <-k1.C(); ok || !errors.Is(k1.Err(), ErrRevoked) {
		t.Fatalf("k1 not revoked: %v", k1.Err())
	}
	b.Publish(env("a", "s", Message))
	if _, ok := <-k2.C(); !ok {
		t.Fatal("k2 ended by revoking k1")
	}
	b.Revoke("a", "")
	if _, ok := <-k2.C(); ok || !errors.Is(k2.Err(), ErrRevoked) {
		t.Fatalf("k2 not ended by tenant revoke: %v", k2.Err())
	}
	if b.Subscribers() != 1 || other.Err() != nil {
		t.Fatalf("tenant ab's subscription touched: %d %v", b.Subscribers(), other.Err())
	}
}

// The tap sees every event, matching subscribers or not, before they do.
func TestTapSeesEveryEvent(t *testing.T) {
	b := NewBus(Options{})
	var got []string
	b.SetTap(func(e Envelope) { got = append(got, e.Event) })
	b.Publish(New(Message, "acme", "s", nil))
	b.Publish(New(SessionStatus, "other", "s", nil))
	b.SetTap(nil)
	b.Publish(New(MessageAck, "acme", "s", nil))
	if len(got) != 2 || got[0] != Message || got[1] != SessionStatus {
		t.Fatalf("tap saw %v, want [message session.status]", got)
	}
}

// The stamp fills events that name a session and have no engine yet; tenant-wide and
// already stamped events are left as they are.
func TestStamp(t *testing.T) {
	b := NewBus(Options{})
	defer b.Close()
	sub, _ := b.Subscribe(Filter{Tenant: "acme"})
	defer sub.Close()
	me := &Me{ID: "1555@c.us"}
	b.SetStamp(func(e Envelope) Envelope { e.Engine, e.Me = "sandbox", me; return e })
	b.Publish(New(Message, "acme", "s", nil))
	b.Publish(New(Message, "acme", "", nil))
	stamped := New(Message, "acme", "s", nil)
	stamped.Engine = "whatsmeow"
	b.Publish(stamped)
	b.SetStamp(nil)
	b.Publish(New(Message, "acme", "s", nil))
	for i, want := range []string{"sandbox", "", "whatsmeow", ""} {
		e := <-sub.C()
		if e.Engine != want || (want == "sandbox") != (e.Me == me) {
			t.Errorf("event %d: engine %q me %v; want %q", i, e.Engine, e.Me, want)
		}
	}
}
