package policy

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the policy chains' Prometheus metrics, shared by every tenant's chain:
//
//	wagate_policy_calls_total{tenant,policy,hook}
//	wagate_policy_errors_total{tenant,policy,hook,reason}   reason: timeout, error, panic, bad_output
//	wagate_policy_call_duration_seconds{tenant,policy,hook} histogram
//	wagate_policy_disabled{tenant,policy}                   1 while the breaker is open
//
// The built-in defaults answering in place of a failed or absent policy are not counted:
// policy is always a bound policy's name.
type Metrics struct {
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	disabled *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not exported, still
// counted). Registering twice with the same reg returns metrics sharing the series of the
// first registration.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "policy", Name: "calls_total",
			Help: "Hook calls made to a bound policy.",
		}, []string{"tenant", "policy", "hook"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "policy", Name: "errors_total",
			Help: "Hook calls that failed (the built-in default answered instead), by reason: timeout, error, panic, bad_output.",
		}, []string{"tenant", "policy", "hook", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "policy", Name: "call_duration_seconds",
			Help:    "Duration of hook calls, including encoding and the host's work.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1µs .. 262ms
		}, []string{"tenant", "policy", "hook"}),
		disabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "wagate", Subsystem: "policy", Name: "disabled",
			Help: "1 while a policy is disabled by its breaker (too many consecutive failures).",
		}, []string{"tenant", "policy"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.calls, err = register(reg, m.calls)
	if err != nil {
		return nil, err
	}
	if m.errors, err = register(reg, m.errors); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.disabled, err = register(reg, m.disabled); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered in its place.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// hookMetrics are one binding's series for one hook, resolved once so that a call only
// increments and observes (no label lookup, no allocation).
type hookMetrics struct {
	calls   prometheus.Counter
	latency prometheus.Observer
	errors  [4]prometheus.Counter // by reasonIndex
}

func (m *Metrics) forHook(tenant, policy string, h Hook) *hookMetrics {
	hm := &hookMetrics{
		calls:   m.calls.WithLabelValues(tenant, policy, h.String()),
		latency: m.latency.WithLabelValues(tenant, policy, h.String()),
	}
	for i, r := range reasons {
		hm.errors[i] = m.errors.WithLabelValues(tenant, policy, h.String(), string(r))
	}
	return hm
}

var reasons = [4]Reason{ReasonTimeout, ReasonError, ReasonPanic, ReasonBadOutput}

func reasonIndex(r Reason) int {
	for i, x := range reasons {
		if x == r {
			return i
		}
	}
	return 1
}
