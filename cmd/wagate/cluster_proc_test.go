package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/outq"
)

// procCluster is three gateway processes, each on its own server of a three-server
// JetStream cluster, with a tenant, WORKING sandbox sessions spread over the nodes, and
// a webhook endpoint that takes every message.ack. The suites of cluster_kill_test.go
// crash or pause one of the processes.
type procCluster struct {
	t     *testing.T
	lc    *cluster.LocalCluster
	dir   string
	nodes []*child
	key   string
	hooks *hookReceiver
	n     int // sessions: s0 … s<n-1>
	// sessionOf is the session of each accepted send, for diagnostics.
	sessionOf sync.Map
	edit      func(i int, yaml string) string // changes node i's configuration, when set
}

func startProcCluster(t *testing.T, sessions int, edit func(i int, yaml string) string) *procCluster {
	t.Helper()
	pc := &procCluster{t: t, lc: startLocalNATS(t), dir: t.TempDir(), n: sessions, edit: edit}
	pc.nodes = []*child{pc.start(0), pc.start(1), pc.start(2)}
	pc.key = childTenant(t, pc.nodes[0].base, "acme")
	for i, n := range pc.nodes {
		poll(t, 10*time.Second, fmt.Sprintf("the tenant's key on node %d", i+1), func() bool {
			code, _ := pc.get(n.base, "/api/sessions")
			return code == 200
		})
	}
	pc.hooks = newHookReceiver(t)
	code, body, err := post(pc.nodes[0].base, "/api/webhooks", pc.key, `{"url":"`+pc.hooks.srv.URL+`/wa","events":["message.ack"]}`)
	if code != 201 {
		t.Fatalf("webhook: %d %s %v", code, body, err)
	}
	var hook struct{ Secret string }
	json.Unmarshal(body, &hook)
	pc.hooks.mu.Lock()
	pc.hooks.secret = hook.Secret
	pc.hooks.mu.Unlock()
	for s := range sessions {
		if code, body, err := post(pc.nodes[s%3].base, "/api/sessions", pc.key, fmt.Sprintf(`{"name":"s%d","start":true}`, s)); code != 201 {
			t.Fatalf("session s%d: %d %s %v", s, code, body, err)
		}
	}
	var last string
	if !within(30*time.Second, func() bool {
		for s := range sessions {
			var in struct{ Status string }
			_, b := pc.get(pc.nodes[2].base, fmt.Sprintf("/api/sessions/s%d", s))
			if json.Unmarshal(b, &in) != nil || in.Status != "WORKING" {
				last = fmt.Sprintf("s%d: %.300s", s, b)
				return false
			}
		}
		return true
	}) {
		t.Fatalf("every session WORKING: not within 30s; %s", last)
	}
	return pc
}

// start starts (or restarts, on its data dir) node i's process.
func (pc *procCluster) start(i int) *child { return pc.startWithin(i, 20*time.Second) }

// startWithin is start with a readiness deadline of d.
func (pc *procCluster) startWithin(i int, d time.Duration) *child {
	node := fmt.Sprintf("gw%d", i+1)
	addr := freeAddr(pc.t)
	cfg := strings.Replace(clusterYAML(pc.dir, node, pc.lc.URL(i)), "listen: 127.0.0.1:0", "listen: "+addr, 1)
	if pc.edit != nil {
		cfg = pc.edit(i, cfg)
	}
	path := filepath.Join(pc.dir, node+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		pc.t.Fatal(err)
	}
	return startChildWithin(pc.t, d, path, addr)
}

