package whatsmeow

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store/wastore"
)

// Provider is the whatsmeow provider of one session: one WhatsApp number linked as a
// companion device. See the package doc for the lifecycle.
//
// Locks, in the order they may be taken: ops (one lifecycle call at a time: Start, Stop,
// Logout; a channel so that waiting honours the caller's context), then mu. The sink is
// never called with a lock held.
type Provider struct {
	f         *Factory
	spec      provider.Spec
	sink      provider.Sink
	log       *slog.Logger
	container *wastore.Container
	media     *mediaIndex
	ops       chan struct{}
	// contacts caches picture URLs and the block list (contacts.go).
	contacts contactState
	// polls remembers recent polls for their votes (polls.go).
	polls pollIndex
	// labels caches the account's labels and the chats they are on (labels.go).
	labels labelState
	// chats remembers recent messages per chat, for receipts and patches (chats.go).
	chats chatBook
	// previews caches the link preview cards built for links (linkpreview.go).
	previews previewCache

	mu     sync.Mutex
	run    *run // the current run, from Start to Stop or Logout
	closed bool
}

// run is one connection of a session, from Start to Stop, Logout or Close: one whatsmeow
// client, its event queue and the goroutine that turns events into reports.
type run struct {
	p      *Provider
	ctx    context.Context // ends with the run: whatsmeow's loops and the QR emitter
	cancel context.CancelFunc
	client Client
	// device is the run's whatsmeow device; whatsmeow fills it in when pairing
	// succeeds, before it reports PairSuccess.
	device *wmstore.Device
	queue  *eventQueue
	done   chan struct{} // closed when the event goroutine has returned
	// stopping is set when the run begins to end: the handler refuses traffic from
	// then on, leaving it unacknowledged for the next connection.
	stopping atomic.Bool
	// refused counts messages and receipts refused because the queue was full.
	refused atomic.Uint64

	// Fields below are guarded by p.mu.

	// me is the linked number (a non-AD phone number JID); empty until paired.
	me       types.JID
	pushName string
	// linkedAt is when the device was linked (the device identity's timestamp); zero
	// until paired or when the identity does not say.
	linkedAt time.Time
	// pairing is true when the run started without a linked device; qrShown once a
	// QR code was reported (RequestPairingCode needs the connection QR codes come on).
	pairing, qrShown bool
	// working is true between Connected and the next loss of connection.
	working bool
	// ended is set by a terminal report (qr_timeout, temporary_ban, logged out, ...):
	// the client will not reconnect, and Start begins a new run.
	ended     bool
	banned    bool
	loggedOut bool
	// available is true once "available" presence was sent on this connection.
	available bool

	// Fields below belong to the event goroutine.

	status provider.Status
	reason string
	acks   ackSeen
	// joins remembers the groups a GroupJoin was reported for lately (groupevents.go).
	joins map[chatid.ID]time.Time
}

// Start implements provider.Provider. It loads the session's device from the store and
// connects. A device linked before resumes without pairing: Start reports CONNECTING,
// then WORKING once WhatsApp accepted the login. Without one, Start reports PAIRING and
// QR codes follow (RequestPairingCode may be used instead of a scan); a scan reports
// CONNECTING with reason "paired", then WORKING.
//
// Start returns once the websocket is connected, or with ctx's error: a connect that
// hangs is abandoned and torn down in the background. Start on a running session does
// nothing; on a session whose connection ended for good (qr_timeout, temporary_ban, ...)
// it starts a new connection.
func (p *Provider) Start(ctx context.Context) error {
	if err := p.acquire(ctx); err != nil {
		return p.errorf("starting", err)
	}
	defer p.release()
	p.mu.Lock()
	closed, cur := p.closed, p.run
	ended := cur != nil && cur.ended
	p.mu.Unlock()
	switch {
	case closed:
		return p.errorf("starting", ErrClosed)
	case cur != nil && !ended:
		return nil
	case cur != nil:
		p.mu.Lock()
		p.run = nil
		p.mu.Unlock()
		if err := cur.end(ctx); err != nil {
			return p.errorf("starting: ending the previous connection", err)
		}
	}

	setDeviceProps(p.f.cfg.OSName)
	device, err := p.container.GetFirstDevice(ctx)
	if err != nil {
		return p.errorf("starting: loading the device", err)
	}
	r := p.newRun(device)
	go r.work()
	r.client.AddEventHandlerWithSuccessStatus(r.handle)

	if device.ID == nil {
		qr, err := r.client.GetQRChannel(r.ctx)
		if err != nil {
			r.abandon(nil)
			return p.errorf("starting: pairing", err)
		}
		r.queue.push(provider.StatusEvent{Status: provider.StatusPairing}, false)
		go r.readQR(qr)
	} else {
		r.queue.push(provider.StatusEvent{Status: provider.StatusConnecting}, false)
	}

	connected := make(chan error, 1)
	go func() { connected <- r.client.ConnectContext(r.ctx) }()
	select {
	case err = <-connected:
	case <-ctx.Done():
		r.abandon(connected)
		return p.errorf("starting: connecting", ctx.Err())
	}
	if err != nil {
		r.abandon(nil)
		return p.errorf("starting: connecting", err)
	}
	p.mu.Lock()
	p.run = r
	p.mu.Unlock()
	p.log.Debug("whatsmeow session started", "paired", device.ID != nil)
	return nil
}

