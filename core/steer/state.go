package steer

import (
	"context"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/route"
)

// PacingState is a session's pace now, as the rate hooks see it, for the API
// (GET /api/sessions/{session}/health): its send counts over sliding windows, when the
// number was linked, WhatsApp's restriction if any, its queue, and the built-in pacing
// rule's preview of its next message.
type PacingState struct {
	SentMinute int `json:"sentMinute"`
	SentHour   int `json:"sentHour"`
	SentDay    int `json:"sentDay"`
	// LastSentAt is the session's last send (this process); nil if none.
	LastSentAt *time.Time `json:"lastSentAt,omitempty"`
	// LinkedAt is when the number was linked (what warm-up counts from).
	LinkedAt time.Time `json:"linkedAt"`
	// FirstContactsDay counts the chats first contacted in the last 24 hours.
	FirstContactsDay int `json:"firstContactsDay"`
	// PausedUntil and PauseReason are a restriction WhatsApp placed on the number.
	PausedUntil *time.Time `json:"pausedUntil,omitempty"`
	PauseReason string     `json:"pauseReason,omitempty"`
	// QueueDepth is how many messages wait for the session.
	QueueDepth int `json:"queueDepth"`
	// Rule is the built-in pacing rule's preview (the pacing section of the config);
	// nil when pacing is off. A tenant's own rate policies run before it and are not
	// previewed.
	Rule *policy.RatePreview `json:"rule,omitempty"`
}

// PacingState returns a session's pace now; the session manager's ErrNotFound for a
// session of another tenant. It counts nothing and asks no tenant policy.
func (s *Steer) PacingState(ctx context.Context, tenant, sess string) (PacingState, error) {
	in, err := s.sessions.Get(ctx, tenant, sess)
	if err != nil {
		return PacingState{}, err
	}
	now := s.now()
	c := s.candidate(tenant, in, route.Chat{}, "", now)
	st := PacingState{SentMinute: c.SentMinute, SentHour: c.SentHour, SentDay: c.SentDay, LinkedAt: c.LinkedAt.UTC(),
		FirstContactsDay: c.FirstContactsDay, PauseReason: c.PauseReason, QueueDepth: c.QueueDepth}
	if !c.LastSentAt.IsZero() {
		t := c.LastSentAt.UTC()
		st.LastSentAt = &t
	}
	if c.PauseReason != "" && c.PausedUntil.After(now) {
		t := c.PausedUntil.UTC()
		st.PausedUntil = &t
	} else {
		st.PauseReason = ""
	}
	if s.preview != nil {
		p := s.preview.PreviewRate(policy.RateInput{Now: now, Message: policy.Message{Tenant: tenant, Session: sess}, Session: c})
		p.NextAt = p.NextAt.UTC()
		st.Rule = &p
	}
	return st, nil
}

// Sent returns how many messages a session sent in the last minute, hour and day
// (sliding windows, every provider call counted, this process).
func (s *Steer) Sent(tenant, sess string) (minute, hour, day int) {
	minute, hour, day, _ = s.stats.counts(tenant, sess, s.now())
	return minute, hour, day
}
