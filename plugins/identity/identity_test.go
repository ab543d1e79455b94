package identity

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

func TestIdentity(t *testing.T) {
	ev := event.Envelope{ID: "evt_1", Timestamp: 7, Event: "message", Session: "s", Tenant: "acme",
		Payload: json.RawMessage(`{"b":1,  "a":[]}`)}
	p := New(policy.Spec{})
	if err := p.Configure(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r, err := p.(policy.TransformHook).Transform(context.Background(), policy.TransformInput{Event: ev})
	if err != nil || r.Drop || !reflect.DeepEqual(r.Event, ev) {
		t.Errorf("got %+v, %v", r, err)
	}
	if err := p.Configure(context.Background(), []byte(`{"x":1}`)); err == nil {
		t.Error("accepted a configuration")
	}
}
