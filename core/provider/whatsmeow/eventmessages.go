package whatsmeow

import (
	"crypto/rand"
	"fmt"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/provider"
)

// buildEvent returns the EventMessage of a KindEvent message. Like a poll, an event
// carries a fresh 32-byte message secret: the invitees' answers (going, not going)
// are encrypted with it, and whatsmeow stores it when the message is sent.
func buildEvent(msg provider.Outbound, quote *waE2E.ContextInfo) (*waE2E.Message, error) {
	e := msg.Event
	if e == nil || e.Name == "" || e.StartTime == 0 {
		return nil, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: event message without a name and a start time", ErrInvalidMessage)}
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("whatsmeow: event secret: %w", err)}
	}
	em := &waE2E.EventMessage{Name: proto.String(e.Name), StartTime: proto.Int64(e.StartTime), ContextInfo: quote,
		IsCanceled: proto.Bool(false), ExtraGuestsAllowed: proto.Bool(e.ExtraGuestsAllowed)}
	if e.Description != "" {
		em.Description = proto.String(e.Description)
	}
	if e.EndTime != 0 {
		em.EndTime = proto.Int64(e.EndTime)
	}
	if e.Location != nil {
		em.Location = &waE2E.LocationMessage{Name: proto.String(e.Location.Name)}
	}
	return &waE2E.Message{EventMessage: em, MessageContextInfo: &waE2E.MessageContextInfo{MessageSecret: secret}}, nil
}

// eventOf maps an inbound EventMessage onto the contract's invite.
func eventOf(em *waE2E.EventMessage) *provider.EventInvite {
	inv := &provider.EventInvite{Name: em.GetName(), Description: em.GetDescription(), StartTime: em.GetStartTime(),
		EndTime: em.GetEndTime(), ExtraGuestsAllowed: em.GetExtraGuestsAllowed()}
	if l := em.GetLocation(); l != nil && l.GetName() != "" {
		inv.Location = &provider.EventLocation{Name: l.GetName()}
	}
	return inv
}
