package plugins

import (
	"context"
	"slices"
	"testing"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/plugins/antiban"
)

func TestRegister(t *testing.T) {
	reg := policy.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	want := []string{"anti-ban", "identity", "least-loaded", "rate-limit", "redact", "round-robin", "sticky-contact", "web-then-cloud", "weighted"}
	if got := reg.Names(); !slices.Equal(got, want) {
		t.Errorf("registered %v, want %v", got, want)
	}
	// Every built-in opens (trusted, ABI 1, configured with {}).
	for _, name := range want {
		p, err := policy.Open(context.Background(), reg, policy.Spec{Tenant: "acme", Name: "p", Source: []byte(name)})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !p.Info().Trusted {
			t.Errorf("%s: not trusted", name)
		}
	}
	if err := Register(reg); err == nil {
		t.Error("registering twice succeeded")
	}
}

func TestDefaults(t *testing.T) {
	ctx := context.Background()
	d, err := Defaults(ctx, []byte(`{"per_minute":1}`))
	if err != nil || d.Route == nil || d.Rate == nil || d.Transform == nil || d.Failover != nil {
		t.Fatalf("%+v, %v", d, err)
	}
	r, _ := d.Rate.Rate(ctx, policy.RateInput{Session: policy.Candidate{Provider: "whatsmeow", SentMinute: 1}})
	if r.Action != policy.RateDelay {
		t.Errorf("default rate rule ignores its configuration: %+v", r)
	}
	if _, ok := d.Rate.(*antiban.AntiBan); !ok {
		t.Errorf("default rate rule is %T, want anti-ban", d.Rate)
	}
	// Without configuration, anti-ban's published defaults pace.
	d, err = Defaults(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := d.Rate.Rate(ctx, policy.RateInput{Session: policy.Candidate{Provider: "whatsmeow", SentMinute: 5}}); r.Action != policy.RateDelay {
		t.Errorf("default rate rule without configuration: %+v", r)
	}
	if _, err := Defaults(ctx, []byte(`{"per_minute":-1}`)); err == nil {
		t.Error("bad rate configuration accepted")
	}
}
