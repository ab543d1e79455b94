package campaign

import (
	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what the runners count as they go; the gauges of the stored campaigns
// are read at each scrape (collector).
type metrics struct {
	fed    *prometheus.CounterVec
	chunks prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		fed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "wagate", Subsystem: "campaign", Name: "fed_total",
			Help: "Recipients the campaign runners handled, once committed, by outcome: queued (its message is in the queue), opted_out (skipped). rate() of it is the feed rate.",
		}, []string{"outcome"}),
		chunks: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "wagate", Subsystem: "campaign", Name: "chunk_seconds",
			Help:    "Time to render, route and commit one chunk of a campaign's recipients.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	m.fed.WithLabelValues(RecipientQueued)
	m.fed.WithLabelValues(RecipientOptedOut)
	return m
}

var (
	campaignsDesc = prometheus.NewDesc("wagate_campaigns", "Stored campaigns by status (draft, scheduled, running, paused, completed, cancelled, failed).",
		[]string{"status"}, nil)
	recipientsDesc = prometheus.NewDesc("wagate_campaign_recipients", "Recipients of the stored campaigns by outcome: pending, queued, sent, delivered, read, failed, opted_out; and replied (those who wrote back, whatever their outcome).",
		[]string{"outcome"}, nil)
	runnersDesc = prometheus.NewDesc("wagate_campaign_runners", "Campaigns with a runner in this process (running or scheduled).", nil, nil)
)

// Collectors returns the campaign metrics, for the gateway's registry.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.fed, s.metrics.chunks, collector{s}}
}

type collector struct{ s *Service }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- campaignsDesc
	ch <- recipientsDesc
	ch <- runnersDesc
}

// Collect reads every stored campaign and its counts: a few records per campaign.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	byStatus := map[Status]int{}
	for _, st := range []Status{StatusDraft, StatusScheduled, StatusRunning, StatusPaused, StatusCompleted, StatusCancelled, StatusFailed} {
		byStatus[st] = 0
	}
	var sum Counts
	_ = c.s.db.View(func(txn *badger.Txn) error {
		return campaigns.Scan(txn, func(rest []string, cmp Campaign) error {
			byStatus[cmp.Status]++
			full, err := c.s.load(txn, rest[0], cmp.ID)
			if err != nil {
				return nil
			}
			n := full.Counts
			sum.Pending += n.Pending
			sum.Queued += n.Queued
			sum.Sent += n.Sent
			sum.Delivered += n.Delivered
			sum.Read += n.Read
			sum.Failed += n.Failed
			sum.OptedOut += n.OptedOut
			sum.Replied += n.Replied
			return nil
		})
	})
	for st, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(campaignsDesc, prometheus.GaugeValue, float64(n), string(st))
	}
	for outcome, n := range map[string]int{"pending": sum.Pending, RecipientQueued: sum.Queued, RecipientSent: sum.Sent,
		RecipientDelivered: sum.Delivered, RecipientRead: sum.Read, RecipientFailed: sum.Failed,
		RecipientOptedOut: sum.OptedOut, "replied": sum.Replied} {
		ch <- prometheus.MustNewConstMetric(recipientsDesc, prometheus.GaugeValue, float64(n), outcome)
	}
	c.s.mu.Lock()
	runners := len(c.s.runners)
	c.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(runnersDesc, prometheus.GaugeValue, float64(runners))
}
