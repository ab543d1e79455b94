package outq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/clustertest"
)

// solo starts one embedded JetStream server and opens the queue on it.
func solo(t testing.TB, o Options) (*Queue, *cluster.Embedded) {
	t.Helper()
	srv := clustertest.Solo(t)
	js := jsOn(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := Open(ctx, js, o)
	if err != nil {
		t.Fatal(err)
	}
	return q, srv
}

func jsOn(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// fence is a lease that stays valid until ended; endSoon ends it after one more check
// (the one Consume makes when a handler returns): "the lease ends right after this
// send", so that the send is acknowledged and nothing more is handed over.
type fence struct{ ended, endSoon, released atomic.Bool }

func (f *fence) Valid() bool {
	if f.ended.Load() {
		return false
	}
	if f.endSoon.Load() {
		f.ended.Store(true)
	}
	return true
}

func (f *fence) Released() bool { return f.ended.Load() && f.released.Load() }

func publish(t *testing.T, q *Queue, k cluster.Key, n int, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		id := fmt.Sprintf("%s%04d", prefix, i)
		if _, err := q.Publish(ctx, k, id, []byte("body of "+id)); err != nil {
			t.Fatal(err)
		}
	}
}

func pending(t *testing.T, q *Queue, k cluster.Key) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := q.Pending(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPublishDeduplicates(t *testing.T) {
	q, _ := solo(t, Options{})
	ctx := context.Background()
	k := cluster.Key("acme.s1")
	first, err := q.Publish(ctx, k, "m1", []byte("a"))
	if err != nil || first.Duplicate {
		t.Fatalf("first publish: %+v %v", first, err)
	}
	again, err := q.Publish(ctx, k, "m1", []byte("a"))
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("second publish of m1: %+v %v, want a duplicate of seq %d", again, err, first.Seq)
	}
	if _, err := q.Publish(ctx, k, "", []byte("a")); err == nil {
		t.Error("a publish without id was accepted")
	}
	if n := pending(t, q, k); n != 1 {
		t.Errorf("pending %d, want 1", n)
	}
}

// Messages come in order, one at a time, and leave the stream once handled; a Retry
// keeps the message's place and is not flagged; an unknown outcome is flagged.
func TestConsumeOrderRetryAndUnknown(t *testing.T) {
	q, _ := solo(t, Options{AckWait: 2 * time.Second, Poll: 200 * time.Millisecond})
	k := cluster.Key("acme.s1")
	other := cluster.Key("acme.s2")
	publish(t, q, k, 50, "m")
	publish(t, q, other, 3, "o")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []Delivery
	inFlight := atomic.Int32{}
	retried, unknown := false, false
	f := &fence{}
	err := q.Consume(ctx, k, f, func(ctx context.Context, d Delivery) error {
		if inFlight.Add(1) != 1 {
			t.Error("two deliveries of one session in flight")
		}
		defer inFlight.Add(-1)
		if d.ID == "m0010" && !retried {
			retried = true
			return Retry(50 * time.Millisecond)
		}
		if d.ID == "m0020" && !unknown {
			unknown = true
			return errors.New("timeout: the provider may have sent it")
		}
		got = append(got, d)
		if len(got) == 50 {
			f.endSoon.Store(true)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Fatalf("handled %d, want 50", len(got))
	}
	for i, d := range got {
		want := fmt.Sprintf("m%04d", i)
		if d.ID != want || string(d.Payload) != "body of "+want || d.Key != k {
			t.Fatalf("delivery %d: %+v, want %s", i, d, want)
		}
		switch d.ID {
		case "m0010":
			if d.PossibleDuplicate || d.Attempt != 2 {
				t.Errorf("retried message: attempt %d duplicate %v, want 2 and false", d.Attempt, d.PossibleDuplicate)
			}
		case "m0020":
			if !d.PossibleDuplicate || d.Attempt != 2 {
				t.Errorf("message of unknown outcome: attempt %d duplicate %v, want 2 and true", d.Attempt, d.PossibleDuplicate)
			}
		default:
			if d.PossibleDuplicate || d.Attempt != 1 {
				t.Errorf("%s: attempt %d duplicate %v", d.ID, d.Attempt, d.PossibleDuplicate)
			}
		}
	}
	if n := pending(t, q, k); n != 0 {
		t.Errorf("%d messages left for %s", n, k)
	}
	if n := pending(t, q, other); n != 3 {
		t.Errorf("%d messages left for %s, want its 3 untouched", n, other)
	}
}

// A consumer whose fence ends hands nothing more over, and gives a message it fetched
// but did not hand over back at once.
func TestConsumeStopsWhenFenceEnds(t *testing.T) {
	q, _ := solo(t, Options{AckWait: 30 * time.Second, Poll: 200 * time.Millisecond})
	k := cluster.Key("acme.s1")
	publish(t, q, k, 5, "m")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := &fence{}
	n := 0
	_ = q.Consume(ctx, k, f, func(ctx context.Context, d Delivery) error {
		n++
		if n == 2 {
			f.endSoon.Store(true)
		}
		return nil
	})
	if n != 2 {
		t.Fatalf("handled %d after the fence ended at 2", n)
	}
	// The next owner gets message 3 at once, though AckWait is 30 s.
	var next []string
	start := time.Now()
	f2 := &fence{}
	_ = q.Consume(ctx, k, f2, func(ctx context.Context, d Delivery) error {
		next = append(next, d.ID)
		if d.PossibleDuplicate {
			t.Errorf("%s flagged: it was never handed over", d.ID)
		}
		if len(next) == 3 {
			f2.endSoon.Store(true)
		}
		return nil
	})
	if fmt.Sprint(next) != "[m0002 m0003 m0004]" {
		t.Errorf("next owner got %v", next)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the next owner waited %s: the message was not given back", took)
	}
}

// sendLog is the provider's side: every message sent, by whom, flagged or not.
type sendLog struct {
	mu    sync.Mutex
	sends map[string][]Delivery
	order map[cluster.Key][]uint64
}

func (s *sendLog) record(d Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends[d.ID] = append(s.sends[d.ID], d)
	s.order[d.Key] = append(s.order[d.Key], d.Seq)
}

func (s *sendLog) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sends)
}

// queueHandler runs Consume for every session a node owns.
type queueHandler struct {
	q    *Queue
	log  *sendLog
	dead *atomic.Bool // the node's process died: it sends and acknowledges nothing more
	// crash, when set, asks the node to die right after its next send, before the
	// acknowledgement: the send a crash makes a duplicate of.
	crash *atomic.Bool
	die   func()
	mu    sync.Mutex
	done  map[cluster.Key]chan struct{}
}

func (h *queueHandler) Start(ctx context.Context, l *cluster.Lease) error {
	done := make(chan struct{})
	h.mu.Lock()
	h.done[l.Key()] = done
	h.mu.Unlock()
	go func() {
		defer close(done)
		_ = h.q.Consume(l.Context(), l.Key(), l, func(ctx context.Context, d Delivery) error {
			if h.dead.Load() {
				<-ctx.Done() // a dead process answers nothing
				return ctx.Err()
			}
			time.Sleep(time.Millisecond) // the provider's latency
			h.log.record(d)
			if h.crash != nil && h.crash.Load() {
				h.die() // died after sending, before the acknowledgement
			}
			if h.dead.Load() {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
	}()
	return nil
}

func (h *queueHandler) Stop(ctx context.Context, k cluster.Key, reason cluster.StopReason) {
	h.mu.Lock()
	done := h.done[k]
	h.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// The send queue across a node's death: 3 nodes on a 3-server JetStream cluster, 9
// sessions, 3,000 messages published through every server while one node and its server
// are killed. Every message is sent, in order per session, exactly once, or twice with
// the second flagged PossibleDuplicate (at most one per session of the killed node).
func TestQueueAcrossNodeKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lc, err := cluster.StartLocalCluster(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lc.Shutdown)
	const ttl = 3 * time.Second
	opts := Options{Replicas: 3, AckWait: ttl, Poll: 300 * time.Millisecond}
	var sessions []cluster.Key
	for i := range 9 {
		sessions = append(sessions, cluster.Key(fmt.Sprintf("acme.s%d", i)))
	}
	log := &sendLog{sends: map[string][]Delivery{}, order: map[cluster.Key][]uint64{}}
	var pubs []*Queue
	var conns []*nats.Conn
	var deaths []*atomic.Bool
	// c dies from inside a send (die is set below, once c's connection exists).
	crash := &atomic.Bool{}
	killed := make(chan struct{})
	var once sync.Once
	die := func() {
		once.Do(func() {
			deaths[2].Store(true)
			conns[2].Close()
			lc.Kill(2)
			close(killed)
		})
	}
	for i, id := range []string{"a", "b", "c"} {
		nc, err := nats.Connect(lc.URL(i), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		q, err := Open(ctx, js, opts)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, q)
		conns = append(conns, nc)
		dead := &atomic.Bool{}
		deaths = append(deaths, dead)
		h := &queueHandler{q: q, log: log, dead: dead, done: map[cluster.Key]chan struct{}{}}
		if id == "c" {
			h.crash, h.die = crash, die
		}
		n, err := cluster.NewNode(nc, cluster.Options{
			NodeID: id, LeaseTTL: ttl, RenewInterval: 900 * time.Millisecond, SafetyMargin: 700 * time.Millisecond,
			OpTimeout: 450 * time.Millisecond, ReconcileInterval: 200 * time.Millisecond, Settle: 300 * time.Millisecond,
			RebalanceMoves: -1, Replicas: 3, Wanted: func() []cluster.Key { return sessions }, Handler: h,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = n.Close(cctx)
		})
	}
	const total = 3000
	ids := make([]string, total)
	var published sync.WaitGroup
	for w := range 3 { // one publisher per server, each its share of every session
		published.Add(1)
		go func() {
			defer published.Done()
			for i := w; i < total; i += 3 {
				k := sessions[i%len(sessions)]
				id := fmt.Sprintf("msg-%05d", i)
				for {
					if w == 2 && deaths[2].Load() {
						return // the killed node's clients die with it
					}
					// Each attempt is bounded: a publish in flight to a stream leader that
					// dies gets no answer, and a client gives up and retries, as an HTTP
					// client of the gateway would.
					pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
					_, err := pubs[w].Publish(pctx, k, id, []byte(id))
					pcancel()
					if err == nil {
						ids[i] = id
						break
					}
					if w == 2 && deaths[2].Load() {
						return // maybe stored, never acknowledged to the client: not accepted
					}
					if ctx.Err() != nil {
						t.Errorf("publish %s through server %d: %v", id, w, err)
						return
					}
					// The stream's leader may be moving after the kill: a client retries
					// with the same id, which the stream deduplicates.
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	// Kill c (its node and its server) once a third of the messages were sent.
	deadline := time.Now().Add(30 * time.Second)
	for log.distinct() < total/3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	crash.Store(true)
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatal("c never sent after the crash was asked for")
	}
	killedAt := time.Now()
	published.Wait()
	want := 0
	for _, id := range ids {
		if id != "" {
			want++
		}
	}
	allSent := func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		for _, id := range ids {
			if id != "" && len(log.sends[id]) == 0 {
				return false
			}
		}
		return true
	}
	for !allSent() && time.Now().Before(killedAt.Add(40*time.Second)) {
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	t.Logf("%d messages accepted (c's publisher stopped at its death), %d sent; all sent %s after the kill",
		want, log.distinct(), time.Since(killedAt).Round(time.Millisecond))
	log.mu.Lock()
	defer log.mu.Unlock()
	dups := 0
	for _, id := range ids {
		if id == "" {
			continue
		}
		s := log.sends[id]
		switch {
		case len(s) == 0:
			t.Errorf("%s accepted and never sent", id)
		case len(s) == 1:
			// Flagged and sent once is allowed: a message handed to c's handler as it
			// died, not sent, is flagged on its redelivery (it may have been sent).
		case len(s) == 2:
			dups++
			if s[0].PossibleDuplicate || !s[1].PossibleDuplicate {
				t.Errorf("%s sent twice, flags %v then %v: the second must be flagged", id, s[0].PossibleDuplicate, s[1].PossibleDuplicate)
			}
		default:
			t.Errorf("%s sent %d times", id, len(s))
		}
	}
	// c died right after a send: that one at least comes twice. Survivors may add a few:
	// an acknowledgement lost while the stream's leader moves after the kill brings its
	// message back after AckWait, flagged like any other.
	if dups < 1 {
		t.Errorf("no message sent twice: c died right after a send, before its acknowledgement")
	}
	for k, seqs := range log.order {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				t.Errorf("%s: seq %d sent after %d", k, seqs[i], seqs[i-1])
				break
			}
		}
	}
	t.Logf("%d messages sent twice, each flagged on its second send", dups)
}

// An owner whose lease ends while its handler runs (a node frozen past its lease, then
// resumed) neither acknowledges nor gives the message back: the next owner gets it,
// flagged, even though the stale handler answered "done".
func TestStaleOwnerNeverAcknowledges(t *testing.T) {
	var mu sync.Mutex
	var left []string
	q, _ := solo(t, Options{AckWait: time.Second, Poll: 200 * time.Millisecond, Left: func(d Delivery) {
		mu.Lock()
		left = append(left, d.ID)
		mu.Unlock()
	}})
	k := cluster.Key("acme.s1")
	publish(t, q, k, 2, "m")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stale := &fence{}
	_ = q.Consume(ctx, k, stale, func(ctx context.Context, d Delivery) error {
		stale.ended.Store(true) // the lease ends during the send
		return nil
	})
	var got []Delivery
	next := &fence{}
	_ = q.Consume(ctx, k, next, func(ctx context.Context, d Delivery) error {
		got = append(got, d)
		if len(got) == 2 {
			next.endSoon.Store(true)
		}
		return nil
	})
	if len(got) != 2 || got[0].ID != "m0000" || !got[0].PossibleDuplicate || got[0].Attempt != 2 || got[1].ID != "m0001" || got[1].PossibleDuplicate {
		t.Fatalf("next owner got %+v, want m0000 flagged on its 2nd attempt, then m0001", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(left, []string{"m0000"}) {
		t.Errorf("Left told of %v, want the stale owner's m0000", left)
	}
	if n := pending(t, q, k); n != 0 {
		t.Errorf("%d left", n)
	}
}

// A lease its holder gives up while a handler runs (a rebalance) is not a stale owner:
// the handler's outcome is acted on at once. A sent message is acknowledged (the next
// owner never gets it), one given back reaches the next owner at once, unflagged — not
// after AckWait, which here is longer than the test's whole budget.
func TestGivenUpOwnerAcknowledges(t *testing.T) {
	q, _ := solo(t, Options{AckWait: time.Minute, Poll: 200 * time.Millisecond})
	for _, tc := range []struct {
		name    string
		outcome error
		want    []string // what the next owner gets
	}{
		{"sent", nil, []string{"a0001"}},
		{"not sent", Retry(0), []string{"b0000", "b0001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			k := cluster.Key("acme." + strings.ReplaceAll(tc.name, " ", ""))
			publish(t, q, k, 2, tc.want[len(tc.want)-1][:1]) // ids are deduplicated stream-wide
			old := &fence{}
			_ = q.Consume(ctx, k, old, func(ctx context.Context, d Delivery) error {
				old.released.Store(true) // given up during the send
				old.ended.Store(true)
				return tc.outcome
			})
			var got []string
			next := &fence{}
			_ = q.Consume(ctx, k, next, func(ctx context.Context, d Delivery) error {
				if d.PossibleDuplicate {
					t.Errorf("%s flagged possibleDuplicate", d.ID)
				}
				if got = append(got, d.ID); len(got) == len(tc.want) {
					next.endSoon.Store(true)
				}
				return nil
			})
			if ctx.Err() != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("next owner got %v (%v), want %v", got, ctx.Err(), tc.want)
			}
		})
	}
}

// A lease given up counts as this node's only while its delivery was kept alive: when no
// progress reached the server for 2/3 of AckWait (the node was frozen or cut off, simulated
// here by a fence that stopped the keep-alive before it was given up), the message may
// be another node's already, so it is left, and comes back flagged.
func TestGivenUpAfterAGapIsLeft(t *testing.T) {
	q, _ := solo(t, Options{AckWait: time.Second, Poll: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	k := cluster.Key("acme.gap")
	publish(t, q, k, 1, "g")
	old := &fence{}
	_ = q.Consume(ctx, k, old, func(ctx context.Context, d Delivery) error {
		old.ended.Store(true)              // the keep-alive stops at its next tick
		time.Sleep(900 * time.Millisecond) // no progress for more than 2/3 of AckWait
		old.released.Store(true)
		return nil
	})
	var got []Delivery
	next := &fence{}
	_ = q.Consume(ctx, k, next, func(ctx context.Context, d Delivery) error {
		got = append(got, d)
		next.endSoon.Store(true)
		return nil
	})
	if len(got) != 1 || got[0].ID != "g0000" || !got[0].PossibleDuplicate || got[0].Attempt != 2 {
		t.Fatalf("next owner got %+v, want g0000 flagged on its 2nd attempt", got)
	}
}