func (p *Provider) newRun(device *wmstore.Device) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{
		p:       p,
		ctx:     ctx,
		cancel:  cancel,
		client:  p.f.newClient(device, newWALogger(p.log.With("component", "whatsmeow"))),
		queue:   newEventQueue(p.f.cfg.EventQueue),
		done:    make(chan struct{}),
		pairing: device.ID == nil,
	}
	if device.ID != nil {
		r.me = device.ID.ToNonAD()
		r.pushName = device.PushName
		r.linkedAt = deviceLinkedAt(device)
	}
	r.device = device
	return r
}

// Stop implements provider.Provider: it disconnects and keeps the device, so that Start
// resumes without pairing. Stopping a stopped provider, or one whose Start failed, does
// nothing. Reports STOPPED.
func (p *Provider) Stop(ctx context.Context) error {
	if err := p.acquire(ctx); err != nil {
		return p.errorf("stopping", err)
	}
	defer p.release()
	p.mu.Lock()
	r := p.run
	p.run = nil
	p.mu.Unlock()
	if r == nil {
		return nil
	}
	if err := r.end(ctx); err != nil {
		return p.errorf("stopping", err)
	}
	p.sink(provider.StatusEvent{Status: provider.StatusStopped})
	p.log.Debug("whatsmeow session stopped")
	return nil
}

// Logout implements provider.Provider: it tells WhatsApp to unlink the device when
// connected (the phone's Linked devices list drops it), disconnects, and deletes the
// device from the store whatever WhatsApp answered. Without a connection the device is
// deleted here only, and the phone lists it until removed there. Logging out a provider
// with no device does nothing but report. Reports LOGGED_OUT with reason "logout".
func (p *Provider) Logout(ctx context.Context) error {
	if err := p.acquire(ctx); err != nil {
		return p.errorf("logging out", err)
	}
	defer p.release()
	p.mu.Lock()
	r := p.run
	p.run = nil
	p.mu.Unlock()
	if r != nil {
		if r.client.IsLoggedIn() {
			// Half the time left at most, so that a hung unlink leaves time for the rest.
			lctx, cancel := halfContext(ctx)
			err := boundedDo(lctx, func() error { return r.client.Logout(lctx) })
			cancel()
			if err != nil {
				p.log.Warn("whatsmeow logout: WhatsApp was not told; removing the device here only", "err", err)
			}
		}
		if err := r.end(ctx); err != nil {
			return p.errorf("logging out", err)
		}
	}
	if err := p.deleteDevices(ctx); err != nil {
		return p.errorf("logging out", err)
	}
	p.media.clear()
	p.polls.clear()
	p.chats.clear()
	p.sink(provider.StatusEvent{Status: provider.StatusLoggedOut, Reason: reasonLogout})
	p.log.Debug("whatsmeow session logged out")
	return nil
}

// deleteDevices removes every device of the session's container (one, normally).
func (p *Provider) deleteDevices(ctx context.Context) error {
	devices, err := p.container.GetAllDevices(ctx)
	if err != nil {
		return fmt.Errorf("listing devices: %w", err)
	}
	for _, d := range devices {
		if err := p.container.DeleteDevice(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// Close implements provider.Closer: the provider refuses every later call; a run still
// going is ended in the background.
func (p *Provider) Close() {
	p.mu.Lock()
	p.closed = true
	r := p.run
	p.run = nil
	p.mu.Unlock()
	if r != nil {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			_ = r.end(ctx)
		}()
	}
	p.media.clear()
	p.polls.clear()
	p.chats.clear()
}

// closeTimeout bounds the background end of a run closed with its provider.
const closeTimeout = 30 * time.Second

// end tears the run down: no more traffic is accepted, whatsmeow's loops stop, the
// client disconnects, and the event goroutine delivers what was queued and returns. It
// returns ctx's error if that takes longer; the rest then finishes in the background.
func (r *run) end(ctx context.Context) error {
	r.stopping.Store(true)
	r.cancel()
	err := boundedDo(ctx, func() error {
		r.client.RemoveEventHandlers()
		r.client.Disconnect()
		return nil
	})
	r.queue.close()
	if err != nil {
		return fmt.Errorf("disconnecting: %w", err)
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("draining events: %w", ctx.Err())
	}
}

// abandon ends a run whose Start failed, in the background. connecting, when not nil,
// yields the result of a connect still under way: the client is disconnected after it.
func (r *run) abandon(connecting <-chan error) {
	r.stopping.Store(true)
	r.cancel()
	r.queue.close()
	go func() {
		if connecting != nil {
			<-connecting
		}
		r.client.RemoveEventHandlers()
		r.client.Disconnect()
	}()
}

// current returns the run if the provider is running.
func (p *Provider) current() (*run, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run, p.run != nil
}

// acquire takes the lifecycle semaphore, unless ctx ends first.
func (p *Provider) acquire(ctx context.Context) error {
	select {
	case p.ops <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Provider) release() { <-p.ops }

// errorf wraps err with the session and the operation.
func (p *Provider) errorf(op string, err error) error {
	return fmt.Errorf("whatsmeow %s/%s: %s: %w", p.spec.Tenant, p.spec.Session, op, err)
}

// halfContext returns a context ending at half of ctx's remaining time (ctx itself
// when it has no deadline).
func halfContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(dl)/2)
}

var (
	_ provider.Provider        = (*Provider)(nil)
	_ provider.Closer          = (*Provider)(nil)
	_ provider.MediaDownloader = (*Provider)(nil)
	_ provider.Typer           = (*Provider)(nil)
)
