package antiban

import "github.com/prometheus/client_golang/prometheus"

// The rule's decisions, counted by reason (namespace wagate, subsystem antiban). Every
// instance of the rule (the gateway's default, tenants' bindings) counts into them; a
// message delayed and asked about again counts once per delay.
var (
	delays = counters("delays_total",
		"Messages the anti-ban rule delayed, by the reason of the longest delay: min_gap, per_minute, per_hour, per_day, warmup, contact_hour, first_contacts, temporary_ban, reachout_timelock (the last two are pauses while WhatsApp restricts the number).",
		ReasonMinGap, ReasonPerMinute, ReasonPerHour, ReasonPerDay, ReasonWarmup, ReasonContactHour,
		ReasonFirstContacts, ReasonTemporaryBan, ReasonReachout)
	rejections = counters("rejections_total",
		"Messages the anti-ban rule failed, by reason: daily_limit, contact_limit, first_contact_limit.",
		RejectDailyLimit, RejectContactLimit, RejectFirstContactLimit)
)

// counters makes a counter by reason with every reason present from the start.
func counters(name, help string, reasons ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "wagate", Subsystem: "antiban", Name: name, Help: help},
		[]string{"reason"})
	for _, r := range reasons {
		c.WithLabelValues(r)
	}
	return c
}

// Collectors returns the rule's metrics, for the gateway to register once.
func Collectors() []prometheus.Collector { return []prometheus.Collector{delays, rejections} }
