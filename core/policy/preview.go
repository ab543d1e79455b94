package policy

import "time"

// RatePreviewer is an optional capability of a rate plugin: what it would answer about a
// session's next message, without counting anything (no metrics, no state). The gateway
// shows it as a session's pacing state (GET /api/sessions/{session}/health); the
// built-in pacing rule (plugins/antiban) implements it.
type RatePreviewer interface {
	PreviewRate(in RateInput) RatePreview
}

// RatePreview is a rate rule's view of a session's pace.
type RatePreview struct {
	// Rule names the rule, e.g. "anti-ban".
	Rule string `json:"rule"`
	// Applies is false when the rule does not pace the session's provider.
	Applies bool `json:"applies"`
	// DailyCap is the daily cap in force (the warm-up cap of a young number when
	// lower than the per-day cap); 0 is none.
	DailyCap int `json:"dailyCap"`
	// WarmingUp is set while the number is young: WarmupDay of WarmupDays (1 on the day
	// it was linked).
	WarmingUp  bool `json:"warmingUp"`
	WarmupDay  int  `json:"warmupDay,omitempty"`
	WarmupDays int  `json:"warmupDays,omitempty"`
	// PerMinute, PerHour and PerDay are the configured caps (0: none); MinGapMs the
	// minimum gap between two sends, in milliseconds (plus jitter).
	PerMinute int   `json:"perMinute"`
	PerHour   int   `json:"perHour"`
	PerDay    int   `json:"perDay"`
	MinGapMs  int64 `json:"minGapMs"`
	// NextAt is the earliest time the session's next message (to a chat it already
	// talks to) may go, by this rule; HeldBy says what holds it until then ("" when it
	// may go now). Rejects names the rejection the next message would get (e.g.
	// "daily_limit"), if any.
	NextAt  time.Time `json:"nextAt"`
	HeldBy  string    `json:"heldBy,omitempty"`
	Rejects string    `json:"rejects,omitempty"`
}