func (pc *procCluster) get(base, path string) (int, []byte) {
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("X-Api-Key", pc.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// load posts total sendTexts from 4 clients to random nodes, skipping the nodes that
// avoid reports; at is called (under a lock) with the count of accepted sends after each
// one. It returns the ids of the accepted sends.
func (pc *procCluster) load(total int, avoid func(i int) bool, at func(accepted int)) []string {
	var (
		mu       sync.Mutex
		accepted []string
		posted   atomic.Int64
		wg       sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 15))
			for posted.Add(1) <= int64(total) {
				i := rng.IntN(3)
				for avoid(i) {
					i = rng.IntN(3)
				}
				sess := fmt.Sprintf("s%d", rng.IntN(pc.n))
				body := fmt.Sprintf(`{"session":"%s","chatId":"1555%07d@c.us","text":"hello"}`, sess, rng.IntN(1000))
				code, b, err := post(pc.nodes[i].base, "/api/sendText", pc.key, body)
				if err != nil || code != 202 {
					continue // not accepted (a node down, a session moving): the client would retry
				}
				var out struct{ ID string }
				json.Unmarshal(b, &out)
				pc.sessionOf.Store(out.ID, sess)
				mu.Lock()
				accepted = append(accepted, out.ID)
				at(len(accepted))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return accepted
}

// allSent waits until every id is in some node's send log, and returns the counts.
func (pc *procCluster) allSent(ids []string, d time.Duration) map[string]int {
	pc.t.Helper()
	var counts map[string]int
	var missing []string
	ok := within(d, func() bool {
		counts = sendLogCounts(pc.t, pc.dir)
		missing = missing[:0]
		for _, id := range ids {
			if counts[id] == 0 {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	if !ok {
		pc.explain(missing)
		for i, id := range missing {
			if i == 5 {
				break
			}
			for j, n := range pc.nodes {
				code, b := pc.get(n.base, "/api/messages/"+id)
				pc.t.Logf("unsent %s on gw%d: %d %.600s", id, j+1, code, b)
			}
		}
		if os.Getenv("WAGATE_CLUSTER_DEBUG") != "" {
			for s := range pc.n {
				for j, n := range pc.nodes {
					_, b := pc.get(n.base, fmt.Sprintf("/api/sessions/s%d", s))
					pc.t.Logf("s%d on gw%d: %.200s", s, j+1, b)
				}
			}
			for _, n := range pc.nodes { // goroutine dumps, to see what waits
				n.cmd.Process.Signal(syscall.SIGQUIT)
			}
			time.Sleep(2 * time.Second)
			for j, n := range pc.nodes {
				pc.t.Logf("gw%d log:\n%s", j+1, n.log.String())
			}
		}
		pc.t.Fatalf("%d of %d accepted sends not in the send logs within %s", len(missing), len(ids), d)
	}
	return counts
}

// flagged checks that every id sent more than once is flagged possibleDuplicate, read
// from node base; it returns how many were sent more than once.
func (pc *procCluster) flagged(ids []string, counts map[string]int, base string) int {
	twice := 0
	for _, id := range ids {
		if counts[id] < 2 {
			continue
		}
		twice++
		var m struct{ PossibleDuplicate bool }
		code, b := pc.get(base, "/api/messages/"+id)
		if code != 200 || json.Unmarshal(b, &m) != nil || !m.PossibleDuplicate {
			pc.t.Errorf("message %s sent %d times, not flagged possibleDuplicate: %d %s", id, counts[id], code, b)
		}
	}
	return twice
}

// hooked waits until a signed message.ack "sent" webhook reached the endpoint for every
// id, from whichever node sent it.
func (pc *procCluster) hooked(ids []string, d time.Duration) {
	pc.t.Helper()
	var missing []string
	defer func() {
		if len(missing) == 0 {
			return
		}
		pc.t.Logf("%d accepted sends without a sent webhook", len(missing))
		byNode := map[string][]string{} // which node's send log has each
		files, _ := filepath.Glob(filepath.Join(pc.dir, "*.sends"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, id := range missing {
				if strings.Contains(string(b), id+" ") {
					byNode[filepath.Base(f)] = append(byNode[filepath.Base(f)], id)
				}
			}
		}
		for f, ids := range byNode {
			pc.t.Logf("in %s: %d, e.g. %s", f, len(ids), ids[0])
			code, b := pc.get(pc.nodes[0].base, "/api/messages/"+ids[0])
			pc.t.Logf("  %d %.600s", code, b)
		}
	}()
	poll(pc.t, d, "a sent webhook for every accepted send", func() bool {
		pc.hooks.mu.Lock()
		seen := map[string]bool{}
		for _, e := range pc.hooks.events {
			var p struct{ ID, Status string }
			if e.Event == "message.ack" && json.Unmarshal(e.Payload, &p) == nil && p.Status == "sent" {
				seen[p.ID] = true
			}
		}
		bad := len(pc.hooks.bad)
		pc.hooks.mu.Unlock()
		if bad > 0 {
			pc.t.Fatalf("%d webhooks with a bad signature", bad)
		}
		missing = missing[:0]
		for _, id := range ids {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
}

// explain logs, for the sessions of unsent messages, who holds each lease and what the
// session's consumer has waiting and in flight.
func (pc *procCluster) explain(missing []string) {
	bySession := map[string]int{}
	for _, id := range missing {
		s, _ := pc.sessionOf.Load(id)
		sess, _ := s.(string)
		bySession[sess]++
	}
	nc, err := nats.Connect(strings.Join([]string{pc.lc.URL(0), pc.lc.URL(1), pc.lc.URL(2)}, ","))
	if err != nil {
		pc.t.Logf("explain: %v", err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	holders := map[cluster.Key]string{}
	if st, err := cluster.ReadStatus(ctx, js); err == nil {
		for _, l := range st.Leases {
			holders[l.Key] = fmt.Sprintf("%s@%d", l.Node, l.Token)
		}
	}
	lags := map[cluster.Key]outq.Lag{}
	if ls, err := outq.ReadLags(ctx, js); err == nil {
		for _, l := range ls {
			lags[l.Key] = l
		}
	}
	for sess, n := range bySession {
		k := cluster.Key("acme." + sess)
		pc.t.Logf("unsent: %d of session %s, lease %s, consumer %+v", n, sess, holders[k], lags[k])
	}
}
