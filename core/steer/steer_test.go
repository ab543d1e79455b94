package steer

import (
	"testing"
	"time"

	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
)

func TestStatsSlidingWindows(t *testing.T) {
	st := newStats()
	now := time.Date(2026, 11, 25, 12, 0, 30, 0, time.UTC)
	st.add("acme", "s", now.Add(-25*time.Hour)) // outside the day
	st.add("acme", "s", now.Add(-2*time.Hour))  // in the day
	st.add("acme", "s", now.Add(-30*time.Minute))
	st.add("acme", "s", now.Add(-10*time.Second))
	st.add("acme", "s", now)
	st.add("acme", "other", now)
	min, hour, day, last := st.counts("acme", "s", now)
	if min != 2 || hour != 3 || day != 4 || !last.Equal(now) {
		t.Fatalf("counts: minute %d hour %d day %d last %v; want 2 3 4", min, hour, day, last)
	}
	st.forget("acme")
	if _, _, day, _ := st.counts("acme", "s", now); day != 0 {
		t.Fatalf("after forget: %d", day)
	}
}

// Moving a message to a Cloud API session: free-form messages need the contact's
// 24-hour window open; templates always go; other providers have no window.
func TestCheckWindow(t *testing.T) {
	open := map[string]bool{"15550000001@c.us": true}
	s := &Steer{window: func(tenant, sess, chat string) bool { return open[chat] }}
	list := []session.Info{{Name: "cloud", Provider: "cloudapi"}, {Name: "spare", Provider: "whatsmeow"}}
	for _, c := range []struct {
		name, target, chat string
		kind               provider.Kind
		want               queue.Decision
	}{
		{"window open", "cloud", "15550000001@c.us", provider.KindText, queue.Decision{Reroute: "cloud", Reason: "x"}},
		{"window closed", "cloud", "15550000002@c.us", provider.KindText, queue.Decision{Fail: "outside_customer_service_window"}},
		{"template", "cloud", "15550000002@c.us", provider.KindTemplate, queue.Decision{Reroute: "cloud", Reason: "x"}},
		{"not cloud", "spare", "15550000002@c.us", provider.KindText, queue.Decision{Reroute: "spare", Reason: "x"}},
	} {
		got := s.checkWindow("acme", queue.Message{ChatID: c.chat, Type: c.kind}, c.target, list, "x")
		if got.Reroute != c.want.Reroute || got.Fail != c.want.Fail {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	// Without a window source, free-form failover to the Cloud API is refused.
	s.window = nil
	if got := s.checkWindow("acme", queue.Message{ChatID: "15550000001@c.us", Type: provider.KindText}, "cloud", list, "x"); got.Fail == "" {
		t.Fatalf("no window source: %+v, want refused", got)
	}
}
