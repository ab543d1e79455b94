package whatsmeow

import (
	"context"
	"fmt"

	wm "go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Calls (provider.Calls). whatsmeow reports a call as events: CallOffer (a one-to-one
// call), CallOfferNotice (a group call, or the offer's notice with its media), then
// CallAccept (answered on another device), CallReject or CallTerminate (rejected, or
// ended before an answer). They become call.received, call.accepted and call.rejected;
// a call's video flag comes from the notice's media, or from a "video" element of the
// offer's data. RejectCall is whatsmeow's Client.RejectCall.

// callClient is what RejectCall needs of the client; *whatsmeow.Client has it.
type callClient interface {
	RejectCall(ctx context.Context, callFrom types.JID, callID string) error
}

var _ callClient = (*wm.Client)(nil)

// RejectCall implements provider.Calls.
func (p *Provider) RejectCall(ctx context.Context, caller chatid.ID, callID string) error {
	const op = "rejecting a call"
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return p.errorf(op, provider.ErrNotConnected)
	}
	cc, ok := r.client.(callClient)
	if !ok {
		return p.errorf(op, fmt.Errorf("the client has no call calls: %w", provider.ErrUnsupported))
	}
	from, err := p.userJID(op, caller)
	if err != nil {
		return err
	}
	if callID == "" {
		return p.errorf(op, fmt.Errorf("empty call id: %w", provider.ErrNotFound))
	}
	if err := boundedDo(ctx, func() error { return cc.RejectCall(ctx, from, callID) }); err != nil {
		return p.errorf(op, err)
	}
	return nil
}

// onCall reports a call event.
func (r *run) onCall(ev any) {
	switch ev := ev.(type) {
	case *events.CallOffer:
		r.emit(provider.CallReceived{CallData: r.callData(ev.BasicCallMeta, hasChild(ev.Data, "video"))})
	case *events.CallOfferNotice:
		if ev.Type != "group" { // a one-to-one call's notice repeats its CallOffer
			return
		}
		r.emit(provider.CallReceived{CallData: r.callData(ev.BasicCallMeta, ev.Media == "video")})
	case *events.CallAccept:
		r.emit(provider.CallAccepted{CallData: r.callData(ev.BasicCallMeta, false)})
	case *events.CallReject:
		r.emit(provider.CallRejected{CallData: r.callData(ev.BasicCallMeta, false)})
	case *events.CallTerminate:
		r.emit(provider.CallRejected{CallData: r.callData(ev.BasicCallMeta, false)})
	}
}

// callData maps whatsmeow's call metadata onto WAHA's CallData: from is the caller
// (the call's creator, by phone number where known), isGroup when it has a group.
func (r *run) callData(m types.BasicCallMeta, video bool) provider.CallData {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	caller := m.CallCreator
	if caller.IsEmpty() {
		caller = m.From
	}
	from, err := r.chatOf(ctx, caller.ToNonAD(), m.CallCreatorAlt.ToNonAD())
	if err != nil {
		from = chatid.ID{}
	}
	d := provider.CallData{ID: m.CallID, From: from, IsVideo: video, IsGroup: !m.GroupJID.IsEmpty()}
	if !m.Timestamp.IsZero() {
		d.Timestamp = m.Timestamp.Unix()
	}
	return d
}

// hasChild reports whether a call node (nil allowed) has a child element of that tag.
func hasChild(n *waBinary.Node, tag string) bool {
	return n != nil && len(n.GetChildrenByTag(tag)) > 0
}
