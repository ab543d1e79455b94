package memguard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	limit, high, inUse, heapObjects, pressure prometheus.Gauge
	shed, episodes, collections               prometheus.Counter
}

func newMetrics(limit int64, high uint64) *metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "wagate", Subsystem: "memory", Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "wagate", Subsystem: "memory", Name: name, Help: help})
	}
	m := &metrics{
		limit:       g("soft_limit_bytes", "The Go soft memory limit the guard works against; 0 is none."),
		high:        g("high_watermark_bytes", "Memory in use above which new work is shed; 0 is never."),
		inUse:       g("in_use_bytes", "Memory the Go runtime holds from the OS (total minus released), at the last reading."),
		heapObjects: g("heap_objects_bytes", "Live and unswept heap objects, at the last reading."),
		pressure:    g("pressure", "1 while memory is over the high watermark and new work is shed, else 0."),
		shed:        c("shed_total", "Requests refused with 429 memory_pressure."),
		episodes:    c("pressure_episodes_total", "Times memory went over the high watermark."),
		collections: c("collections_total", "Garbage collections the guard forced to see whether memory over a watermark was garbage."),
	}
	m.limit.Set(float64(max(limit, 0)))
	m.high.Set(float64(high))
	return m
}

func (m *metrics) observe(r Reading) {
	m.inUse.Set(float64(r.InUse))
	m.heapObjects.Set(float64(r.HeapObjects))
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.limit, m.high, m.inUse, m.heapObjects, m.pressure, m.shed, m.episodes, m.collections}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}
