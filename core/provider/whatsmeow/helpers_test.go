package whatsmeow

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waE2E"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

// fakeClient is a Client that records what the provider asks and lets the test play
// whatsmeow's part: emit events, answer or fail calls, or hang them.
type fakeClient struct {
	device *wmstore.Device
	qr     chan wm.QRChannelItem

	mu           sync.Mutex
	votedOn      []types.MessageInfo // polls BuildPollVote was asked for (messages_test.go)
	handlers     []wm.EventHandlerWithSuccessStatus
	connected    bool
	loggedIn     bool
	calls        []string
	sent         []sentMessage
	uploads      []upload
	presences    []string
	connectErr   error
	sendErr      error
	sendResp     wm.SendResponse
	uploadErr    error
	logoutErr    error
	pairCode     string
	pairErr      error
	downloadData []byte
	downloadErr  error
	downloaded   []wm.DownloadableMessage
	// hang holds, per method name, a channel the method waits on (ignoring its
	// context) before doing anything: a client stuck on whatsmeow's locks.
	hang map[string]chan struct{}
}

type sentMessage struct {
	to    types.JID
	msg   *waE2E.Message
	extra wm.SendRequestExtra
}

type upload struct {
	data []byte
	kind wm.MediaType
}

func newFakeClient(device *wmstore.Device) *fakeClient {
	return &fakeClient{device: device, qr: make(chan wm.QRChannelItem, 8), hang: map[string]chan struct{}{}}
}

func (c *fakeClient) record(name string) {
	c.mu.Lock()
	c.calls = append(c.calls, name)
	gate := c.hang[name]
	c.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

func (c *fakeClient) called(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.calls {
		if s == name {
			n++
		}
	}
	return n
}

// hangOn makes method wait until the test ends (or release is called).
func (c *fakeClient) hangOn(t *testing.T, method string) (release func()) {
	gate := make(chan struct{})
	c.mu.Lock()
	c.hang[method] = gate
	c.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

// emit delivers evt to the handlers as whatsmeow's event goroutine does, and returns
// whether every handler accepted it.
func (c *fakeClient) emit(evt any) bool {
	c.mu.Lock()
	hs := append([]wm.EventHandlerWithSuccessStatus(nil), c.handlers...)
	if _, ok := evt.(*events.Connected); ok {
		c.loggedIn = true
	}
	c.mu.Unlock()
	if ps, ok := evt.(*events.PairSuccess); ok {
		// whatsmeow saves the device before it reports the pairing.
		jid := ps.ID
		c.device.ID = &jid
		c.device.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("details"), AccountSignature: bytes.Repeat([]byte{1}, 64),
			AccountSignatureKey: bytes.Repeat([]byte{2}, 32), DeviceSignature: bytes.Repeat([]byte{3}, 64)}
		if err := c.device.Save(context.Background()); err != nil {
			panic(err)
		}
	}
	ok := true
	for _, h := range hs {
		ok = h(evt) && ok
	}
	return ok
}

func (c *fakeClient) ConnectContext(ctx context.Context) error {
	c.record("ConnectContext")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connectErr != nil {
		return c.connectErr
	}
	c.connected = true
	return nil
}

func (c *fakeClient) Disconnect() {
	c.record("Disconnect")
	c.mu.Lock()
	c.connected, c.loggedIn = false, false
	c.mu.Unlock()
}

func (c *fakeClient) IsConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

func (c *fakeClient) IsLoggedIn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loggedIn
}

func (c *fakeClient) Logout(ctx context.Context) error {
	c.record("Logout")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logoutErr != nil {
		return c.logoutErr
	}
	c.connected, c.loggedIn = false, false
	return nil
}

func (c *fakeClient) GetQRChannel(ctx context.Context) (<-chan wm.QRChannelItem, error) {
	c.record("GetQRChannel")
	if c.device.ID != nil {
		return nil, wm.ErrQRStoreContainsID
	}
	return c.qr, nil
}

func (c *fakeClient) PairPhone(ctx context.Context, phone string, push bool, ct wm.PairClientType, name string) (string, error) {
	c.record("PairPhone")
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pairCode, c.pairErr
}

func (c *fakeClient) SendMessage(ctx context.Context, to types.JID, m *waE2E.Message, extra ...wm.SendRequestExtra) (wm.SendResponse, error) {
	c.record("SendMessage")
	c.mu.Lock()
	defer c.mu.Unlock()
	var x wm.SendRequestExtra
	if len(extra) > 0 {
		x = extra[0]
	}
	c.sent = append(c.sent, sentMessage{to: to, msg: m, extra: x})
	if c.sendErr != nil {
		return wm.SendResponse{}, c.sendErr
	}
	resp := c.sendResp
	if resp.ID == "" {
		resp.ID = x.ID
	}
	return resp, nil
}

func (c *fakeClient) Upload(ctx context.Context, data []byte, kind wm.MediaType) (wm.UploadResponse, error) {
	c.record("Upload")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.uploads = append(c.uploads, upload{data: append([]byte(nil), data...), kind: kind})
	if c.uploadErr != nil {
		return wm.UploadResponse{}, c.uploadErr
	}
	return wm.UploadResponse{URL: "https://mmg.whatsapp.net/x", DirectPath: "/v/x", MediaKey: bytes.Repeat([]byte{1}, 32),
		FileEncSHA256: bytes.Repeat([]byte{2}, 32), FileSHA256: bytes.Repeat([]byte{3}, 32), FileLength: uint64(len(data))}, nil
}

func (c *fakeClient) Download(ctx context.Context, m wm.DownloadableMessage) ([]byte, error) {
	c.record("Download")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.downloaded = append(c.downloaded, m)
	return c.downloadData, c.downloadErr
}

