package whatsmeow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// callFake is a fakeClient with whatsmeow's RejectCall.
type callFake struct {
	*fakeClient
	cmu      sync.Mutex
	rejected []string // "from/id"
	err      error
}

func (c *callFake) RejectCall(ctx context.Context, from types.JID, id string) error {
	c.record("RejectCall")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	c.rejected = append(c.rejected, from.String()+"/"+id)
	return c.err
}

func callRig(t *testing.T) (*rig, *callFake) {
	t.Helper()
	r := newRig(t)
	var fake *callFake
	r.f = NewFactory(r.cfg, r.db, WithClientFactory(func(d *wmstore.Device, l waLog.Logger) Client {
		fake = &callFake{fakeClient: r.newClient(d, l).(*fakeClient)}
		return fake
	}))
	r.p = r.build()
	r.startPaired()
	return r, fake
}

// WhatsApp's call events become call.received, call.accepted and call.rejected, with
// the caller, the time, video and group flags.
func TestCallEvents(t *testing.T) {
	r, c := callRig(t)
	at := time.Unix(1735725600, 0)
	meta := types.BasicCallMeta{From: alicePN, CallCreator: alicePN, CallID: "CA11", Timestamp: at}
	video := &waBinary.Node{Tag: "offer", Content: []waBinary.Node{{Tag: "audio"}, {Tag: "video"}}}
	group := meta
	group.CallID, group.GroupJID = "CA22", groupJID
	want := provider.CallData{ID: "CA11", From: aliceID, Timestamp: at.Unix()}
	videoCall := want
	videoCall.IsVideo = true
	groupCall := provider.CallData{ID: "CA22", From: aliceID, Timestamp: at.Unix(), IsVideo: true, IsGroup: true}
	for _, tc := range []struct {
		name string
		evt  any
		want provider.Event
	}{
		{"offer", &events.CallOffer{BasicCallMeta: meta}, provider.CallReceived{CallData: want}},
		{"video offer", &events.CallOffer{BasicCallMeta: meta, Data: video}, provider.CallReceived{CallData: videoCall}},
		{"group call", &events.CallOfferNotice{BasicCallMeta: group, Media: "video", Type: "group"}, provider.CallReceived{CallData: groupCall}},
		{"accepted elsewhere", &events.CallAccept{BasicCallMeta: meta}, provider.CallAccepted{CallData: want}},
		{"rejected", &events.CallReject{BasicCallMeta: meta}, provider.CallRejected{CallData: want}},
		{"hung up", &events.CallTerminate{BasicCallMeta: meta, Reason: "timeout"}, provider.CallRejected{CallData: want}},
	} {
		c.emit(tc.evt)
		if got := r.next(); got != tc.want {
			t.Errorf("%s: %#v, want %#v", tc.name, got, tc.want)
		}
	}
	// A one-to-one call's notice repeats its offer: nothing more.
	c.emit(&events.CallOfferNotice{BasicCallMeta: meta, Media: "audio"})
	r.quiet()
}

func TestRejectCall(t *testing.T) {
	r, c := callRig(t)
	ctx := ctxT(t)
	if err := r.p.RejectCall(ctx, aliceID, "CA11"); err != nil {
		t.Fatal(err)
	}
	if len(c.rejected) != 1 || c.rejected[0] != alicePN.String()+"/CA11" {
		t.Fatalf("rejected %v", c.rejected)
	}
	if err := r.p.RejectCall(ctx, chatid.MustParse("120363000000000001@g.us"), "CA11"); !errors.Is(err, provider.ErrInvalidRecipient) {
		t.Errorf("a group as caller: %v", err)
	}
	if err := r.p.RejectCall(ctx, aliceID, ""); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("empty call id: %v", err)
	}
	c.err = errors.New("iq error")
	if err := r.p.RejectCall(ctx, aliceID, "CA12"); err == nil {
		t.Error("the client's error was lost")
	}
	r.p.Stop(ctx)
	if err := r.p.RejectCall(ctx, aliceID, "CA13"); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("stopped: %v", err)
	}
}
