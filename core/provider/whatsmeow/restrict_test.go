package whatsmeow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mau.fi/util/jsontime"
	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store/wastore"
)

// A temporary ban is reported as a restriction until its expiry, then FAILED; the run
// ends for good.
func TestTemporaryBanRestriction(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	before := time.Now()
	c.emit(&events.TemporaryBan{Code: events.TempBanSentToTooManyPeople, Expire: time.Hour})
	ev, ok := r.next().(provider.RestrictionEvent)
	if !ok || ev.Reason != provider.RestrictionTemporaryBan || !ev.Active ||
		ev.Until.Before(before.Add(time.Hour)) || ev.Until.After(time.Now().Add(time.Hour)) {
		t.Fatalf("restriction %#v, want a temporary ban ending in an hour", ev)
	}
	r.status(provider.StatusFailed, reasonTempBan)
	r.quiet()
	waitFor(t, "the client disconnected", func() bool { return c.called("Disconnect") > 0 })
}

// The server's reach-out notice is reported as a restriction with its end, and its
// lifting as inactive; the session stays WORKING.
func TestReachoutNotice(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	ends := time.Now().Add(6 * time.Hour).Truncate(time.Second)
	c.emit(&events.NotifyAccountReachoutTimelock{IsActive: true, TimeEnforcementEnds: jsontime.UnixString{Time: ends}})
	if ev, ok := r.next().(provider.RestrictionEvent); !ok || ev.Reason != provider.RestrictionReachout || !ev.Active || !ev.Until.Equal(ends) {
		t.Fatalf("event %#v, want a reach-out restriction until %v", ev, ends)
	}
	c.emit(&events.NotifyAccountReachoutTimelock{IsActive: false})
	if ev, ok := r.next().(provider.RestrictionEvent); !ok || ev.Reason != provider.RestrictionReachout || ev.Active {
		t.Fatalf("event %#v, want the reach-out restriction lifted", ev)
	}
	r.quiet()
}

// Error 463 on a send is the reach-out timelock: the send fails with the retryable
// reachout_restricted code and the restriction is reported; other server errors are
// not.
func TestReachoutTimelock(t *testing.T) {
	r := newRig(t)
	c := r.startPaired()
	to := provider.Outbound{ID: "m1", ChatID: chatid.MustParse("15551230001"), Kind: provider.KindText, Text: "x"}
	c.mu.Lock()
	c.sendErr = fmt.Errorf("%w %d", wm.ErrServerReturnedError, 463)
	c.mu.Unlock()
	_, err := r.p.Send(ctxT(t), to)
	if !isCode(err, CodeReachout, true) || !errors.Is(err, wm.ErrServerReturnedError) {
		t.Fatalf("send under a timelock: %v, want retryable %s", err, CodeReachout)
	}
	if ev, ok := r.next().(provider.RestrictionEvent); !ok || ev.Reason != provider.RestrictionReachout || !ev.Active || !ev.Until.IsZero() {
		t.Fatalf("event %#v, want a reach-out restriction without end", ev)
	}
	c.mu.Lock()
	c.sendErr = fmt.Errorf("%w %d", wm.ErrServerReturnedError, 479)
	c.mu.Unlock()
	if _, err := r.p.Send(ctxT(t), to); !isCode(err, CodeServerError, false) {
		t.Fatalf("another server error: %v", err)
	}
	r.quiet()
}

func TestServerErrorCode(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("%w %d", wm.ErrServerReturnedError, 463):                            463,
		fmt.Errorf("sending: %w", fmt.Errorf("%w %d", wm.ErrServerReturnedError, 479)): 479,
		wm.ErrServerReturnedError:               0,
		errors.New("server returned error 463"): 0, // not whatsmeow's error
		wm.ErrIQTimedOut:                        0,
	} {
		if got := serverErrorCode(err); got != want {
			t.Errorf("%v: %d, want %d", err, got, want)
		}
	}
}

// The link time comes from the timestamp in the device identity the phone signed.
func TestDeviceLinkedAt(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{RawID: proto.Uint32(1), Timestamp: proto.Uint64(uint64(at.Unix()))})
	if err != nil {
		t.Fatal(err)
	}
	d := &wmstore.Device{Account: &waAdv.ADVSignedDeviceIdentity{Details: details, AccountSignature: bytes.Repeat([]byte{1}, 64)}}
	if got := deviceLinkedAt(d); !got.Equal(at) {
		t.Errorf("linked at %v, want %v", got, at)
	}
	for name, d := range map[string]*wmstore.Device{"nil": nil, "not paired": {}, "bad details": {Account: &waAdv.ADVSignedDeviceIdentity{Details: []byte("x")}}} {
		if got := deviceLinkedAt(d); !got.IsZero() {
			t.Errorf("%s: %v, want zero", name, got)
		}
	}
}

// A session resumed from a stored device reports the device's link time in its account.
func TestWorkingCarriesLinkTime(t *testing.T) {
	r := newRig(t)
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{RawID: proto.Uint32(1), Timestamp: proto.Uint64(uint64(at.Unix()))})
	if err != nil {
		t.Fatal(err)
	}
	c, err := wastore.New(r.db, tenant, session, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.NewDevice() // as rig.pair, with a device identity that parses
	jid := types.NewADJID(mePN.User, 0, 7)
	d.ID = &jid
	d.Account = &waAdv.ADVSignedDeviceIdentity{Details: details, AccountSignature: bytes.Repeat([]byte{1}, 64),
		AccountSignatureKey: bytes.Repeat([]byte{2}, 32), DeviceSignature: bytes.Repeat([]byte{3}, 64)}
	if err := c.PutDevice(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusConnecting, "")
	r.client().emit(&events.Connected{})
	if st := r.status(provider.StatusWorking, ""); st.Me == nil || !st.Me.LinkedAt.Equal(at) {
		t.Fatalf("account %+v, want linked at %v", st.Me, at)
	}
}
