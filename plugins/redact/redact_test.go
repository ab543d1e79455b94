package redact

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

func TestRedact(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, config, payload, want string
	}{
		{"phone in body", `{}`,
			`{"from":"4915123456789@c.us","body":"call me at +49 151 2345678, order 12345"}`,
			`{"body":"call me at +** *** *****78, order 12345","from":"4915123456789@c.us"}`},
		{"nothing to redact: same bytes", `{}`, `{"body":"hello",  "n":1}`, `{"body":"hello",  "n":1}`},
		{"nested and arrays", `{}`,
			`{"message":{"caption":"555-123-4567"},"texts":["x"],"list":[{"text":"(030) 1234567"}]}`,
			`{"list":[{"text":"(***) *****67"}],"message":{"caption":"***-***-**67"},"texts":["x"]}`},
		{"array under a listed key", `{"fields":["lines"]}`, `{"lines":["1234567","ok"]}`, `{"lines":["*****67","ok"]}`},
		{"keep none", `{"keep_last":0}`, `{"body":"1234567"}`, `{"body":"*******"}`},
		{"patterns and mask, HTML kept", `{"patterns":["secret-\\w+"],"mask":"<x>","phone_numbers":false}`,
			`{"body":"a secret-abc and 1234567"}`, `{"body":"a <x> and 1234567"}`},
		{"own fields only", `{"fields":["from"]}`, `{"from":"+4915123456789","body":"1234567"}`,
			`{"body":"1234567","from":"+***********89"}`},
		{"large numbers keep their digits", `{}`, `{"body":"1234567","ts":17673230456781234}`,
			`{"body":"*****67","ts":17673230456781234}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(policy.Spec{}).(*Redact)
			if err := p.Configure(ctx, []byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			ev := event.Envelope{ID: "evt_1", Event: "message", Tenant: "acme", Payload: json.RawMessage(tc.payload)}
			r, err := p.Transform(ctx, policy.TransformInput{Event: ev})
			if err != nil || r.Drop || string(r.Event.Payload) != tc.want || r.Event.ID != "evt_1" {
				t.Errorf("got %s, %v; want %s", r.Event.Payload, err, tc.want)
			}
		})
	}
	t.Run("payload not JSON", func(t *testing.T) {
		p := New(policy.Spec{}).(*Redact)
		_ = p.Configure(ctx, nil)
		ev := event.Envelope{ID: "e", Event: "message", Tenant: "acme", Payload: json.RawMessage(`{`)}
		if _, err := p.Transform(ctx, policy.TransformInput{Event: ev}); err == nil {
			t.Error("no error")
		}
	})
}

func TestConfigure(t *testing.T) {
	for cfg, ok := range map[string]bool{
		`{}`: true, `{"patterns":["a+"],"keep_last":4}`: true, `{"patterns":["("]}`: false,
		`{"keep_last":7}`: false, `{"keep_last":-1}`: false, `{"field":["x"]}`: false,
	} {
		if err := New(policy.Spec{}).Configure(context.Background(), []byte(cfg)); (err == nil) != ok {
			t.Errorf("config %s: err = %v", cfg, err)
		}
	}
}
