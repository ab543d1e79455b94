package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flakyReceiver is a webhook receiver on a fixed loopback address that answers 500 to
// 30% of requests, holds 10% past the gateway's timeout (then 500), and can be taken
// down entirely (its listener closed) and brought back on the same address. It records
// the event ids it accepted (answered 200 in time), in order.
type flakyReceiver struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
	n    int
	// accepted lists (event id, session) in acceptance order; times counts them per id.
	accepted []acceptedEvent
	times    map[string]int
}

type acceptedEvent struct{ id, session, msg, ack string }

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	r := &flakyReceiver{addr: freeAddr(t), times: map[string]int{}}
	r.up(t)
	t.Cleanup(r.down)
	return r
}

func (r *flakyReceiver) up(t *testing.T) {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve)}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

func (r *flakyReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (r *flakyReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	// Deterministic per request: the request number and the event decide.
	h := fnv.New32a()
	fmt.Fprintf(h, "%d/%s", n, id)
	switch v := h.Sum32() % 100; {
	case v < 30:
		w.WriteHeader(500)
		return
	case v < 40:
		time.Sleep(700 * time.Millisecond) // past webhooks.timeout (300ms)
		w.WriteHeader(500)
		return
	}
	var env struct {
		Session string
		Payload struct{ ID, Status string }
	}
	json.Unmarshal(body, &env)
	r.mu.Lock()
	r.accepted = append(r.accepted, acceptedEvent{id, env.Session, env.Payload.ID, env.Payload.Status})
	r.times[id]++
	r.mu.Unlock()
	w.WriteHeader(200)
}

func (r *flakyReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted)
}

// The webhook must-show: a receiver failing 30% of requests with 500, timing out on
// 10%, and down entirely for a stretch, while the gateway is SIGKILLed and restarted
// once: every event in the outbox is delivered, in order per session, and a webhook-id
// is accepted twice only for deliveries in flight at the kill (at-least-once).
func TestWebhookDeliveryUnderFaultsAndCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a gateway process")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	rcv := newFlakyReceiver(t)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(cfgPath, []byte(`
server:
  listen: `+addr+`
store:
  dir: `+filepath.Join(dir, "data")+`
admin:
  api_key: `+adminKey+`
log:
  level: error
limits:
  default_plan:
    max_sessions: 10
    max_messages_per_day: 0
queue:
  rate_per_session: 0
webhooks:
  allow_networks: 127.0.0.1/32
  timeout: 300ms
  backoff_base: 20ms
  backoff_max: 200ms
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 1ms
    delivery_delay: 2ms
    read_delay: 2ms
`), 0o600)
	c := startChild(t, cfgPath, addr)
	key := childTenant(t, c.base, "hooks")
	code, body, _ := post(c.base, "/api/webhooks", key, `{"url":"http://`+rcv.addr+`/hook","events":["message.ack"]}`)
	if code != 201 {
		t.Fatalf("webhook: %d %s", code, body)
	}
	var hook struct{ ID string }
	json.Unmarshal(body, &hook)
	sessions := []string{"a", "b", "c"}
	childSessions(t, c.base, key, sessions...)
	sendAll := func(base string, from, to int) {
		for i := from; i < to; i++ {
			s := sessions[i%len(sessions)]
			code, body, err := post(base, "/api/sendText", key, fmt.Sprintf(`{"session":%q,"chatId":"1555000%04d","text":"m%d"}`, s, i, i))
			if err != nil || code != 202 {
				t.Fatalf("send %d: %d %s %v", i, code, body, err)
			}
		}
	}
	sendAll(c.base, 0, 30)
	waitCount := func(n int, what string) {
		deadline := time.Now().Add(60 * time.Second)
		for rcv.count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the receiver accepted %d, want %d", what, rcv.count(), n)
			}
			time.Sleep(10 * time.Millisecond) // polling a counter with a deadline
		}
	}
	waitCount(20, "before the outage")
	rcv.down() // down entirely: connections refused
	sendAll(c.base, 30, 45)
	time.Sleep(500 * time.Millisecond) // the outage lasts a while: attempts fail meanwhile
	rcv.up(t)
	waitCount(60, "after the outage")
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()

	c = startChild(t, cfgPath, addr)
	sendAll(c.base, 45, 60)
	// Settled: nothing pending in the outbox, twice in a row, and the sends all read.
	get := func(path string, v any) {
		req, _ := http.NewRequest("GET", c.base+path, nil)
		req.Header.Set("X-Api-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		json.NewDecoder(res.Body).Decode(v)
	}
	type delivery struct {
		ID, EventID, Session, Status string
	}
	deadline := time.Now().Add(120 * time.Second)
	quiet := 0
	for quiet < 2 {
		var page struct{ Deliveries []delivery }
		get("/api/webhooks/"+hook.ID+"/deliveries?status=pending&limit=500", &page)
		if len(page.Deliveries) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still pending after 2 minutes", len(page.Deliveries))
		}
		time.Sleep(300 * time.Millisecond) // polling the outbox with a deadline
	}
	var all []delivery
	before := ""
	for {
		var page struct {
			Deliveries []delivery
			Next       string
		}
		get("/api/webhooks/"+hook.ID+"/deliveries?limit=500"+before, &page)
		all = append(all, page.Deliveries...)
		if page.Next == "" {
			break
		}
		before = "&before=" + page.Next
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(all) < 60*3 {
		t.Fatalf("only %d deliveries in the log for 60 messages", len(all))
	}
	// Every message's final receipt (read) reached the receiver.
	reads := map[string]bool{}
	for _, a := range rcv.accepted {
		if a.ack == "read" {
			reads[a.msg] = true
		}
	}
	if len(reads) != 60 {
		t.Errorf("the receiver got the read receipt of %d messages, want 60", len(reads))
	}
	// Every delivery delivered and accepted by the receiver.
	for _, d := range all {
		if d.Status != "delivered" {
			t.Errorf("delivery %s of %s: %s", d.ID, d.EventID, d.Status)
		}
		if rcv.times[d.EventID] == 0 {
			t.Errorf("event %s (%s) never accepted by the receiver", d.EventID, d.Session)
		}
	}
	// In order per session: the first acceptances follow the deliveries' creation order.
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	firstAt := map[string]int{}
	for i, a := range rcv.accepted {
		if _, seen := firstAt[a.id]; !seen {
			firstAt[a.id] = i
		}
	}
	last := map[string]int{}
	for _, d := range all {
		at := firstAt[d.EventID]
		if prev, ok := last[d.Session]; ok && at < prev {
			t.Errorf("session %s: event %s accepted before an earlier one", d.Session, d.EventID)
		}
		last[d.Session] = at
	}
	// At least once: an id accepted twice only for a delivery in flight at the kill —
	// one per session at most (ordered endpoint).
	dups := 0
	for _, n := range rcv.times {
		if n > 1 {
			dups += n - 1
		}
	}
	t.Logf("deliveries %d, receiver requests %d, accepted %d, duplicates %d", len(all), rcv.n, len(rcv.accepted), dups)
	if dups > len(sessions) {
		t.Errorf("%d duplicate acceptances; at most %d (one in flight per session at the kill)", dups, len(sessions))
	}
}
