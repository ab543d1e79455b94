package whatsmeow

import (
	"context"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// handle is the run's whatsmeow event handler. It runs on whatsmeow's event goroutine
// and never blocks: it queues what the provider reports and returns at once. It returns
// false, leaving the event unacknowledged to WhatsApp, for a message or receipt the queue
// refuses (full, or the run is ending); see eventQueue.
func (r *run) handle(evt any) bool {
	switch evt.(type) {
	case *events.Message, *events.Receipt:
		if r.stopping.Load() {
			return false
		}
		if !r.queue.push(evt, true) {
			if n := r.refused.Add(1); n%1000 == 1 {
				r.p.log.Warn("whatsmeow event queue full: messages and receipts left for redelivery",
					"event_queue", r.queue.max, "refused_total", n)
			}
			return false
		}
	case *events.Connected, *events.Disconnected, *events.KeepAliveTimeout, *events.KeepAliveRestored,
		*events.LoggedOut, *events.StreamReplaced, *events.TemporaryBan, *events.ClientOutdated,
		*events.ConnectFailure, *events.StreamError, *events.CATRefreshError,
		*events.PairSuccess, *events.PairError, *events.PushNameSetting, *events.NotifyAccountReachoutTimelock:
		r.queue.push(evt, false)
	case *events.PushName, *events.Picture, *events.UserAbout, *events.Blocklist: // contacts.go
		r.queue.push(evt, false)
	case *events.CallOffer, *events.CallOfferNotice, *events.CallAccept, *events.CallReject, *events.CallTerminate: // calls.go
		r.queue.push(evt, false)
	case *events.GroupInfo, *events.JoinedGroup: // groupevents.go
		r.queue.push(evt, false)
	case *events.LabelEdit, *events.LabelAssociationChat, *events.AppStateSyncComplete: // labels.go
		r.queue.push(evt, false)
	case *events.Presence, *events.ChatPresence: // presence.go
		r.queue.push(evt, false)
	}
	return true
}

// qrItem is an item of whatsmeow's QR channel, queued in order with the events.
type qrItem struct{ wm.QRChannelItem }

// readQR queues the items of the QR channel until whatsmeow closes it (pairing ended:
// success, timeout, error, or the run's context).
func (r *run) readQR(ch <-chan wm.QRChannelItem) {
	for item := range ch {
		r.queue.push(qrItem{item}, false)
	}
}

// work is the run's event goroutine: it turns queued events into reports, in order, until
// the queue is closed and drained.
func (r *run) work() {
	defer close(r.done)
	for {
		batch, ok := r.queue.take()
		if !ok {
			return
		}
		for i, ev := range batch {
			r.process(ev)
			batch[i] = nil
		}
	}
}

func (r *run) process(ev any) {
	switch ev := ev.(type) {
	case provider.Event:
		r.emit(ev)
	case qrItem:
		r.onQR(ev.QRChannelItem)
	case *events.Message:
		r.onMessage(ev)
	case *events.Receipt:
		r.onReceipt(ev)
	case *events.PushName, *events.Picture, *events.UserAbout, *events.Blocklist:
		r.onContactEvent(ev)
	case *events.CallOffer, *events.CallOfferNotice, *events.CallAccept, *events.CallReject, *events.CallTerminate:
		r.onCall(ev)
	case *events.GroupInfo, *events.JoinedGroup:
		r.onGroupEvent(ev)
	case *events.LabelEdit, *events.LabelAssociationChat, *events.AppStateSyncComplete, labelSync:
		r.onLabelEvent(ev)
	case *events.Presence, *events.ChatPresence:
		r.onPresence(ev)
	default:
		r.onConnection(ev)
	}
}

// emit reports ev to the sink, remembering the last status reported.
func (r *run) emit(ev provider.Event) {
	if st, ok := ev.(provider.StatusEvent); ok {
		r.status, r.reason = st.Status, st.Reason
	}
	r.p.sink(ev)
}

// Reasons of the StatusEvents the provider reports. docs/whatsmeow.md explains each.
const (
	reasonPaired             = "paired"
	reasonDisconnected       = "disconnected"
	reasonKeepAliveTimeout   = "keepalive_timeout"
	reasonStreamError        = "stream_error"
	reasonQRTimeout          = "qr_timeout"
	reasonPairError          = "pair_error"
	reasonClientOutdated     = "client_outdated"
	reasonStreamReplaced     = "stream_replaced"
	reasonTempBan            = "temporary_ban"
	reasonConnectFailure     = "connect_failure"
	reasonCATRefresh         = "cat_refresh_error"
	reasonLogout             = "logout"
	reasonLoggedOutFromPhone = "logged_out_from_phone"
	reasonMainDeviceGone     = "main_device_gone"
	reasonUnknownLogout      = "unknown_logout"
)

// onQR reports an item of the QR channel: a code, or how pairing ended.
func (r *run) onQR(item wm.QRChannelItem) {
	switch item.Event {
	case wm.QRChannelEventCode:
		r.p.mu.Lock()
		r.qrShown = true
		r.p.mu.Unlock()
		r.emit(provider.QREvent{Code: item.Code, ExpiresAt: time.Now().Add(item.Timeout)})
	case wm.QRChannelTimeout.Event:
		r.fail(provider.StatusFailed, reasonQRTimeout)
	case wm.QRChannelClientOutdated.Event:
		r.fail(provider.StatusFailed, reasonClientOutdated)
	case wm.QRChannelEventError:
		r.p.log.Warn("whatsmeow pairing failed", "err", item.Error)
		r.fail(provider.StatusFailed, reasonPairError)
	case wm.QRChannelScannedWithoutMultidevice.Event:
		r.p.log.Info("whatsmeow QR code scanned by a phone without multi-device; the same code can be scanned again")
	}
	// "success" is reported by PairSuccess; "err-unexpected-state" by the connection
	// event that caused it.
}

// onConnection maps whatsmeow's connection events onto statuses:
//
//	PairSuccess          CONNECTING "paired", with the account
//	Connected            WORKING, with the account
//	Disconnected         CONNECTING "disconnected" (whatsmeow reconnects by itself)
//	KeepAliveTimeout     CONNECTING "keepalive_timeout", once, while WORKING
//	KeepAliveRestored    WORKING, after keepalive_timeout
//	StreamError          CONNECTING "stream_error" (the server closes; whatsmeow reconnects)
//	LoggedOut            LOGGED_OUT "logged_out_from_phone" (or "main_device_gone",
//	                     "unknown_logout" by the server's code); the device is deleted
//	StreamReplaced       FAILED "stream_replaced" (another process uses the same device)
//	TemporaryBan         a temporary-ban RestrictionEvent until the ban's expiry, then
//	                     FAILED "temporary_ban"; sends fail with code "banned"
//	NotifyAccountReachoutTimelock  a reach-out RestrictionEvent {Active, Until}; the
//	                     status stays
//	ClientOutdated       FAILED "client_outdated" (bump whatsmeow, docs/whatsmeow.md)
//	ConnectFailure       FAILED "connect_failure"
//	CATRefreshError      FAILED "cat_refresh_error"
//	PairError            FAILED "pair_error"
//
// FAILED and LOGGED_OUT end the run: whatsmeow does not reconnect after them, and Start
// begins a new connection.
func (r *run) onConnection(ev any) {
	switch ev := ev.(type) {
	case *events.PairSuccess:
		linked := deviceLinkedAt(r.device)
		r.p.mu.Lock()
		r.me = ev.ID.ToNonAD()
		r.linkedAt = linked
		r.p.mu.Unlock()
		r.emit(provider.StatusEvent{Status: provider.StatusConnecting, Reason: reasonPaired, Me: r.account()})
	case *events.Connected:
		r.p.mu.Lock()
		r.working, r.available = true, false
		r.p.mu.Unlock()
		r.emit(provider.StatusEvent{Status: provider.StatusWorking, Me: r.account()})
	case *events.Disconnected:
		r.lost(reasonDisconnected, false)
	case *events.KeepAliveTimeout:
		r.lost(reasonKeepAliveTimeout, true)
	case *events.KeepAliveRestored:
		if r.status == provider.StatusConnecting && r.reason == reasonKeepAliveTimeout {
			r.p.mu.Lock()
			r.working = true
			r.p.mu.Unlock()
			r.emit(provider.StatusEvent{Status: provider.StatusWorking, Me: r.account()})
		}
	case *events.StreamError:
		r.p.log.Warn("whatsmeow stream error", "code", ev.Code)
		r.lost(reasonStreamError, false)
	case *events.PushNameSetting:
		name := ev.Action.GetName()
		r.p.mu.Lock()
		changed := name != "" && name != r.pushName
		if changed {
			r.pushName = name
		}
		r.p.mu.Unlock()
		if changed && r.status == provider.StatusWorking {
			r.emit(provider.StatusEvent{Status: provider.StatusWorking, Me: r.account()})
		}
	case *events.LoggedOut:
		r.onLoggedOut(ev)
	case *events.StreamReplaced:
		r.fail(provider.StatusFailed, reasonStreamReplaced)
	case *events.TemporaryBan:
		r.p.log.Warn("whatsmeow number temporarily banned", "ban", ev.String())
		r.p.mu.Lock()
		r.banned = true
		r.p.mu.Unlock()
		ban := provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: true}
		if ev.Expire > 0 {
			ban.Until = time.Now().Add(ev.Expire)
		}
		r.emit(ban)
		r.fail(provider.StatusFailed, reasonTempBan)
	case *events.NotifyAccountReachoutTimelock:
		// The server's word on a reach-out timelock, with its end: pacing holds the
		// session's first contacts until then (or lifts the hold when inactive).
		r.emit(provider.RestrictionEvent{Reason: provider.RestrictionReachout, Active: ev.IsActive, Until: ev.TimeEnforcementEnds.Time})
	case *events.ClientOutdated:
		r.p.log.Error("whatsmeow client outdated: WhatsApp refuses this whatsmeow version; bump it (docs/whatsmeow.md)")
		r.fail(provider.StatusFailed, reasonClientOutdated)
	case *events.ConnectFailure:
		r.p.log.Warn("whatsmeow connect failure", "reason", ev.Reason.String(), "message", ev.Message)
		r.fail(provider.StatusFailed, reasonConnectFailure)
	case *events.CATRefreshError:
		r.fail(provider.StatusFailed, reasonCATRefresh)
	case *events.PairError:
		r.p.log.Warn("whatsmeow pairing failed", "err", ev.Error)
		r.fail(provider.StatusFailed, reasonPairError)
	}
}

