package main

import (
	"fmt"
	"testing"
	"time"
)

// Failover across nodes (docs/cluster.md, "Failover across nodes"): a session banned
// mid-run on one node hands its waiting messages to its fallback, which another node
// runs, through the fallback's send stream. Every message is sent exactly once (the send
// logs of both nodes), some through the banned session before the ban and the rest
// through the fallback on the other node.
func TestClusterFailoverAcrossNodes(t *testing.T) {
	lc := startLocalNATS(t)
	dir := t.TempDir()
	nodes := []*testGateway{
		bootConfig(t, clusterYAML(dir, "gw1", lc.URL(0))),
		bootConfig(t, clusterYAML(dir, "gw2", lc.URL(1))),
	}
	key := nodes[0].createTenant("fo")
	poll(t, 10*time.Second, "the tenant's key on node 2", func() bool {
		return nodes[1].do("GET", "/api/sessions", key, nil).status == 200
	})
	for _, s := range []map[string]any{{"name": "backup", "start": true}, {"name": "web", "fallback": "backup", "start": true}} {
		if r := nodes[0].do("POST", "/api/sessions", key, s); r.status != 201 {
			t.Fatalf("create %v: %d %s", s, r.status, r.body)
		}
	}
	owner := func(name string) string {
		for _, n := range nodes {
			for _, k := range n.g.cluster.node.Held() {
				if _, s := k.Split(); s == name {
					return n.g.cfg.Cluster.NodeID
				}
			}
		}
		return ""
	}
	working := func(name string) bool {
		var info struct{ Status string }
		nodes[1].do("GET", "/api/sessions/"+name, key, nil).json(t, &info)
		return info.Status == "WORKING"
	}
	poll(t, 20*time.Second, "web and backup WORKING on different nodes", func() bool {
		w, b := owner("web"), owner("backup")
		return w != "" && b != "" && w != b && working("web") && working("backup")
	})
	t.Logf("web runs on %s, backup on %s", owner("web"), owner("backup"))
	// Slow sends on web, so that messages are still waiting when the ban comes.
	if r := nodes[1].do("PUT", "/api/sandbox/web/faults", key, map[string]any{"send_latency": "30ms"}); r.status != 200 {
		t.Fatalf("faults: %d %s", r.status, r.body)
	}
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		r := nodes[i%2].do("POST", "/api/sendText", key, map[string]any{"session": "web", "chatId": fmt.Sprintf("1555000%04d", i), "text": "hi"})
		if r.status != 202 {
			t.Fatalf("send %d: %d %s", i, r.status, r.body)
		}
		var a struct{ ID string }
		r.json(t, &a)
		ids[i] = a.ID
	}
	poll(t, 15*time.Second, "web sends a few", func() bool { return len(sendLogCounts(t, dir)) >= 3 })
	if r := nodes[0].do("PUT", "/api/sandbox/web/faults", key, map[string]any{"temp_ban": true}); r.status != 200 {
		t.Fatalf("ban: %d %s", r.status, r.body)
	}

	bySession := map[string]int{}
	for _, id := range ids {
		var m struct{ Status, Session, Reason string }
		var body []byte
		if !within(30*time.Second, func() bool {
			r := nodes[0].do("GET", "/api/messages/"+id, key, nil)
			body = r.body
			r.json(t, &m)
			return m.Status == "sent" || m.Status == "delivered" || m.Status == "read" || m.Status == "failed"
		}) || m.Status == "failed" {
			t.Fatalf("message %s not sent: %s", id, body)
		}
		bySession[m.Session]++
	}
	t.Logf("sent by session: %v", bySession)
	if bySession["backup"] == 0 || bySession["web"] == 0 {
		t.Fatalf("sent by session: %v; want some through web before the ban and the rest through backup", bySession)
	}
	sent := sendLogCounts(t, dir)
	for _, id := range ids {
		if sent[id] != 1 {
			t.Errorf("message %s sent %d times", id, sent[id])
		}
	}
}
