package webcloud

import (
	"context"
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
)

func TestWebCloud(t *testing.T) {
	ctx := context.Background()
	web := policy.Candidate{Session: "web", Provider: "whatsmeow"}
	cloud1 := policy.Candidate{Session: "cloud1", Provider: "cloudapi", QueueDepth: 4}
	cloud2 := policy.Candidate{Session: "cloud2", Provider: "cloudapi", QueueDepth: 1}
	timeout := policy.Error{Code: "timeout", Retryable: true}
	banned := policy.Error{Code: "banned"}
	retry := func(d time.Duration) policy.FailoverDecision {
		return policy.FailoverDecision{Action: policy.FailoverRetry, Delay: d}
	}
	reroute := func(s string) policy.FailoverDecision {
		return policy.FailoverDecision{Action: policy.FailoverReroute, Session: s}
	}
	for _, tc := range []struct {
		name, config string
		failed       policy.Candidate
		err          policy.Error
		attempt      int
		cands        []policy.Candidate
		want         policy.FailoverDecision
	}{
		{"retryable, first attempt: retry", `{}`, web, timeout, 1, []policy.Candidate{web, cloud1}, retry(2 * time.Second)},
		{"attempts used: reroute", `{}`, web, timeout, 2, []policy.Candidate{web, cloud1}, reroute("cloud1")},
		{"not retryable: reroute at once", `{}`, web, banned, 1, []policy.Candidate{cloud1, web}, reroute("cloud1")},
		{"shortest cloud queue", `{}`, web, banned, 1, []policy.Candidate{cloud1, cloud2}, reroute("cloud2")},
		{"no cloud number: no opinion", `{}`, web, banned, 1, []policy.Candidate{web}, policy.FailoverDecision{}},
		{"cloud number failing: no opinion", `{}`, cloud1, banned, 1, []policy.Candidate{cloud2}, policy.FailoverDecision{}},
		{"backoff doubles", `{"web_attempts":5,"backoff":"1s"}`, web, timeout, 3, nil, retry(4 * time.Second)},
		{"backoff capped", `{"web_attempts":10,"backoff":"1s","max_backoff":"5s"}`, web, timeout, 9, nil, retry(5 * time.Second)},
		{"other providers", `{"web_providers":["sandbox"],"cloud_providers":["sandbox-cloud"]}`,
			policy.Candidate{Session: "s", Provider: "sandbox"}, banned, 1,
			[]policy.Candidate{cloud1, {Session: "sc", Provider: "sandbox-cloud"}}, reroute("sc")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(policy.Spec{}).(*WebCloud)
			if err := p.Configure(ctx, []byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			got, err := p.Failover(ctx, policy.FailoverInput{Session: tc.failed, Error: tc.err, Attempt: tc.attempt, Candidates: tc.cands})
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	for cfg, ok := range map[string]bool{
		`{}`: true, `{"web_attempts":1}`: true, `{"web_attempts":0}`: false,
		`{"web_attempts":101}`: false, `{"web_attempts":-1}`: false, `{"backoff":"2m"}`: false,
		`{"max_backoff":"48h","backoff":"1s"}`: false, `{"backoff":2}`: false, `{"attempts":2}`: false,
	} {
		if err := New(policy.Spec{}).Configure(context.Background(), []byte(cfg)); (err == nil) != ok {
			t.Errorf("config %s: err = %v", cfg, err)
		}
	}
}
