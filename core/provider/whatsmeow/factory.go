package whatsmeow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

// Name is the provider kind of sessions served by this package.
const Name = "whatsmeow"

// Factory builds whatsmeow providers, one per session, over the gateway's store.
type Factory struct {
	cfg       config.Whatsmeow
	db        *store.DB
	log       *slog.Logger
	newClient ClientFactory
	http      *http.Client
}

// Option configures a Factory.
type Option func(*Factory)

// WithLogger sets the logger; whatsmeow's own logs go to it too, below the session's
// attributes. The default discards.
func WithLogger(l *slog.Logger) Option { return func(f *Factory) { f.log = l } }

// WithClientFactory replaces NewClient, the builder of whatsmeow clients (tests pass a
// fake).
func WithClientFactory(c ClientFactory) Option { return func(f *Factory) { f.newClient = c } }

// WithHTTPClient sets the client that fetches the media URLs of sends. The default
// refuses to connect to loopback, private, link-local, multicast and unspecified
// addresses, so that a tenant cannot make the gateway fetch from its own network.
func WithHTTPClient(c *http.Client) Option { return func(f *Factory) { f.http = c } }

// NewFactory returns the factory of whatsmeow providers. Each session's device state is
// kept in db through wastore. Nothing is connected until a provider starts.
func NewFactory(cfg config.Whatsmeow, db *store.DB, opts ...Option) *Factory {
	f := &Factory{cfg: cfg, db: db, newClient: NewClient}
	for _, o := range opts {
		o(f)
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.http == nil {
		f.http = publicHTTPClient()
	}
	return f
}

// Name implements provider.Factory.
func (f *Factory) Name() string { return Name }

// sessionConfig is the per-session provider config. There is nothing to set yet; the
// type exists so that unknown fields are refused rather than ignored.
type sessionConfig struct{}

// ValidateConfig implements provider.ConfigValidator: the session config must be empty,
// null or a JSON object without fields.
func (f *Factory) ValidateConfig(raw json.RawMessage) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var c sessionConfig
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the object", ErrInvalidConfig)
	}
	return nil
}

// New implements provider.Factory. It does no I/O: the device is loaded by Start.
func (f *Factory) New(spec provider.Spec, sink provider.Sink) (provider.Provider, error) {
	if err := f.ValidateConfig(spec.Config); err != nil {
		return nil, err
	}
	log := f.log.With("tenant", spec.Tenant, "session", spec.Session)
	c, err := wastore.New(f.db, spec.Tenant, spec.Session, newWALogger(log.With("component", "wastore")))
	if err != nil {
		return nil, err
	}
	return &Provider{
		f:         f,
		spec:      spec,
		sink:      sink,
		log:       log,
		container: c,
		media:     newMediaIndex(f.cfg.RememberedMedia),
		ops:       make(chan struct{}, 1),
	}, nil
}

var (
	_ provider.Factory         = (*Factory)(nil)
	_ provider.ConfigValidator = (*Factory)(nil)
)
