package steer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pacingMetrics are the pacing metrics steer keeps (namespace wagate, subsystem
// pacing); the pacing rule's own decisions are counted by the rule (plugins/antiban).
type pacingMetrics struct {
	restrictions  *prometheus.CounterVec
	typing        *prometheus.CounterVec
	typingSeconds prometheus.Counter
}

func newPacingMetrics() *pacingMetrics {
	m := &pacingMetrics{
		restrictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "pacing", Name: "restrictions_total",
			Help: "Restrictions providers reported on a number, by reason: temporary_ban, reachout_timelock. Each pauses the session's sends until it ends.",
		}, []string{"reason"}),
		typing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "pacing", Name: "typing_total",
			Help: "Typing indicators before a send, by outcome: shown, failed (the provider refused; the send goes on), unsupported (the provider cannot show typing).",
		}, []string{"outcome"}),
		typingSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "pacing", Name: "typing_seconds_total",
			Help: "Time spent showing the typing indicator before sends.",
		}),
	}
	for _, r := range []string{"temporary_ban", "reachout_timelock"} {
		m.restrictions.WithLabelValues(r)
	}
	for _, o := range []string{"shown", "failed", "unsupported"} {
		m.typing.WithLabelValues(o)
	}
	return m
}

var restrictedDesc = prometheus.NewDesc("wagate_pacing_restricted_sessions",
	"Sessions whose sends are paused now by a restriction, by reason.", []string{"reason"}, nil)

// watchCollector reports the sessions under a restriction, read at scrape time.
type watchCollector struct{ w *Watch }

func (c watchCollector) Describe(ch chan<- *prometheus.Desc) { ch <- restrictedDesc }

func (c watchCollector) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range c.w.restricted(c.w.opts.Now()) {
		ch <- prometheus.MustNewConstMetric(restrictedDesc, prometheus.GaugeValue, float64(n), reason)
	}
}

// typed records one typing indicator shown for d.
func (m *pacingMetrics) typed(outcome string, d time.Duration) {
	m.typing.WithLabelValues(outcome).Inc()
	if outcome == "shown" {
		m.typingSeconds.Add(d.Seconds())
	}
}
