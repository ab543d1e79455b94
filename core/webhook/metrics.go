package webhook

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	endpoints     prometheus.Gauge
	disabled      prometheus.Counter
	attempts      *prometheus.CounterVec
	latency       prometheus.Histogram
	outboxWrites  prometheus.Counter
	outboxErrors  prometheus.Counter
	outboxSeconds prometheus.Histogram
	dropped       prometheus.Counter
	held          prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		endpoints: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "endpoints",
			Help: "Webhook endpoints configured, all tenants.",
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "endpoints_disabled_total",
			Help: "Endpoints the gateway disabled because every attempt failed for too long.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "attempts_total",
			Help: "Delivery attempts by outcome: delivered, retry (failed, will retry), failed (dead letter).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "attempt_seconds",
			Help:    "Duration of delivery attempts, connect to response.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		outboxWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "outbox_writes_total",
			Help: "Deliveries written to the outbox (one per event and matching endpoint).",
		}),
		outboxErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "outbox_errors_total",
			Help: "Outbox batches the store failed to write.",
		}),
		outboxSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "outbox_write_seconds",
			Help:    "Duration of one outbox batch write, sync included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "transform_dropped_total",
			Help: "Events dropped by a tenant's transform before the outbox.",
		}),
		held: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "webhook", Name: "held_total",
			Help: "Times a worker started no delivery because Hold (memory pressure) asked it to wait.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.endpoints, m.disabled, m.attempts, m.latency, m.outboxWrites, m.outboxErrors,
			m.outboxSeconds, m.dropped, m.held)
	}
	return m
}
