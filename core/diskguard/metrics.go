package diskguard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	free, total, minFree, low prometheus.Gauge
	refused, episodes         prometheus.Counter
	checkErrors               prometheus.Counter
}

func newMetrics(minFree uint64) *metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "wagate", Subsystem: "disk", Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "wagate", Subsystem: "disk", Name: name, Help: help})
	}
	m := &metrics{
		free:        g("free_bytes", "Free space on the filesystem of store.dir at the last reading."),
		total:       g("total_bytes", "Size of the filesystem of store.dir."),
		minFree:     g("min_free_bytes", "The configured minimum of free space (disk.min_free); 0 is off."),
		low:         g("low", "1 while free space is under disk.min_free and new work is refused, else 0."),
		refused:     c("refused_total", "Requests refused with 503 storage_low."),
		episodes:    c("low_episodes_total", "Times free space went under disk.min_free."),
		checkErrors: c("check_errors_total", "Failed readings of free space."),
	}
	m.minFree.Set(float64(minFree))
	return m
}

func (m *metrics) observe(sp Space, low bool) {
	m.free.Set(float64(sp.Free))
	m.total.Set(float64(sp.Total))
	if low {
		m.low.Set(1)
	} else {
		m.low.Set(0)
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range []prometheus.Collector{m.free, m.total, m.minFree, m.low, m.refused, m.episodes, m.checkErrors} {
		c.Describe(ch)
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range []prometheus.Collector{m.free, m.total, m.minFree, m.low, m.refused, m.episodes, m.checkErrors} {
		c.Collect(ch)
	}
}
