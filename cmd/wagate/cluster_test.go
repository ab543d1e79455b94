package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagate/wagate/core/cluster"
)

// clusterYAML is a gateway node of a cluster on the NATS server url, with short leases
// so that moves take seconds, and the sandbox's send log in dir.
func clusterYAML(dir, node, url string) string {
	return nodeYAML(dir, node) + clusterSection(node, url, 3)
}

// nodeYAML is clusterYAML without its cluster section: a plain Badger gateway with the
// same store, limits, queue and sandbox (the benchmarks' single-node baseline).
func nodeYAML(dir, node string) string {
	return `
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
store:
  dir: ` + filepath.Join(dir, node) + `
  gc_interval: 0
admin:
  api_key: ` + adminKey + `
log:
  level: error
limits:
  default_plan:
    max_sessions: 100
    max_messages_per_day: 1000000
queue:
  rate_per_session: 0
  backoff_base: 10ms
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 10ms
sessions:
  restore_window: 0s
providers:
  sandbox:
    auto_link: 10ms
    send_latency: 0
    delivery_delay: 5ms
    read_delay: 5ms
    send_log: ` + filepath.Join(dir, node+".sends") + `
`
}

// clusterSection is clusterYAML's cluster section, with its buckets and streams on
// replicas servers.
func clusterSection(node, url string, replicas int) string {
	return `cluster:
  enabled: true
  node_id: ` + node + `
  nats_url: ` + url + `
  replicas: ` + strconv.Itoa(replicas) + `
  lease_ttl: 3s
  renew_interval: 1s
  safety_margin: 600ms
  rebalance_interval: 500ms
`
}

// startLocalNATS starts a 3-server JetStream cluster for the test.
func startLocalNATS(t testing.TB) *cluster.LocalCluster { return startNATSServers(t, 3) }

// startNATSServers starts n JetStream servers forming one cluster (n = 1: a standalone
// server); they shut down at the end of the test.
func startNATSServers(t testing.TB, n int) *cluster.LocalCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := cluster.StartLocalCluster(ctx, t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lc.Shutdown)
	return lc
}

// poll calls ok every 20 ms until it returns true, or fails the test after d.
func poll(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// sendLogCounts reads the sandbox send logs of dir: how many times each message id was
// handed to a provider, over every node.
func sendLogCounts(t testing.TB, dir string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.sends"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if id, _, ok := strings.Cut(sc.Text(), " "); ok {
				counts[id]++
			}
		}
		fh.Close()
	}
	return counts
}

