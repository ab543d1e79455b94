package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/core/provider"
)

// staticFailover sends everything of "a" to "b"; chats in refuse are failed instead.
type staticFailover struct {
	refuse map[string]bool
	mu     sync.Mutex
	causes []error
}

func (f *staticFailover) Target(tenant, session string) string {
	if session == "a" {
		return "b"
	}
	return ""
}

func (f *staticFailover) Decide(tenant string, m Message, cause error, target string) Decision {
	f.mu.Lock()
	f.causes = append(f.causes, cause)
	f.mu.Unlock()
	if f.refuse[m.ChatID] {
		return Decision{Fail: "outside_customer_service_window"}
	}
	return Decision{Reroute: target, Reason: "test"}
}

// bannedA is a sender whose session "a" is banned: every send there fails.
type bannedA struct{ f *fakeSender }

func (s bannedA) Send(ctx context.Context, tenant, session string, msg provider.Outbound) (provider.SendResult, error) {
	if session == "a" {
		return provider.SendResult{}, fmt.Errorf("sandbox: %w", provider.ErrBanned)
	}
	return s.f.Send(ctx, tenant, session, msg)
}

func failoverItem(session, chat string) Item {
	it := item(session, "")
	it.Message.ChatID = chat
	return it
}

type eventLog struct {
	mu     sync.Mutex
	events []FailoverEvent
}

func (l *eventLog) add(_ string, ev FailoverEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// A send failing with an error fatal for its session (banned) moves the message to the
// fallback, which sends it — once, there only — with the history saying why; the
// policy may refuse (fail) instead.
func TestFailoverOnFatalSendError(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	fo := &staticFailover{refuse: map[string]bool{"15550000009@c.us": true}}
	var log eventLog
	d := NewDispatcher(q, bannedA{f}, DispatchOptions{Failover: fo, OnFailover: log.add})
	defer d.Close()
	d.SessionStatus("acme", "a", true)
	d.SessionStatus("acme", "b", true)

	moved, refused := failoverItem("a", "15550000001@c.us"), failoverItem("a", "15550000009@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{moved, refused}); err != nil {
		t.Fatal(err)
	}
	m := waitStatus(t, q, moved.Message.ID, StatusSent)
	if m.Session != "b" || m.PossibleDuplicate {
		t.Fatalf("moved message: session %s, duplicate %v", m.Session, m.PossibleDuplicate)
	}
	found := false
	for _, c := range m.History {
		found = found || strings.HasPrefix(c.Reason, "failover from a")
	}
	if !found {
		t.Fatalf("history does not say failover: %+v", m.History)
	}
	r := waitStatus(t, q, refused.Message.ID, StatusFailed)
	if r.Reason != "outside_customer_service_window" || r.Session != "a" {
		t.Fatalf("refused message: %s %s", r.Session, r.Reason)
	}
	f.mu.Lock()
	sentB := f.sent["b"]
	f.mu.Unlock()
	if len(sentB) != 1 || sentB[0] != moved.Message.ID {
		t.Fatalf("b sent %v, want exactly the moved message", sentB)
	}
	// The refusal's event follows its durable record: wait for it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		log.mu.Lock()
		n := len(log.events)
		log.mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.events) != 2 {
		t.Fatalf("%d failover events, want 2: %+v", len(log.events), log.events)
	}
	for _, ev := range log.events {
		if ev.Message.ID == moved.Message.ID && (ev.To != "b" || ev.From != "a") {
			t.Errorf("reroute event %+v", ev)
		}
		if ev.Message.ID == refused.Message.ID && ev.Refused != "outside_customer_service_window" {
			t.Errorf("refusal event %+v", ev)
		}
	}
	if da, _ := q.Depth("acme", "a"); da != 0 {
		t.Errorf("a still counts %d waiting", da)
	}
	if !errors.Is(fo.causes[0], provider.ErrBanned) {
		t.Errorf("cause given to the policy: %v", fo.causes[0])
	}
}

