package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestClusterValidate: good and bad cluster sections, each bad one on its own path.
func TestClusterValidate(t *testing.T) {
	bad := []struct {
		name     string
		mutate   func(*Cluster)
		wantPath string
	}{
		{"node id with a dot", func(c *Cluster) { c.NodeID = "gw.1" }, "cluster.node_id"},
		{"node id too long", func(c *Cluster) { c.NodeID = strings.Repeat("a", 65) }, "cluster.node_id"},
		{"url without scheme", func(c *Cluster) { c.NATSURL = "127.0.0.1:4222" }, "cluster.nats_url"},
		{"url http", func(c *Cluster) { c.NATSURL = "http://nats:4222" }, "cluster.nats_url"},
		{"second url without port", func(c *Cluster) { c.NATSURL = "nats://a:4222,nats://b" }, "cluster.nats_url"},
		{"embedded listen", func(c *Cluster) { c.EmbeddedListen = "4222" }, "cluster.embedded_listen"},
		{"ttl under 1s", func(c *Cluster) { c.LeaseTTL = Duration(500e6) }, "cluster.lease_ttl"},
		{"renew zero", func(c *Cluster) { c.RenewInterval = 0 }, "cluster.renew_interval"},
		{"margin zero", func(c *Cluster) { c.SafetyMargin = 0 }, "cluster.safety_margin"},
		{"renew plus margin at ttl", func(c *Cluster) { c.RenewInterval = Duration(8e9) }, "cluster.renew_interval"},
		{"replicas zero", func(c *Cluster) { c.Replicas = 0 }, "cluster.replicas"},
		{"replicas six", func(c *Cluster) { c.Replicas = 6 }, "cluster.replicas"},
		{"rebalance interval zero", func(c *Cluster) { c.RebalanceInterval = 0 }, "cluster.rebalance_interval"},
		{"moves negative", func(c *Cluster) { c.RebalanceMoves = -1 }, "cluster.rebalance_moves"},
		{"enabled without node id", func(c *Cluster) { c.Enabled, c.Embedded = true, true }, "cluster.node_id"},
		{"enabled without nats", func(c *Cluster) { c.Enabled, c.NodeID = true, "gw-1" }, "cluster.nats_url"},
		{"enabled with both", func(c *Cluster) { c.Enabled, c.NodeID, c.Embedded, c.NATSURL = true, "gw-1", true, "nats://a:4222" }, "cluster.embedded"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults().Cluster
			tt.mutate(&c)
			var v validator
			c.validate(&v)
			if paths := errorPaths(errors.Join(v.errs...)); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]", paths, tt.wantPath)
			}
		})
	}
	good := []func(*Cluster){
		func(c *Cluster) {},
		func(c *Cluster) { c.Enabled, c.NodeID, c.Embedded = true, "gw-1", true },
		func(c *Cluster) { c.Enabled, c.NodeID, c.NATSURL = true, "gw_2", "nats://n1:4222, tls://n2:4222" },
		func(c *Cluster) { c.RebalanceMoves, c.Replicas = 0, 3 },
	}
	for i, mutate := range good {
		c := Defaults().Cluster
		mutate(&c)
		var v validator
		c.validate(&v)
		if len(v.errs) > 0 {
			t.Errorf("good case %d refused: %v", i, v.errs)
		}
	}
}

// TestClusterEnabled: cluster mode is accepted with a node id and a NATS to join, and
// refused without them.
func TestClusterEnabled(t *testing.T) {
	c, err := Parse([]byte("cluster:\n  enabled: true\n  node_id: gw-1\n  embedded: true\n"), nil)
	if err != nil || !c.Cluster.Enabled {
		t.Fatalf("cluster.enabled refused: %v", err)
	}
	_, err = Parse([]byte("cluster:\n  enabled: true\n"), nil)
	if paths := errorPaths(err); !slices.Equal(paths, []string{"cluster.node_id", "cluster.nats_url"}) {
		t.Errorf("error paths = %q, want [cluster.node_id cluster.nats_url]", paths)
	}
	c, err = Parse([]byte("cluster:\n  lease_ttl: 6s\n  renew_interval: 2s\n"), func(k string) (string, bool) {
		return map[string]string{"WAGATE_CLUSTER_NODE_ID": "gw-9"}[k], k == "WAGATE_CLUSTER_NODE_ID"
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.LeaseTTL.D().Seconds() != 6 || c.Cluster.NodeID != "gw-9" {
		t.Errorf("parsed %+v", c.Cluster)
	}
}
