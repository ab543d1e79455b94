// Package antiban is the gateway's default rate rule: pacing that imitates a person
// using WhatsApp, so that a number sending through the gateway is not banned. Per
// session it keeps a minimum gap plus random jitter between sends, caps per minute,
// hour and day, a lower daily cap while a number warms up, a cap on messages to one
// contact per hour unless the contact replied, a cap on first contacts (chats that
// never wrote) per day, and a pause while WhatsApp restricts the number (temporary ban,
// reach-out timelock). Typing (how long to show "typing..." before a send) is decided
// here too, and shown by the gateway. README.md gives the defaults and their sources.
package antiban

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
)

// Name is the plugin's registered name.
const Name = "anti-ban"

// AntiBan is the rule. It keeps no state: the session's statistics are in the input,
// and its jitter is a function of them, so that the same input gets the same answer.
type AntiBan struct {
	c         Config
	providers map[string]bool // nil: every provider
}

// New returns a rule with the default configuration (Configure may change it).
func New(policy.Spec) policy.Plugin {
	a := &AntiBan{}
	a.set(Defaults())
	return a
}

// Info implements policy.Plugin.
func (*AntiBan) Info() policy.Info { return policy.NativeInfo(policy.HookRate) }

// Close implements policy.Plugin.
func (*AntiBan) Close() error { return nil }

// Config returns the rule's configuration.
func (a *AntiBan) Config() Config { return a.c }

// Delay reasons (the reason label of wagate_antiban_delays_total).
const (
	ReasonMinGap        = "min_gap"
	ReasonPerMinute     = "per_minute"
	ReasonPerHour       = "per_hour"
	ReasonPerDay        = "per_day"
	ReasonWarmup        = "warmup"
	ReasonContactHour   = "contact_hour"
	ReasonFirstContacts = "first_contacts"
	ReasonTemporaryBan  = provider.RestrictionTemporaryBan
	ReasonReachout      = provider.RestrictionReachout
)

// Rejection reasons: the reason a rejected message fails with.
const (
	RejectDailyLimit        = "daily_limit"
	RejectContactLimit      = "contact_limit"
	RejectFirstContactLimit = "first_contact_limit"
)

// Rate paces one message of a session (in.Session) of a provider the rule applies to:
//
//   - while WhatsApp restricts the number (PauseReason, until PausedUntil): a delay to
//     the end of the restriction, at most pause_recheck (asked again then, so that a
//     restriction lifted early frees the queue). A reach-out timelock holds only first
//     contacts when reachout_pause is "first_contacts";
//   - at or over the daily cap — the warm-up cap of a young number when lower: reject
//     with "daily_limit" if over_daily is "reject", else a delay of 24h/cap;
//   - at or over the hourly or per-minute cap: a delay of 1h/cap or 1m/cap, the time
//     one message's share of the window takes to come back;
//   - at or over contact_per_hour messages to this chat in the last hour, unless the
//     chat wrote in the last hour: reject with "contact_limit" if over_contact is
//     "reject" (the default), else a delay of 1h/cap;
//   - a first contact at or over first_contacts_per_day: reject with
//     "first_contact_limit" if over_first_contacts is "reject" (the default), else a
//     delay of 24h/cap;
//   - sooner than min_gap plus this gap's jitter after the session's last send: the
//     rest of the gap. The jitter is uniform in [0, jitter], drawn from a hash of the
//     session and the time of its last send: the same for every ask about one gap, a
//     new one for the next gap.
//
// A retry (Message.Attempts > 0) is not held by the two caps about one chat: it passed
// them when it was first allowed. The two caps reject by default because the dispatcher
// sends a session's queue in order: a delay for one chat would hold every chat behind
// it. The longest delay wins; none is no opinion (so that a tenant's other rules and the
// chain's contract still apply). Every delay and rejection is counted by reason.
func (a *AntiBan) Rate(_ context.Context, in policy.RateInput) (policy.RateDecision, error) {
	delay, reason, reject := a.decide(in)
	switch {
	case reject != "":
		return a.reject(reject), nil
	case reason != "": // a delay (a restriction's may round to nothing: delay clamps it)
		return a.delay(delay, reason), nil
	}
	return policy.RateDecision{}, nil
}