func (c *fakeClient) SendPresence(ctx context.Context, state types.Presence) error {
	c.record("SendPresence")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.presences = append(c.presences, string(state))
	return nil
}

func (c *fakeClient) SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error {
	c.record("SendChatPresence")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.presences = append(c.presences, jid.String()+" "+string(state))
	return nil
}

func (c *fakeClient) AddEventHandlerWithSuccessStatus(h wm.EventHandlerWithSuccessStatus) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers = append(c.handlers, h)
	return uint32(len(c.handlers))
}

func (c *fakeClient) RemoveEventHandlers() {
	c.record("RemoveEventHandlers")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers = nil
}

// handler returns the provider's handler, as whatsmeow holds it.
func (c *fakeClient) handler() wm.EventHandlerWithSuccessStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handlers[0]
}

func (c *fakeClient) handlerCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.handlers)
}

var _ Client = (*fakeClient)(nil)

// rig is one whatsmeow provider over an in-memory store and fake clients.
type rig struct {
	t        *testing.T
	db       *store.DB
	cfg      config.Whatsmeow
	f        *Factory
	p        *Provider
	events   chan provider.Event
	sinkHook func(provider.Event) // called by the sink before queueing, when set

	mu      sync.Mutex
	clients []*fakeClient
	// prepare, when set, configures each new fake client before the provider uses it.
	prepare func(*fakeClient)
}

const (
	tenant  = "acme"
	session = "main"
)

var (
	mePN     = types.NewJID("15551230000", types.DefaultUserServer)
	alicePN  = types.NewJID("15551230001", types.DefaultUserServer)
	aliceLID = types.NewJID("100000000000001", types.HiddenUserServer)
	bobPN    = types.NewJID("15551230002", types.DefaultUserServer)
	groupJID = types.NewJID("120363000000000001", types.GroupServer)
)

func newRig(t *testing.T, opts ...func(*rig)) *rig {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &rig{t: t, db: db, cfg: config.Defaults().Providers.Whatsmeow, events: make(chan provider.Event, 4096)}
	for _, o := range opts {
		o(r)
	}
	r.f = NewFactory(r.cfg, db, WithClientFactory(r.newClient))
	r.p = r.build()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.p.Stop(ctx)
	})
	return r
}

func (r *rig) build() *Provider {
	p, err := r.f.New(provider.Spec{Tenant: tenant, Session: session}, func(ev provider.Event) {
		if r.sinkHook != nil {
			r.sinkHook(ev)
		}
		select {
		case r.events <- ev:
		default:
			r.t.Errorf("test sink full; dropped %T", ev)
		}
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return p.(*Provider)
}

func (r *rig) newClient(device *wmstore.Device, _ waLog.Logger) Client {
	c := newFakeClient(device)
	r.mu.Lock()
	r.clients = append(r.clients, c)
	prep := r.prepare
	r.mu.Unlock()
	if prep != nil {
		prep(c)
	}
	return c
}

// client returns the fake client of the latest run.
func (r *rig) client() *fakeClient {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.clients) == 0 {
		r.t.Fatal("no client built yet")
	}
	return r.clients[len(r.clients)-1]
}

func (r *rig) clientCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.clients)
}

// pair saves a linked device for the session, as a past pairing would have.
func (r *rig) pair() *wmstore.Device {
	r.t.Helper()
	c, err := wastore.New(r.db, tenant, session, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	d := c.NewDevice()
	jid := types.NewADJID(mePN.User, 0, 7)
	d.ID = &jid
	d.PushName = "Acme Support"
	d.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte("details"), AccountSignature: bytes.Repeat([]byte{1}, 64),
		AccountSignatureKey: bytes.Repeat([]byte{2}, 32), DeviceSignature: bytes.Repeat([]byte{3}, 64)}
	if err := c.PutDevice(context.Background(), d); err != nil {
		r.t.Fatal(err)
	}
	return d
}

// devices counts the devices stored for the session.
func (r *rig) devices() int {
	r.t.Helper()
	c, _ := wastore.New(r.db, tenant, session, nil)
	all, err := c.GetAllDevices(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return len(all)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next returns the next event, failing after 5s.
func (r *rig) next() provider.Event {
	r.t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(5 * time.Second):
		r.t.Fatal("no provider event within 5s")
		return nil
	}
}

// status returns the next event, which must be a StatusEvent of st and reason.
func (r *rig) status(st provider.Status, reason string) provider.StatusEvent {
	r.t.Helper()
	ev, ok := r.next().(provider.StatusEvent)
	if !ok || ev.Status != st || ev.Reason != reason {
		r.t.Fatalf("event = %#v, want status %s %q", ev, st, reason)
	}
	return ev
}

// quiet checks that nothing is reported up to a marker event pushed through the same
// queue: everything before the marker was processed.
func (r *rig) quiet() {
	r.t.Helper()
	run, ok := r.p.current()
	if !ok {
		r.t.Fatal("quiet: not running")
	}
	marker := provider.QREvent{Code: "marker"}
	if !run.queue.push(marker, false) {
		r.t.Fatal("quiet: queue closed")
	}
	if ev := r.next(); ev != marker {
		r.t.Fatalf("event = %#v, want nothing", ev)
	}
}

// startPaired starts a session with a linked device and brings it to WORKING.
func (r *rig) startPaired() *fakeClient {
	r.t.Helper()
	r.pair()
	if err := r.p.Start(ctxT(r.t)); err != nil {
		r.t.Fatal(err)
	}
	r.status(provider.StatusConnecting, "")
	c := r.client()
	c.emit(&events.Connected{})
	r.status(provider.StatusWorking, "")
	return c
}

func isCode(err error, code string, retryable bool) bool {
	var se *provider.SendError
	return errors.As(err, &se) && se.Code == code && se.Retryable == retryable
}
