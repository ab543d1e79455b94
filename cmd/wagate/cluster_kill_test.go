package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClusterNodeKilled is issue 15's must-show through real processes: three gateway
// processes, each on its own server of a three-server JetStream cluster, 30 sandbox
// sessions spread over them, sends posted to random nodes by 4 clients; one node's
// process is SIGKILLed and its NATS server shut down mid-load. Its sessions move to
// the survivors; every send that got a 202 is sent (the sandbox send logs of all three
// processes, the dead one's included), exactly once, or more than once with its record
// flagged possibleDuplicate; the killed node restarts and rejoins.
//
// 3,000 messages by default (about 20 s); WAGATE_CLUSTER_KILL_MESSAGES=20000 runs the
// issue's figure.
func TestClusterNodeKilled(t *testing.T) {
	total := 3000
	if v, err := strconv.Atoi(os.Getenv("WAGATE_CLUSTER_KILL_MESSAGES")); err == nil && v > 0 {
		total = v
	}
	lc := startLocalNATS(t)
	dir := t.TempDir()
	start := func(i int) *child {
		node := fmt.Sprintf("gw%d", i+1)
		addr := freeAddr(t)
		cfg := strings.Replace(clusterYAML(dir, node, lc.URL(i)), "listen: 127.0.0.1:0", "listen: "+addr, 1)
		path := filepath.Join(dir, node+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return startChild(t, path, addr)
	}
	nodes := []*child{start(0), start(1), start(2)}
	key := childTenant(t, nodes[0].base, "acme")
	get := func(base, path string) (int, []byte) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("X-Api-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	for i, n := range nodes {
		poll(t, 10*time.Second, fmt.Sprintf("the tenant's key on node %d", i+1), func() bool {
			code, _ := get(n.base, "/api/sessions")
			return code == 200
		})
	}
	const sessions = 30
	for s := range sessions {
		if code, body, err := post(nodes[s%3].base, "/api/sessions", key, fmt.Sprintf(`{"name":"s%d","start":true}`, s)); code != 201 {
			t.Fatalf("session s%d: %d %s %v", s, code, body, err)
		}
	}
	poll(t, 30*time.Second, "every session WORKING", func() bool {
		for s := range sessions {
			var in struct{ Status string }
			_, b := get(nodes[2].base, fmt.Sprintf("/api/sessions/s%d", s))
			if json.Unmarshal(b, &in) != nil || in.Status != "WORKING" {
				return false
			}
		}
		return true
	})

	var (
		mu       sync.Mutex
		accepted []string
		dead     atomic.Bool
		killedAt time.Time
		sent     atomic.Int64
	)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 15))
			for sent.Add(1) <= int64(total) {
				n := nodes[rng.IntN(3)]
				if dead.Load() && n == nodes[2] {
					n = nodes[rng.IntN(2)]
				}
				body := fmt.Sprintf(`{"session":"s%d","chatId":"1555%07d@c.us","text":"hello"}`, rng.IntN(sessions), rng.IntN(1000))
				code, b, err := post(n.base, "/api/sendText", key, body)
				if err != nil || code != 202 {
					continue // not accepted (the killed node, or a session moving): the client would retry
				}
				var out struct{ ID string }
				json.Unmarshal(b, &out)
				mu.Lock()
				accepted = append(accepted, out.ID)
				if len(accepted) == total/3 && !dead.Load() {
					nodes[2].cmd.Process.Kill() // SIGKILL
					lc.Kill(2)                  // and its NATS server
					killedAt = time.Now()
					dead.Store(true)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	nodes[2].cmd.Wait()
	t.Logf("%d sends accepted of %d posted; node gw3 killed after %d", len(accepted), total, total/3)
	if !dead.Load() {
		t.Fatal("the node was never killed: too few sends accepted")
	}

	var counts map[string]int
	poll(t, 120*time.Second, "every accepted send in the send logs", func() bool {
		counts = sendLogCounts(t, dir)
		for _, id := range accepted {
			if counts[id] == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("all accepted sends sent %s after the kill", time.Since(killedAt).Round(100*time.Millisecond))
	twice := 0
	for _, id := range accepted {
		if counts[id] < 2 {
			continue
		}
		twice++
		var m struct{ PossibleDuplicate bool }
		code, b := get(nodes[rand.IntN(2)].base, "/api/messages/"+id)
		if code != 200 || json.Unmarshal(b, &m) != nil || !m.PossibleDuplicate {
			t.Errorf("message %s sent %d times, not flagged possibleDuplicate: %d %s", id, counts[id], code, b)
		}
	}
	t.Logf("%d sent more than once, each flagged", twice)

	// The killed node comes back and serves again.
	if err := lc.Restart(2); err != nil {
		t.Fatal(err)
	}
	nodes[2] = start(2)
	code, b, err := post(nodes[2].base, "/api/sendText", key, `{"session":"s0","chatId":"15550000001@c.us","text":"back"}`)
	if code != 202 {
		t.Fatalf("send through the restarted node: %d %s %v", code, b, err)
	}
}
