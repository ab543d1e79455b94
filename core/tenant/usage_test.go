package tenant

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Messages: today's count (written or only in memory), the month's days summed, last
// month's and another tenant's left out; an unknown tenant is ErrNotFound.
func TestMessageUsage(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	s, _ := newSvc(t, Options{DefaultPlan: Plan{MaxSessions: 2, MaxMessagesPerDay: 10}, Now: func() time.Time { return now }})
	s.Create(ctx, CreateInput{ID: "acme"})
	s.Create(ctx, CreateInput{ID: "acme2"}) // a tenant id that extends acme's
	for _, step := range []struct {
		at     time.Time
		tenant string
		n      int
	}{
		{time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), "acme", 4}, // last month
		{time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), "acme", 3},
		{time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), "acme", 5},
		{time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC), "acme2", 7},
	} {
		now = step.at
		if err := reserve(s, step.tenant, step.n); err != nil {
			t.Fatal(err)
		}
	}
	now = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if err := s.CountMessages(ctx, "acme", 2); err != nil { // counted, not yet written
		t.Fatal(err)
	}
	u, err := s.Messages(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if want := (MessageUsage{Day: "2026-12-03", Today: 2, Month: "2026-12", ThisMonth: 10}); u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
	if u, _ := s.Messages(ctx, "acme2"); u.ThisMonth != 7 || u.Today != 0 {
		t.Errorf("acme2's usage %+v", u)
	}
	if _, err := s.Messages(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
}
