package whatsmeow

import (
	"errors"
	"strconv"
	"strings"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/provider"
)

// What the provider reports for pacing (core/steer, plugins/antiban): when the device
// was linked, and the restrictions WhatsApp places on the number.
//
// A temporary ban arrives as events.TemporaryBan with its expiry (events.go). A
// reach-out timelock — the number may not start conversations — arrives two ways: as
// events.NotifyAccountReachoutTimelock, the server's notice with IsActive and the end
// of the enforcement, reported as RestrictionEvent{Active, Until} (events.go); and as
// error 463 on a send to a contact that never wrote, when the notice was missed: the
// provider then reports a reach-out RestrictionEvent without an end (pacing holds the
// session for pacing.pause_unknown) and fails the send with the retryable code
// "reachout_restricted".

// serverErrorReachout is the error WhatsApp answers a message with while the account
// is under a reach-out timelock (NackCallerReachoutTimelocked).
const serverErrorReachout = 463

// serverErrorCode returns the code of a whatsmeow ErrServerReturnedError, 0 for any
// other error. whatsmeow gives the code only in the text ("server returned error 463"),
// so it is read from there.
func serverErrorCode(err error) int {
	if !errors.Is(err, wm.ErrServerReturnedError) {
		return 0
	}
	s := err.Error()
	i := strings.LastIndexByte(s, ' ')
	n, convErr := strconv.Atoi(s[i+1:])
	if convErr != nil {
		return 0
	}
	return n
}

// reachout reports a reach-out restriction found by a send (error 463) through the
// run's event queue, in order with the other reports.
func (r *run) reachout() {
	r.queue.push(provider.Event(provider.RestrictionEvent{Reason: provider.RestrictionReachout, Active: true}), false)
}

// deviceLinkedAt is when d was linked to its account: the timestamp the phone signed
// into the device identity at pairing. Zero when d is not paired or the identity does
// not parse.
func deviceLinkedAt(d *wmstore.Device) time.Time {
	if d == nil || d.Account == nil {
		return time.Time{}
	}
	var id waAdv.ADVDeviceIdentity
	if proto.Unmarshal(d.Account.GetDetails(), &id) != nil || id.GetTimestamp() == 0 {
		return time.Time{}
	}
	return time.Unix(int64(id.GetTimestamp()), 0).UTC()
}
