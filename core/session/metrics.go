package session

import "github.com/prometheus/client_golang/prometheus"

var (
	sessionsDesc = prometheus.NewDesc("wagate_sessions", "Sessions by state.", []string{"state"}, nil)
	droppedDesc  = prometheus.NewDesc("wagate_session_reports_dropped_total",
		"Provider message and ack reports dropped because a session's inbox was full.", nil, nil)
	reconnectingDesc = prometheus.NewDesc("wagate_session_health_reconnecting",
		"Sessions the health monitor is reconnecting (waiting for their backoff or starting).", nil, nil)
	poolLiveDesc = prometheus.NewDesc("wagate_session_pool_live",
		"Sessions holding a live slot of the session pool (running, or being reconnected).", nil, nil)
	poolCapacityDesc = prometheus.NewDesc("wagate_session_pool_capacity",
		"Live sessions this node admits (sessions.pool.max_live); 0 means unlimited.", nil, nil)
	poolWaitingDesc = prometheus.NewDesc("wagate_session_pool_waiting",
		"Starts waiting in the admission queue for a live slot.", nil, nil)
)

// metrics are the counters of one manager's mitigations; Collector exposes them with
// the gauges computed at scrape time.
type metrics struct {
	// Timeout handler.
	callTimeouts  *prometheus.CounterVec
	callAbandoned *prometheus.CounterVec
	stuck         prometheus.Gauge
	// Health monitor.
	unresponsive *prometheus.CounterVec
	pings        *prometheus.CounterVec
	reconnects   *prometheus.CounterVec
	notRetried   *prometheus.CounterVec
	// Session pool and restore.
	admissions *prometheus.CounterVec
	restores   *prometheus.CounterVec
	// QR limiter.
	qrCodes         prometheus.Counter
	pairingAttempts prometheus.Counter
	qrLimited       *prometheus.CounterVec
}

func newMetrics() *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "wagate", Subsystem: "session", Name: name, Help: help}, labels)
	}
	mt := &metrics{
		callTimeouts: counter("provider_call_timeouts_total",
			"Provider calls ended by their deadline (sessions.*_timeout, sessions.health.ping_timeout), by call.", "op"),
		callAbandoned: counter("provider_calls_abandoned_total",
			"Provider calls that had not returned a grace period after their deadline and were abandoned, by call.", "op"),
		stuck: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "wagate", Subsystem: "session", Name: "provider_calls_stuck",
			Help: "Abandoned provider calls whose goroutine has still not returned."}),
		unresponsive: counter("health_unresponsive_total",
			"Sessions the health monitor declared dead, by cause: silence (no sign of life while WORKING), send_timeouts, stuck_connecting.", "cause"),
		pings: counter("health_pings_total", "Liveness pings of quiet WORKING sessions, by result (ok, failed).", "result"),
		reconnects: counter("health_reconnects_total",
			"Reconnects by the health monitor, by result: started (the provider started again), failed (the start failed; retried with backoff), gave_up (sessions.health.max_reconnects reached).", "result"),
		notRetried: counter("health_not_retried_total",
			"FAILED and LOGGED_OUT reports left alone because their cause is permanent (logged out, banned, stream replaced, client outdated, ...), by reason.", "reason"),
		admissions: counter("pool_admissions_total",
			"Starts asking the session pool for a live slot, by outcome: admitted, waited (admitted after queueing), queue_full, timeout, refused (no wait allowed: boot restore, reconnect).", "outcome"),
		restores: counter("restore_starts_total",
			"Sessions started at boot, by result: started, failed, pool_full, qr_limit.", "result"),
		qrCodes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "wagate", Subsystem: "session", Name: "qr_codes_total",
			Help: "QR codes shown to users (published as session.qr)."}),
		pairingAttempts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "wagate", Subsystem: "session", Name: "pairing_attempts_total",
			Help: "Pairing attempts: starts that showed a first QR code."}),
		qrLimited: counter("qr_limited_total",
			"Sessions stopped by the QR limiter (FAILED qr_limit), by limit: codes (per attempt) or attempts (per hour).", "limit"),
	}
	for _, op := range callOps {
		mt.callTimeouts.WithLabelValues(op)
		mt.callAbandoned.WithLabelValues(op)
	}
	for _, c := range []string{causeSilence, causeSendTimeouts, causeStuck} {
		mt.unresponsive.WithLabelValues(c)
	}
	for _, r := range []string{"ok", "failed"} {
		mt.pings.WithLabelValues(r)
	}
	for _, r := range []string{"started", "failed", "gave_up"} {
		mt.reconnects.WithLabelValues(r)
	}
	for _, o := range []string{"admitted", "waited", "queue_full", "timeout", "refused"} {
		mt.admissions.WithLabelValues(o)
	}
	for _, r := range []string{"started", "failed", "pool_full", "qr_limit"} {
		mt.restores.WithLabelValues(r)
	}
	for _, l := range []string{"codes", "attempts"} {
		mt.qrLimited.WithLabelValues(l)
	}
	return mt
}

func (mt *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{mt.callTimeouts, mt.callAbandoned, mt.stuck, mt.unresponsive, mt.pings,
		mt.reconnects, mt.notRetried, mt.admissions, mt.restores, mt.qrCodes, mt.pairingAttempts, mt.qrLimited}
}

// Collector returns a Prometheus collector of the sessions by state, counted at scrape
// time from the live sessions, and of the metrics of the health monitor, the timeout
// handler, the session pool and the QR limiter (docs/operations.md lists them all).
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sessionsDesc, droppedDesc, reconnectingDesc, poolLiveDesc, poolCapacityDesc, poolWaitingDesc} {
		ch <- d
	}
	for _, col := range c.m.metrics.collectors() {
		col.Describe(ch)
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[State]int, len(States))
	reconnecting := 0
	for _, l := range c.m.allLives() {
		l.mu.Lock()
		counts[l.rec.State]++
		if l.h.job != nil {
			reconnecting++
		}
		l.mu.Unlock()
	}
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(c.m.dropped.Load()))
	for _, s := range States {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(reconnectingDesc, prometheus.GaugeValue, float64(reconnecting))
	live, waiting := c.m.pool.stats()
	ch <- prometheus.MustNewConstMetric(poolLiveDesc, prometheus.GaugeValue, float64(live))
	ch <- prometheus.MustNewConstMetric(poolCapacityDesc, prometheus.GaugeValue, float64(c.m.pool.opts.MaxLive))
	ch <- prometheus.MustNewConstMetric(poolWaitingDesc, prometheus.GaugeValue, float64(waiting))
	for _, col := range c.m.metrics.collectors() {
		col.Collect(ch)
	}
}
