package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
)

func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	delay := func(d time.Duration) policy.RateDecision {
		return policy.RateDecision{Action: policy.RateDelay, Delay: d}
	}
	none := policy.RateDecision{}
	for _, tc := range []struct {
		name, config string
		s            policy.Candidate
		want         policy.RateDecision
	}{
		{"no limits", `{}`, policy.Candidate{SentMinute: 1e6}, none},
		{"under every limit", `{"per_minute":20,"per_hour":600,"per_day":5000}`,
			policy.Candidate{SentMinute: 19, SentHour: 599, SentDay: 4999}, none},
		{"per minute", `{"per_minute":20}`, policy.Candidate{SentMinute: 20}, delay(3 * time.Second)},
		{"per hour", `{"per_hour":600}`, policy.Candidate{SentHour: 601}, delay(6 * time.Second)},
		{"per day", `{"per_day":1000}`, policy.Candidate{SentDay: 1000}, delay(86400 * time.Millisecond)},
		{"longest delay wins", `{"per_minute":60,"per_hour":60}`, policy.Candidate{SentMinute: 60, SentHour: 60}, delay(time.Minute)},
		{"reject over daily", `{"per_day":10,"over_daily":"reject"}`, policy.Candidate{SentDay: 10},
			policy.RateDecision{Action: policy.RateReject, Reason: "daily_limit"}},
		{"min interval", `{"min_interval":"2s"}`, policy.Candidate{LastSentAt: now.Add(-500 * time.Millisecond)}, delay(1500 * time.Millisecond)},
		{"min interval passed", `{"min_interval":"2s"}`, policy.Candidate{LastSentAt: now.Add(-3 * time.Second)}, none},
		{"min interval, never sent", `{"min_interval":"2s"}`, policy.Candidate{}, none},
		{"young number: warm-up limit", `{"per_day":1000,"warmup":{"age":"168h","per_day":100}}`,
			policy.Candidate{SentDay: 100, LinkedAt: now.Add(-48 * time.Hour)}, delay(864 * time.Second)},
		{"older number: normal limit", `{"per_day":1000,"warmup":{"age":"168h","per_day":100}}`,
			policy.Candidate{SentDay: 100, LinkedAt: now.Add(-200 * time.Hour)}, none},
		{"unknown age: normal limit", `{"per_day":1000,"warmup":{"age":"168h","per_day":100}}`,
			policy.Candidate{SentDay: 100}, none},
		{"warm-up without a daily limit", `{"warmup":{"age":"168h","per_day":100}}`,
			policy.Candidate{SentDay: 100, LinkedAt: now.Add(-time.Hour)}, delay(864 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(policy.Spec{}).(*RateLimit)
			if err := p.Configure(ctx, []byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			got, err := p.Rate(ctx, policy.RateInput{Now: now, Session: tc.s})
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	for cfg, ok := range map[string]bool{
		`{}`: true, `{"per_minute":1,"over_daily":"reject"}`: true, `{"per_minute":-1}`: false,
		`{"over_daily":"drop"}`: false, `{"min_interval":"25h"}`: false, `{"warmup":{"age":"1h","per_day":-1}}`: false,
		`{"warmup":{"days":7}}`: false, `{"perMinute":1}`: false,
	} {
		if err := New(policy.Spec{}).Configure(context.Background(), []byte(cfg)); (err == nil) != ok {
			t.Errorf("config %s: err = %v", cfg, err)
		}
	}
}
