package queue

import "github.com/prometheus/client_golang/prometheus"

var (
	depthDesc = prometheus.NewDesc("wagate_queue_messages_waiting",
		"Messages waiting to be sent, all sessions together.", nil, nil)
	sessionsDesc = prometheus.NewDesc("wagate_queue_sessions_waiting",
		"Sessions with at least one message waiting.", nil, nil)
	ageDesc = prometheus.NewDesc("wagate_queue_oldest_message_age_seconds", ageHelp, nil, nil)
)

const ageHelp = "Time the oldest message still waiting (queued or sending) has been in the queue; 0 when none waits. Read at scrape time: two key seeks per session with messages waiting."

// Collector returns the queue's gauges, read at scrape time (bounded label set: none).
func (q *Queue) Collector() prometheus.Collector { return queueCollector{q} }

type queueCollector struct{ q *Queue }

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- sessionsDesc
	ch <- ageDesc
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.q.depthMu.Lock()
	total, sessions := c.q.total, len(c.q.depth)
	c.q.depthMu.Unlock()
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(total))
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(sessions))
	ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, c.q.oldestAge(c.q.opts.Now()).Seconds())
}

// dispatchMetrics count what the dispatcher does, by outcome.
type dispatchMetrics struct {
	outcomes  *prometheus.CounterVec
	failovers *prometheus.CounterVec
}

func newDispatchMetrics(reg prometheus.Registerer) *dispatchMetrics {
	m := &dispatchMetrics{outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "wagate", Subsystem: "dispatch", Name: "messages_total",
		Help: "Provider calls by outcome: sent, retry (transient error, will retry), failed (final), waiting (session not WORKING), failover (handed to failover); and before a call, paced (the rate policy delayed it), rejected (the rate policy failed it).",
	}, []string{"outcome"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "dispatch", Name: "failovers_total",
			Help: "Failover decisions carried out: rerouted (moved to the fallback session), refused (failed instead, e.g. outside the Cloud API's 24-hour window).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"sent", "retry", "failed", "waiting", "failover", "paced", "rejected"} {
		m.outcomes.WithLabelValues(o)
	}
	for _, o := range []string{"rerouted", "refused"} {
		m.failovers.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.failovers)
	}
	return m
}