// lost reports a connection lost while linked. keepAlive losses are reported only from
// WORKING (whatsmeow repeats them every ping); losses while pairing are reported by the
// QR channel instead.
func (r *run) lost(reason string, keepAlive bool) {
	r.p.mu.Lock()
	skip := r.me.IsEmpty() || r.ended || (keepAlive && !r.working)
	if !skip {
		r.working = false
	}
	r.p.mu.Unlock()
	if skip {
		return
	}
	r.emit(provider.StatusEvent{Status: provider.StatusConnecting, Reason: reason})
}

// fail reports a terminal status once per run and ends the connection for good.
func (r *run) fail(st provider.Status, reason string) {
	r.p.mu.Lock()
	already := r.ended
	r.ended, r.working = true, false
	r.p.mu.Unlock()
	if already {
		return
	}
	r.emit(provider.StatusEvent{Status: st, Reason: reason})
	// whatsmeow expects the disconnect already; make sure the socket is closed.
	go r.client.Disconnect()
}

// onLoggedOut handles an unlink from the phone (or by WhatsApp): whatsmeow deletes the
// device itself; the provider deletes whatever is left of it too, then reports.
func (r *run) onLoggedOut(ev *events.LoggedOut) {
	reason := reasonLoggedOutFromPhone
	if ev.OnConnect {
		switch ev.Reason {
		case events.ConnectFailureMainDeviceGone:
			reason = reasonMainDeviceGone
		case events.ConnectFailureUnknownLogout:
			reason = reasonUnknownLogout
		}
	}
	r.p.mu.Lock()
	r.loggedOut = true
	r.p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	if err := r.p.deleteDevices(ctx); err != nil {
		r.p.log.Error("deleting the device of a logged-out session", "err", err)
	}
	cancel()
	r.p.media.clear()
	r.p.polls.clear()
	r.p.chats.clear()
	r.fail(provider.StatusLoggedOut, reason)
}

// deleteTimeout bounds deleting the device after an unlink from the phone.
const deleteTimeout = 30 * time.Second

// account returns the linked account, or nil before pairing.
func (r *run) account() *provider.Account {
	r.p.mu.Lock()
	me, name, linked := r.me, r.pushName, r.linkedAt
	r.p.mu.Unlock()
	if me.IsEmpty() {
		return nil
	}
	id, err := FromJID(me)
	if err != nil {
		return nil
	}
	return &provider.Account{ID: id, PushName: name, LinkedAt: linked}
}

// meID returns the linked account's chat id, or the zero ID.
func (r *run) meID() chatid.ID {
	if a := r.account(); a != nil {
		return a.ID
	}
	return chatid.ID{}
}
