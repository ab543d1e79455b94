package session

import (
	"encoding/json"
	"testing"

	"github.com/wagate/wagate/core/event"
)

// AckPayload's own JSON is byte for byte encoding/json's, or it declines.
func TestAckPayloadAppendJSON(t *testing.T) {
	for _, p := range []AckPayload{
		NewAckPayload("msg_01", "3EB0ABC", "15551234567@c.us", "sent", ""),
		NewAckPayload("msg_02", "", "120363@g.us", "failed", "provider: timeout after 30s"),
		NewAckPayload("msg_03", "P1", "1@c.us", "read", "<b>&"),    // HTML-escaped by encoding/json: declined
		NewAckPayload("msg_04", "P1", "1@c.us", "failed", "naïve"), // not ASCII: declined
		NewAckPayload("", "", "", "", ""),
	} {
		checkAckJSON(t, p)
	}
}

func checkAckJSON(t *testing.T, p AckPayload) {
	t.Helper()
	want, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := p.AppendJSON(nil)
	if !ok {
		if plain := event.PlainJSON(p.ID + p.ProviderID + p.ChatID + p.Status + p.AckName + p.Error); plain {
			t.Errorf("%+v: declined plain values", p)
		}
		return
	}
	if string(got) != string(want) {
		t.Errorf("%+v:\n got %s\nwant %s", p, got, want)
	}
	if e := event.New(event.MessageAck, "acme", "s", p); string(e.Payload) != string(want) {
		t.Errorf("event.New payload %s, want %s", e.Payload, want)
	}
}

func FuzzAckPayloadAppendJSON(f *testing.F) {
	f.Add("msg_1", "P", "1@c.us", "sent", 1, "READ", "")
	f.Add("m\"", "<", "\u2028", "x", -1, "", "\\")
	f.Fuzz(func(t *testing.T, id, pid, chat, status string, ack int, name, errText string) {
		checkAckJSON(t, AckPayload{ID: id, ProviderID: pid, ChatID: chat, Status: status, Ack: ack, AckName: name, Error: errText})
	})
}

func BenchmarkAckPayloadEvent(b *testing.B) {
	p := NewAckPayload("msg_01KF3QZ8J5Y7W2", "3EB0C2A9F1", "15551234567@c.us", "delivered", "")
	b.ReportAllocs()
	for range b.N {
		_ = event.New(event.MessageAck, "acme", "sales", p)
	}
}
