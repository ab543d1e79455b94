package whatsmeow

import (
	"context"
	"sync"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCompanionReg"
	"go.mau.fi/whatsmeow/proto/waE2E"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// Client is the part of *whatsmeow.Client the provider uses, so that tests can drive the
// provider with a fake. *whatsmeow.Client implements it as is; NewClient builds one the
// way the provider needs it.
//
// Calls that talk to WhatsApp take a context, but some also wait on whatsmeow's own locks
// first (SendMessage waits for the previous send, Disconnect for a connect under way):
// the provider runs every call that may wait under the caller's deadline (see bounded),
// so a hung client never hangs the gateway.
type Client interface {
	// ConnectContext connects the websocket and logs in, or starts pairing when the
	// device has no id yet. ctx lives as long as the connection: it also ends the
	// keep-alive and automatic reconnect loops, so the provider passes the run's
	// context, never a call's.
	ConnectContext(ctx context.Context) error
	// Disconnect closes the websocket and emits no event.
	Disconnect()
	IsConnected() bool
	IsLoggedIn() bool
	// Logout unlinks the device on WhatsApp's side, disconnects and deletes the device
	// from the store. It fails, changing nothing, when WhatsApp cannot be told.
	Logout(ctx context.Context) error
	// GetQRChannel must be called before ConnectContext on a device without id. The
	// channel yields QR codes, then one final item ("success", "timeout", an error).
	GetQRChannel(ctx context.Context) (<-chan wm.QRChannelItem, error)
	PairPhone(ctx context.Context, phone string, showPushNotification bool, clientType wm.PairClientType, clientDisplayName string) (string, error)
	SendMessage(ctx context.Context, to types.JID, message *waE2E.Message, extra ...wm.SendRequestExtra) (wm.SendResponse, error)
	Upload(ctx context.Context, plaintext []byte, appInfo wm.MediaType) (wm.UploadResponse, error)
	Download(ctx context.Context, msg wm.DownloadableMessage) ([]byte, error)
	SendPresence(ctx context.Context, state types.Presence) error
	SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error
	// AddEventHandlerWithSuccessStatus registers the provider's event handler. It is
	// called on whatsmeow's event goroutine; returning false leaves a message or receipt
	// unacknowledged (with SynchronousAck set), so WhatsApp delivers it again later.
	AddEventHandlerWithSuccessStatus(handler wm.EventHandlerWithSuccessStatus) uint32
	RemoveEventHandlers()
}

var _ Client = (*wm.Client)(nil)

// ClientFactory builds the client of one run of a session over its device. The
// production factory is NewClient; tests pass a fake through WithClientFactory.
type ClientFactory func(device *wmstore.Device, log waLog.Logger) Client

// NewClient is the production ClientFactory: a *whatsmeow.Client with
//
//   - SynchronousAck: messages and receipts are acknowledged to WhatsApp only once the
//     provider's handler accepted them (see EventQueue in config), so one refused when
//     the session's event queue is full is delivered again, not lost;
//   - EnableDecryptedEventBuffer: the plaintext of such a message is kept in the store
//     (wastore's event buffer) until handled, so the redelivery can be read although
//     the Signal session has moved on;
//   - ManualHistorySyncDownload: the chat history the phone offers after linking is not
//     downloaded; the gateway reports messages from the moment it is linked;
//   - EmitAppStateEventsOnFullSync: a full app state sync (after linking, and the
//     labels' priming, see labels.go) replays the collections' mutations as events;
//     without it whatsmeow reports none, and labels, which it does not store, could not
//     be known. The contacts of such a sync are then stored one by one rather than in
//     one batch;
//   - automatic reconnect on (whatsmeow's default).
func NewClient(device *wmstore.Device, log waLog.Logger) Client {
	c := wm.NewClient(device, log)
	c.SynchronousAck = true
	c.EnableDecryptedEventBuffer = true
	c.ManualHistorySyncDownload = true
	c.EmitAppStateEventsOnFullSync = true
	c.EnableAutoReconnect = true
	return c
}

// deviceProps sets what the phone shows for linked devices. whatsmeow keeps it in a
// package variable read at pairing, so it is set once per process, before the first
// connect, by the first session that starts; every factory of a process is expected to
// use the same name.
var deviceProps sync.Once

func setDeviceProps(osName string) {
	deviceProps.Do(func() {
		wmstore.SetOSInfo(osName, [3]uint32{0, 1, 0})
		wmstore.DeviceProps.PlatformType = waCompanionReg.DeviceProps_DESKTOP.Enum()
	})
}

// Pairing-code clients. WhatsApp validates the display name, "Browser (OS)" with common
// browsers only; which one does not matter.
const (
	pairClientType    = wm.PairClientChrome
	pairClientDisplay = "Chrome (Linux)"
)
