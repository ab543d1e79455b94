package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// clusterWired says whether `wagate serve` runs cluster mode (docs/cluster.md). It
// stays as a switch: a build that cannot run cluster mode refuses cluster.enabled
// rather than ignoring it.
const clusterWired = true

// Cluster configures cluster mode on NATS JetStream (docs/cluster.md): several gateway
// nodes sharing sessions through JetStream KV leases. Off by default; a single node
// keeps everything in its Badger store.
type Cluster struct {
	// Enabled turns cluster mode on. Needs NATSURL or Embedded. Default false.
	Enabled bool `yaml:"enabled"`
	// NodeID names this node, unique in the cluster: letters, digits, '-' and '_', at
	// most 64. Required when enabled.
	NodeID string `yaml:"node_id"`
	// NATSURL is the NATS server(s) to join, comma-separated nats:// or tls:// URLs.
	// Mutually exclusive with Embedded. Default "".
	NATSURL string `yaml:"nats_url"`
	// Embedded runs a nats-server with JetStream inside the process and joins it: a
	// first node or a trial. Default false.
	Embedded bool `yaml:"embedded"`
	// EmbeddedListen is the embedded server's client address. Default "127.0.0.1:4222".
	EmbeddedListen string `yaml:"embedded_listen"`
	// EmbeddedDir holds the embedded server's JetStream data. "" means <store.dir>/nats.
	EmbeddedDir string `yaml:"embedded_dir"`
	// LeaseTTL is how long a session lease lives without renewal: a dead node's
	// sessions move after it. Every node must use the same. At least 1s. Default 10s.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// RenewInterval is how often a node renews its leases and heartbeat. Default 3s.
	RenewInterval Duration `yaml:"renew_interval"`
	// SafetyMargin is how long before a lease's end a node that could not renew it stops
	// the session. RenewInterval + SafetyMargin must be below LeaseTTL. Default 2s.
	SafetyMargin Duration `yaml:"safety_margin"`
	// Replicas is the replica count of the shared buckets: 1, or 3 in a 3-node NATS
	// cluster (at most 5). Default 1.
	Replicas int `yaml:"replicas"`
	// RebalanceInterval is how often an overloaded node hands sessions to an underloaded
	// one. Default 10s.
	RebalanceInterval Duration `yaml:"rebalance_interval"`
	// RebalanceMoves is the most sessions a node hands over per RebalanceInterval; 0
	// turns rebalancing off. Default 2.
	RebalanceMoves int `yaml:"rebalance_moves"`
}

func defaultCluster() Cluster {
	return Cluster{
		EmbeddedListen:    "127.0.0.1:4222",
		LeaseTTL:          Duration(10 * time.Second),
		RenewInterval:     Duration(3 * time.Second),
		SafetyMargin:      Duration(2 * time.Second),
		Replicas:          1,
		RebalanceInterval: Duration(10 * time.Second),
		RebalanceMoves:    2,
	}
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c Cluster) validate(v *validator) {
	const p = "cluster."
	if c.NodeID != "" && !nodeIDPattern.MatchString(c.NodeID) {
		v.add(p+"node_id", fmt.Sprintf("%q is not letters, digits, '-' and '_' (at most 64)", c.NodeID), "write it like gw-1")
	}
	for _, u := range splitURLs(c.NATSURL) {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "nats" && pu.Scheme != "tls") || pu.Port() == "" || pu.Hostname() == "" {
			v.add(p+"nats_url", fmt.Sprintf("%q is not a nats://host:port URL", u), "write it like nats://127.0.0.1:4222, comma-separated for several")
		}
	}
	if _, _, err := net.SplitHostPort(c.EmbeddedListen); err != nil {
		v.add(p+"embedded_listen", fmt.Sprintf("%q is not host:port", c.EmbeddedListen), "write it like 127.0.0.1:4222")
	}
	if c.LeaseTTL < Duration(time.Second) {
		v.add(p+"lease_ttl", fmt.Sprintf("%s is below 1s, JetStream's shortest TTL", c.LeaseTTL), "write it like 10s")
	}
	v.positive(p+"renew_interval", c.RenewInterval)
	v.positive(p+"safety_margin", c.SafetyMargin)
	if c.LeaseTTL >= Duration(time.Second) && c.RenewInterval > 0 && c.SafetyMargin > 0 && c.RenewInterval+c.SafetyMargin >= c.LeaseTTL {
		v.add(p+"renew_interval", fmt.Sprintf("%s plus safety_margin %s is not below lease_ttl %s", c.RenewInterval, c.SafetyMargin, c.LeaseTTL),
			"renew at most every lease_ttl/3 with a margin of lease_ttl/5, like 3s and 2s for 10s")
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		v.add(p+"replicas", fmt.Sprintf("%d is not from 1 to 5", c.Replicas), "write 1, or 3 for a 3-node NATS cluster")
	}
	v.positive(p+"rebalance_interval", c.RebalanceInterval)
	v.atLeast(p+"rebalance_moves", c.RebalanceMoves, 0)
	if !c.Enabled {
		return
	}
	if c.NodeID == "" {
		v.add(p+"node_id", "is empty with cluster.enabled", "name this node, unique in the cluster, like gw-1")
	}
	switch {
	case c.NATSURL == "" && !c.Embedded:
		v.add(p+"nats_url", "is empty and cluster.embedded is false", "write the NATS URL, like nats://127.0.0.1:4222, or set cluster.embedded: true")
	case c.NATSURL != "" && c.Embedded:
		v.add(p+"embedded", "is true with cluster.nats_url set", "use one: an external NATS (nats_url) or the embedded server")
	}
}

// splitURLs splits a comma-separated list, dropping empty items.
func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}
