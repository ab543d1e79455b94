package cluster

import "github.com/prometheus/client_golang/prometheus"

// Lease events counted by wagate_cluster_lease_events_total.
const (
	eventClaimed     = "claimed"      // this node won a session's lease
	eventClaimLost   = "claim_lost"   // another node won it first (or the claim failed)
	eventRenewFailed = "renew_failed" // a renewal could not be written (the lease may still be valid)
	eventLost        = "lost"         // a renewal proved the lease taken or gone (StopLost)
	eventExpired     = "expired"      // the watchdog stopped a session whose lease could end (StopExpired)
	eventReleased    = "released"     // released: rebalanced, no longer wanted, or the node closing
)

// metrics are a node's: labels are fixed sets, never session names (a cluster may run
// thousands of sessions; `wagate cluster status` lists them).
type metrics struct {
	held     prometheus.GaugeFunc
	members  prometheus.GaugeFunc
	events   *prometheus.CounterVec
	restarts prometheus.Counter
}

func newMetrics(n *Node, reg prometheus.Registerer) *metrics {
	m := &metrics{
		held: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "cluster", Name: "leases_held",
			Help: "Session leases this node holds: the sessions it runs.",
		}, func() float64 { return float64(len(n.Held())) }),
		members: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "cluster", Name: "members",
			Help: "Live nodes this node sees in the membership bucket, itself included.",
		}, func() float64 { return float64(len(n.Members())) }),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "cluster", Name: "lease_events_total",
			Help: "Lease events on this node: claimed, claim_lost (another node won), renew_failed (a renewal not written), lost (a renewal proved the lease gone: session stopped), expired (the watchdog stopped a session before its lease could end), released.",
		}, []string{"event"}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "cluster", Name: "watch_restarts_total",
			Help: "Bucket watches restarted after falling silent (their consumer's server went away).",
		}),
	}
	for _, e := range []string{eventClaimed, eventClaimLost, eventRenewFailed, eventLost, eventExpired, eventReleased} {
		m.events.WithLabelValues(e)
	}
	if reg != nil {
		reg.MustRegister(m.held, m.members, m.events, m.restarts)
	}
	return m
}

func (m *metrics) event(e string) { m.events.WithLabelValues(e).Inc() }
