package session

import "github.com/prometheus/client_golang/prometheus"

var (
	sessionsDesc = prometheus.NewDesc("wagate_sessions", "Sessions by state.", []string{"state"}, nil)
	droppedDesc  = prometheus.NewDesc("wagate_session_reports_dropped_total",
		"Provider message and ack reports dropped because a session's inbox was full.", nil, nil)
)

// Collector returns a Prometheus collector of the sessions by state, counted at scrape
// time from the live sessions.
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc; ch <- droppedDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[State]int, len(States))
	c.m.mu.Lock()
	lives := make([]*live, 0, len(c.m.lives))
	for _, l := range c.m.lives {
		lives = append(lives, l)
	}
	c.m.mu.Unlock()
	for _, l := range lives {
		counts[l.snapshot().State]++
	}
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(c.m.dropped.Load()))
	for _, s := range States {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
