package goplugin

import (
	"testing"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

// The transform request carries the session context to the plugin.
func TestTransformRequestCarriesContext(t *testing.T) {
	in := policy.TransformInput{Event: event.Envelope{ID: "e", Event: "message", Tenant: "acme", Payload: []byte(`{}`),
		Me: &event.Me{ID: "1555@c.us", PushName: "Ann"}, Engine: "whatsmeow",
		Environment: &event.Environment{Version: "v1", Engine: "whatsmeow", Tier: event.Tier},
		Metadata:    map[string]string{"k": "v"}}}
	e := transformRequest(&in).Event
	if e.Engine != "whatsmeow" || e.GetMe().GetId() != "1555@c.us" || e.GetMe().GetPushName() != "Ann" ||
		e.GetEnvironment().GetVersion() != "v1" || e.GetEnvironment().GetTier() != "OSS" || e.Metadata["k"] != "v" {
		t.Errorf("request event %v", e)
	}
	in.Event.Me, in.Event.Environment, in.Event.Engine, in.Event.Metadata = nil, nil, "", nil
	if e := transformRequest(&in).Event; e.Me != nil || e.Environment != nil || e.Engine != "" || e.Metadata != nil {
		t.Errorf("tenant-wide event got a context: %v", e)
	}
}