// A session reported lost hands every waiting message to failover; one down longer
// than FailoverAfter does too, by itself.
func TestFailoverOfWaitingMessages(t *testing.T) {
	for _, c := range []struct {
		name  string
		after bool
	}{{"SessionLost", false}, {"FailoverAfter", true}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			db, q := openQ(t, t.TempDir(), Options{})
			defer db.Close()
			defer q.Close()
			f := newFake()
			o := DispatchOptions{Failover: &staticFailover{}}
			if c.after {
				o.FailoverAfter = 20e6 // 20ms
			}
			d := NewDispatcher(q, bannedA{f}, o)
			defer d.Close()
			d.SessionStatus("acme", "b", true)
			d.SessionStatus("acme", "a", false) // a is down
			var its []Item
			for i := range 5 {
				its = append(its, failoverItem("a", fmt.Sprintf("1555000000%d@c.us", i)))
			}
			if _, err := q.Enqueue(ctx, "acme", its); err != nil {
				t.Fatal(err)
			}
			if !c.after {
				if n := d.SessionLost("acme", "a", provider.ErrLoggedOut); n != 5 {
					t.Fatalf("SessionLost moved %d, want 5", n)
				}
			}
			for _, it := range its {
				if m := waitStatus(t, q, it.Message.ID, StatusSent); m.Session != "b" {
					t.Fatalf("%s sent by %s", it.Message.ID, m.Session)
				}
			}
			if da, total := q.Depth("acme", "a"); da != 0 || total != 0 {
				t.Fatalf("depth after failover: a=%d total=%d", da, total)
			}
		})
	}
}

// Pace (the tenant's rate chain) delays a message without counting an attempt, or
// rejects it with a reason.
func TestPaceDelaysAndRejects(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	var mu sync.Mutex
	asked := map[string]int{}
	d := NewDispatcher(q, f, DispatchOptions{Pace: func(tenant string, m Message, session string) (time.Duration, string) {
		mu.Lock()
		defer mu.Unlock()
		asked[m.ChatID]++
		switch {
		case m.ChatID == "15550000002@c.us":
			return 0, "first_contact_cap"
		case m.ChatID == "15550000001@c.us" && asked[m.ChatID] == 1:
			return 30 * time.Millisecond, ""
		}
		return 0, ""
	}})
	defer d.Close()
	d.SessionStatus("acme", "s", true)
	slow, bad := failoverItem("s", "15550000001@c.us"), failoverItem("s", "15550000002@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{slow, bad}); err != nil {
		t.Fatal(err)
	}
	m := waitStatus(t, q, slow.Message.ID, StatusSent)
	if m.Attempts != 1 {
		t.Fatalf("delayed message took %d attempts, want 1 (a delay is not an attempt)", m.Attempts)
	}
	if r := waitStatus(t, q, bad.Message.ID, StatusFailed); r.Reason != "first_contact_cap" || r.Attempts != 0 {
		t.Fatalf("rejected: %s after %d attempts", r.Reason, r.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["15550000001@c.us"] != 2 {
		t.Fatalf("pace asked %d times about the delayed message, want 2", asked["15550000001@c.us"])
	}
}

// fakeHandoff runs "b" on another node: it takes what is published for it.
type fakeHandoff struct {
	mu   sync.Mutex
	got  []Message
	fail error
}

func (h *fakeHandoff) Remote(tenant, session string) bool { return session == "b" }
func (h *fakeHandoff) Lapsed(tenant, session string) bool { return false }

func (h *fakeHandoff) Publish(ctx context.Context, tenant string, m Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return h.fail
	}
	h.got = append(h.got, m)
	return nil
}

// A reroute to a session another node runs is published for it, with the failover in
// its history, and leaves this node's queue: nothing here sends it, the local record
// shows the move. When the publish fails, the message stays waiting here.
func TestFailoverHandoff(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	h := &fakeHandoff{}
	var log eventLog
	d := NewDispatcher(q, bannedA{f}, DispatchOptions{Failover: &staticFailover{}, Handoff: h, OnFailover: log.add})
	defer d.Close()
	d.SessionStatus("acme", "a", true)
	d.SessionStatus("acme", "b", true)

	it := failoverItem("a", "15550000001@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{it}); err != nil {
		t.Fatal(err)
	}
	var pub []Message
	for deadline := time.Now().Add(5 * time.Second); len(pub) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nothing handed off")
		}
		h.mu.Lock()
		pub = append(pub[:0], h.got...)
		h.mu.Unlock()
	}
	p := pub[0]
	if p.ID != it.Message.ID || p.Session != "b" || p.Status != StatusQueued || p.Attempts != 0 ||
		!strings.HasPrefix(p.History[len(p.History)-1].Reason, "failover from a") {
		t.Fatalf("published %+v", p)
	}
	var local Message
	for deadline := time.Now().Add(5 * time.Second); local.Session != "b"; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the local record was not moved: %+v", local)
		}
		local, _ = q.Get(ctx, "acme", it.Message.ID)
	}
	if local.Status != StatusQueued || len(local.History) != len(p.History) {
		t.Fatalf("local record %+v, published %+v", local, p)
	}
	if da, _ := q.Depth("acme", "a"); da != 0 {
		t.Errorf("a still counts %d waiting", da)
	}
	if db, _ := q.Depth("acme", "b"); db != 0 {
		t.Errorf("b counts %d waiting here; it runs on another node", db)
	}
	d.Wake("acme", "b")
	f.mu.Lock()
	sentB := len(f.sent["b"])
	f.mu.Unlock()
	if sentB != 0 {
		t.Fatalf("b sent %d here", sentB)
	}

	// The publish fails: the message waits for a, as without failover.
	h.mu.Lock()
	h.fail = errors.New("stream unavailable")
	h.mu.Unlock()
	it2 := failoverItem("a", "15550000002@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{it2}); err != nil {
		t.Fatal(err)
	}
	m := waitStatus(t, q, it2.Message.ID, StatusQueued)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && m.Attempts == 0; time.Sleep(5 * time.Millisecond) {
		m, _ = q.Get(ctx, "acme", it2.Message.ID)
	}
	if m.Session != "a" {
		t.Fatalf("a message whose handoff failed moved to %s", m.Session)
	}
}

