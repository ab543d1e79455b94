package retention

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/core/store"
)

// metrics are the Runner's: sweep counters per kind, value-log GC counters, and the
// last usage measurement. Usage series are built at scrape time from the measurement,
// so a deleted tenant's series disappear with the next one.
type metrics struct {
	deleted       *prometheus.CounterVec
	errors        *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	sweepDuration *prometheus.GaugeVec
	gcRuns        prometheus.CounterFunc
	gcRewritten   prometheus.CounterFunc

	kindBytes, kindKeys, tenantBytes, lsmBytes, vlogBytes, measuredAt, measureSeconds *prometheus.Desc

	mu       sync.Mutex
	last     store.Usage
	lastAt   time.Time
	lastTook time.Duration
}

func newMetrics(db *store.DB, kinds []Kind) *metrics {
	const ns = "wagate"
	m := &metrics{
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "retention", Name: "deleted_total",
			Help: "Records deleted by the retention sweeps, by kind."}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "retention", Name: "errors_total",
			Help: "Retention sweeps that failed (retried next round), by kind."}, []string{"kind"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "retention", Name: "last_success_timestamp_seconds",
			Help: "When each kind's sweep last completed without error (Unix time)."}, []string{"kind"}),
		sweepDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: "retention", Name: "sweep_duration_seconds",
			Help: "How long each kind's last sweep took."}, []string{"kind"}),
		gcRuns: prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: "store", Name: "gc_runs_total",
			Help: "Value-log garbage collection runs (scheduled, and after retention rounds that deleted something)."},
			func() float64 { return float64(db.GCStats().Runs) }),
		gcRewritten: prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: "store", Name: "gc_rewritten_files_total",
			Help: "Value-log files rewritten by garbage collection (their stale space reclaimed)."},
			func() float64 { return float64(db.GCStats().Rewritten) }),
		kindBytes: prometheus.NewDesc(ns+"_storage_bytes",
			"Live data in the store by kind (key prefix, docs/storage.md): key and value bytes, from the last measurement.", []string{"kind"}, nil),
		kindKeys: prometheus.NewDesc(ns+"_storage_keys",
			"Live keys in the store by kind (key prefix), from the last measurement.", []string{"kind"}, nil),
		tenantBytes: prometheus.NewDesc(ns+"_storage_tenant_bytes",
			"Live data of each tenant, every kind together, from the last measurement.", []string{"tenant"}, nil),
		lsmBytes: prometheus.NewDesc(ns+"_storage_lsm_bytes",
			"Size of Badger's SST files, stale data included.", nil, nil),
		vlogBytes: prometheus.NewDesc(ns+"_storage_vlog_bytes",
			"Size of Badger's value-log files, stale data not yet reclaimed by GC included.", nil, nil),
		measuredAt: prometheus.NewDesc(ns+"_storage_measured_timestamp_seconds",
			"When the storage usage was last measured (Unix time).", nil, nil),
		measureSeconds: prometheus.NewDesc(ns+"_storage_measure_duration_seconds",
			"How long the last storage usage measurement took.", nil, nil),
	}
	for _, k := range kinds { // every kind has a series from the start
		m.deleted.WithLabelValues(k.Name)
		m.errors.WithLabelValues(k.Name)
	}
	return m
}

func (m *metrics) setUsage(u store.Usage, at time.Time, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last, m.lastAt, m.lastTook = u, at, took
}

func (m *metrics) usage() (store.Usage, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, m.lastAt
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.deleted.Describe(ch)
	m.errors.Describe(ch)
	m.lastSuccess.Describe(ch)
	m.sweepDuration.Describe(ch)
	m.gcRuns.Describe(ch)
	m.gcRewritten.Describe(ch)
	for _, d := range []*prometheus.Desc{m.kindBytes, m.kindKeys, m.tenantBytes, m.lsmBytes, m.vlogBytes, m.measuredAt, m.measureSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.deleted.Collect(ch)
	m.errors.Collect(ch)
	m.lastSuccess.Collect(ch)
	m.sweepDuration.Collect(ch)
	m.gcRuns.Collect(ch)
	m.gcRewritten.Collect(ch)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastAt.IsZero() {
		return
	}
	for k, s := range m.last.Kinds {
		ch <- prometheus.MustNewConstMetric(m.kindBytes, prometheus.GaugeValue, float64(s.Bytes), string(k))
		ch <- prometheus.MustNewConstMetric(m.kindKeys, prometheus.GaugeValue, float64(s.Keys), string(k))
	}
	for t, s := range m.last.Tenants {
		ch <- prometheus.MustNewConstMetric(m.tenantBytes, prometheus.GaugeValue, float64(s.Bytes), t)
	}
	ch <- prometheus.MustNewConstMetric(m.lsmBytes, prometheus.GaugeValue, float64(m.last.LSMBytes))
	ch <- prometheus.MustNewConstMetric(m.vlogBytes, prometheus.GaugeValue, float64(m.last.VLogBytes))
	ch <- prometheus.MustNewConstMetric(m.measuredAt, prometheus.GaugeValue, float64(m.lastAt.Unix()))
	ch <- prometheus.MustNewConstMetric(m.measureSeconds, prometheus.GaugeValue, m.lastTook.Seconds())
}