// decide is Rate's answer without counting it: a delay and its reason (always set with
// a delay), or a rejection reason; zero for all is no opinion.
func (a *AntiBan) decide(in policy.RateInput) (delay time.Duration, reason, reject string) {
	s := &in.Session
	if a.providers != nil && !a.providers[s.Provider] {
		return 0, "", ""
	}
	now := in.Now
	if s.PauseReason != "" && now.Before(s.PausedUntil) &&
		(s.PauseReason != ReasonReachout || a.c.ReachoutPause == PauseAll || s.FirstContact) {
		return min(s.PausedUntil.Sub(now), time.Duration(a.c.PauseRecheck)), s.PauseReason, ""
	}
	longest := func(d time.Duration, why string) {
		if d > delay {
			delay, reason = d, why
		}
	}
	if daily, warm := a.daily(now, s); daily > 0 && s.SentDay >= daily {
		if a.c.OverDaily == OverReject {
			return 0, "", RejectDailyLimit
		}
		why := ReasonPerDay
		if warm {
			why = ReasonWarmup
		}
		longest(24*time.Hour/time.Duration(daily), why)
	}
	if n := a.c.PerHour; n > 0 && s.SentHour >= n {
		longest(time.Hour/time.Duration(n), ReasonPerHour)
	}
	if n := a.c.PerMinute; n > 0 && s.SentMinute >= n {
		longest(time.Minute/time.Duration(n), ReasonPerMinute)
	}
	retry := in.Message.Attempts > 0 // passed the per-chat caps when first allowed
	if n := a.c.ContactPerHour; n > 0 && !retry && s.ChatSentHour >= n && !replied(now, s) {
		if a.c.OverContact == OverReject {
			return 0, "", RejectContactLimit
		}
		longest(time.Hour/time.Duration(n), ReasonContactHour)
	}
	if n := a.c.FirstContactsPerDay; n > 0 && !retry && s.FirstContact && s.FirstContactsDay >= n {
		if a.c.OverFirstContacts == OverReject {
			return 0, "", RejectFirstContactLimit
		}
		longest(24*time.Hour/time.Duration(n), ReasonFirstContacts)
	}
	if !s.LastSentAt.IsZero() {
		gap := time.Duration(a.c.MinGap) + a.jitter(in.Message.Tenant, s)
		longest(s.LastSentAt.Add(gap).Sub(now), ReasonMinGap)
	}
	if delay <= 0 {
		return 0, "", ""
	}
	return delay, reason, ""
}

// PreviewRate implements policy.RatePreviewer: the caps in force for in.Session, the
// warm-up day, and when its next message may go, counting nothing.
func (a *AntiBan) PreviewRate(in policy.RateInput) policy.RatePreview {
	s := &in.Session
	p := policy.RatePreview{Rule: Name, Applies: a.providers == nil || a.providers[s.Provider],
		PerMinute: a.c.PerMinute, PerHour: a.c.PerHour, PerDay: a.c.PerDay,
		MinGapMs: time.Duration(a.c.MinGap).Milliseconds(), NextAt: in.Now}
	if !p.Applies {
		return p
	}
	p.DailyCap, p.WarmingUp = a.daily(in.Now, s)
	if p.WarmingUp {
		p.WarmupDay, p.WarmupDays = int(max(in.Now.Sub(s.LinkedAt), 0)/(24*time.Hour))+1, a.c.Warmup.Days
	}
	delay, reason, reject := a.decide(in)
	p.Rejects = reject
	if reason != "" {
		p.NextAt, p.HeldBy = in.Now.Add(min(delay, policy.MaxDelay)), reason
	}
	return p
}

// delay answers a delay of d (within the contract's bounds), counted under reason.
func (a *AntiBan) delay(d time.Duration, reason string) policy.RateDecision {
	delays.WithLabelValues(reason).Inc()
	return policy.RateDecision{Action: policy.RateDelay, Delay: min(max(d, time.Millisecond), policy.MaxDelay)}
}

func (a *AntiBan) reject(reason string) policy.RateDecision {
	rejections.WithLabelValues(reason).Inc()
	return policy.RateDecision{Action: policy.RateReject, Reason: reason}
}

// replied reports whether the message's chat wrote to the session in the last hour.
func replied(now time.Time, s *policy.Candidate) bool {
	return !s.LastInbound.IsZero() && now.Sub(s.LastInbound) < time.Hour
}

// daily returns the session's daily cap (0: none) and whether it is the warm-up one.
//
// A number linked less than warmup.days days ago is warming up: on its day d (1 on the
// day it was linked) its cap is first_day·growth^(d-1), rounded down, when that is
// lower than per_day. An unknown link time is not warming up.
func (a *AntiBan) daily(now time.Time, s *policy.Candidate) (int, bool) {
	w := a.c.Warmup
	if w.Days <= 0 || w.FirstDay <= 0 || s.LinkedAt.IsZero() {
		return a.c.PerDay, false
	}
	age := now.Sub(s.LinkedAt)
	if age < 0 {
		age = 0
	}
	day := int(age / (24 * time.Hour)) // 0 on the day of the link
	if day >= w.Days {
		return a.c.PerDay, false
	}
	limit := float64(w.FirstDay)
	for range day {
		limit *= w.Growth
	}
	if a.c.PerDay > 0 && limit >= float64(a.c.PerDay) {
		return a.c.PerDay, false
	}
	return max(int(limit), 1), true
}

// jitter is this gap's random extra: uniform in [0, jitter], a function of the
// session and the time of its last send.
func (a *AntiBan) jitter(tenant string, s *policy.Candidate) time.Duration {
	j := time.Duration(a.c.Jitter)
	if j <= 0 {
		return 0
	}
	return time.Duration(unit(tenant, s.Session, s.LastSentAt) * float64(j))
}

// unit hashes a session and a time to a number uniform in [0, 1).
func unit(tenant, session string, t time.Time) float64 {
	h := fnv.New64a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(session))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(t.UnixNano()))
	h.Write(b[:])
	return float64(mix(h.Sum64())>>11) / (1 << 53)
}

// mix is splitmix64's finalizer: it spreads FNV's output over all bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

var (
	_ policy.Plugin   = (*AntiBan)(nil)
	_ policy.RateHook = (*AntiBan)(nil)
)

var _ policy.RatePreviewer = (*AntiBan)(nil)