// leaseHandoff runs every session here until lost is set.
type leaseHandoff struct{ lost atomic.Bool }

func (h *leaseHandoff) Remote(tenant, session string) bool { return h.lost.Load() }
func (h *leaseHandoff) Lapsed(tenant, session string) bool { return h.lost.Load() }
func (h *leaseHandoff) Publish(ctx context.Context, tenant string, m Message) error {
	return errors.New("no other node")
}

// A send whose provider call returns after this node's lease of the session ended (the
// node was frozen during it) raced the new owner: its "sent" record is flagged
// possibleDuplicate. A send while the lease holds is not.
func TestSentAfterLeaseLostIsFlagged(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	f := newFake()
	h := &leaseHandoff{}
	f.fail = func(id string, attempt int) error {
		if strings.HasSuffix(id, "late") {
			h.lost.Store(true) // the lease ends while the call is out
		}
		return nil
	}
	d := NewDispatcher(q, f, DispatchOptions{Handoff: h})
	defer d.Close()
	d.SessionStatus("acme", "a", true)
	on := failoverItem("a", "15550000001@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{on}); err != nil {
		t.Fatal(err)
	}
	if m := waitStatus(t, q, on.Message.ID, StatusSent); m.PossibleDuplicate {
		t.Fatalf("sent under a valid lease, flagged: %+v", m)
	}
	late := failoverItem("a", "15550000002@c.us")
	late.Message.ID += "late"
	if _, err := q.Enqueue(ctx, "acme", []Item{late}); err != nil {
		t.Fatal(err)
	}
	if m := waitStatus(t, q, late.Message.ID, StatusSent); !m.PossibleDuplicate {
		t.Fatalf("sent after the lease ended, not flagged: %+v", m)
	}
}

// FlagDuplicate marks a message possibleDuplicate durably, once; an unknown id is no error.
func TestFlagDuplicate(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	it := failoverItem("a", "15550000001@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{it}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := q.FlagDuplicate("acme", it.Message.ID); err != nil {
			t.Fatal(err)
		}
	}
	m, err := q.Get(ctx, "acme", it.Message.ID)
	if err != nil || !m.PossibleDuplicate || m.Status != StatusQueued || len(m.History) != 1 {
		t.Fatalf("flagged: %+v %v", m, err)
	}
	if err := q.FlagDuplicate("acme", "msg_nope"); err != nil {
		t.Fatalf("unknown id: %v", err)
	}
}

// gracefulHandoff moved every session away, by giving them up: Remote, not Lapsed.
type gracefulHandoff struct{ leaseHandoff }

func (h *gracefulHandoff) Remote(tenant, session string) bool { return true }
func (h *gracefulHandoff) Lapsed(tenant, session string) bool { return false }

// Only a lease that lapsed flags the send: one returning after the node
// gave the session up (a rebalance) raced no one and is recorded sent once.
func TestSentAfterGracefulMoveIsNotFlagged(t *testing.T) {
	ctx := context.Background()
	db, q := openQ(t, t.TempDir(), Options{})
	defer db.Close()
	defer q.Close()
	d := NewDispatcher(q, newFake(), DispatchOptions{Handoff: &gracefulHandoff{}})
	defer d.Close()
	d.SessionStatus("acme", "a", true)
	it := failoverItem("a", "15550000001@c.us")
	if _, err := q.Enqueue(ctx, "acme", []Item{it}); err != nil {
		t.Fatal(err)
	}
	if m := waitStatus(t, q, it.Message.ID, StatusSent); m.PossibleDuplicate {
		t.Fatalf("sent after a graceful move, flagged: %+v", m)
	}
}