// TestClusterThreeNodes runs three gateway nodes on a three-server JetStream cluster:
// a tenant and sessions made on one node are seen on the others, the sessions spread
// over the nodes, sends posted to any node are sent once each by the session's owner
// and their status is read from any node, session routes are forwarded to the owner,
// and when a node leaves, its sessions move and sends go on.
func TestClusterThreeNodes(t *testing.T) {
	lc := startLocalNATS(t)
	dir := t.TempDir()
	var nodes []*testGateway
	for i := range 3 {
		nodes = append(nodes, bootConfig(t, clusterYAML(dir, fmt.Sprintf("gw%d", i+1), lc.URL(i))))
	}
	key := nodes[0].createTenant("acme")
	for i, n := range nodes {
		poll(t, 10*time.Second, fmt.Sprintf("the tenant's key on node %d", i+1), func() bool {
			return n.do("GET", "/api/sessions", key, nil).status == 200
		})
	}
	const sessions = 6
	for s := range sessions {
		name := fmt.Sprintf("s%d", s)
		if r := nodes[s%3].do("POST", "/api/sessions", key, map[string]any{"name": name, "start": true}); r.status != 201 {
			t.Fatalf("create %s: %d %s", name, r.status, r.body)
		}
	}
	owners := func() map[string]string {
		out := map[string]string{}
		for _, n := range nodes {
			if n.g == nil {
				continue
			}
			for _, k := range n.g.cluster.node.Held() {
				_, s := k.Split()
				out[s] = n.g.cfg.Cluster.NodeID
			}
		}
		return out
	}
	working := func(via *testGateway) bool {
		for s := range sessions {
			var info struct{ Status string }
			via.do("GET", fmt.Sprintf("/api/sessions/s%d", s), key, nil).json(t, &info)
			if info.Status != "WORKING" {
				return false
			}
		}
		return true
	}
	poll(t, 20*time.Second, "every session WORKING, seen from node 3", func() bool { return working(nodes[2]) })
	poll(t, 10*time.Second, "sessions spread over the three nodes", func() bool {
		per := map[string]int{}
		for _, n := range owners() {
			per[n]++
		}
		return len(per) == 3
	})
	t.Logf("owners: %v", owners())

	// A session route asked of any node is answered by the owner (the QR of a linked
	// session is refused the same way everywhere).
	for i, n := range nodes {
		if r := n.do("GET", "/api/s0/auth/qr?format=raw", key, nil); r.status == 502 || r.status == 503 {
			t.Errorf("QR through node %d: %d %s", i+1, r.status, r.body)
		}
	}

	send := func(count int, alive []*testGateway) []string {
		var mu sync.Mutex
		var ids []string
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for range count / 4 {
					n := alive[rng.IntN(len(alive))]
					r := n.do("POST", "/api/sendText", key, map[string]any{
						"session": fmt.Sprintf("s%d", rng.IntN(sessions)), "chatId": "15550001111@c.us", "text": "hello"})
					if r.status != 202 {
						t.Errorf("sendText: %d %s", r.status, r.body)
						return
					}
					var out struct{ ID string }
					r.json(t, &out)
					mu.Lock()
					ids = append(ids, out.ID)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return ids
	}
	allSent := func(ids []string, alive []*testGateway) {
		t.Helper()
		var last string
		deadline := time.Now().Add(60 * time.Second)
		for _, id := range ids {
			for {
				var m struct{ Status string }
				r := alive[rand.IntN(len(alive))].do("GET", "/api/messages/"+id, key, nil)
				if r.status == 200 {
					r.json(t, &m)
					if m.Status == "sent" || m.Status == "delivered" || m.Status == "read" {
						break
					}
				}
				last = fmt.Sprintf("%d %s", r.status, r.body)
				if time.Now().After(deadline) {
					for i, n := range alive {
						m, err := n.g.queue.Get(context.Background(), "acme", id)
						t.Logf("node %d has it as %q (%v); holds %v", i, m.Status, err, n.g.cluster.node.Held())
						for _, k := range n.g.cluster.node.Held() {
							p, _ := n.g.cluster.out.Pending(context.Background(), k)
							t.Logf("  %s: %d waiting on the stream", k, p)
						}
					}
					if f := os.Getenv("WAGATE_TEST_STACKS"); f != "" {
						if fh, err := os.Create(f); err == nil {
							pprof.Lookup("goroutine").WriteTo(fh, 2)
							fh.Close()
						}
					}
					t.Fatalf("message %s not sent within 60s: %s", id, last)
				}
				time.Sleep(20 * time.Millisecond) // polling with a deadline
			}
		}
	}
	ids := send(200, nodes)
	allSent(ids, nodes)
	counts := sendLogCounts(t, dir)
	for _, id := range ids {
		if counts[id] != 1 {
			t.Errorf("message %s sent %d times", id, counts[id])
		}
	}

	// Node 1 leaves: its sessions move to the others, which send what comes next.
	left := nodes[0].g.cfg.Cluster.NodeID
	nodes[0].stop()
	alive := nodes[1:]
	t.Cleanup(func() {
		if t.Failed() { // what each node's mirror says, for the failure's reader
			t.Logf("owners %v", owners())
			for s := range sessions {
				t.Logf("s%d: %s", s, alive[0].do("GET", fmt.Sprintf("/api/sessions/s%d", s), key, nil).body)
			}
		}
	})
	poll(t, 20*time.Second, "the leaving node's sessions taken over", func() bool {
		o := owners()
		if len(o) != sessions {
			return false
		}
		for _, n := range o {
			if n == left {
				return false
			}
		}
		return working(alive[0])
	})
	more := send(100, alive)
	allSent(more, alive)
	counts = sendLogCounts(t, dir)
	for _, id := range more {
		if counts[id] != 1 {
			t.Errorf("message %s sent %d times after the move", id, counts[id])
		}
	}
}
