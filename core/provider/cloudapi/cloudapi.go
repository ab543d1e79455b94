package cloudapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Name is the provider kind of the Cloud API as written in session config.
const Name = "cloudapi"

// Values used for config fields left empty (gateway.yaml validates them; an empty one
// means a hand-built config in a test).
const (
	DefaultAPIVersion     = "v23.0"
	DefaultBaseURL        = "https://graph.facebook.com"
	defaultRequestTimeout = 20 * time.Second
	defaultRetryBase      = time.Second
	defaultRetryMax       = time.Minute
)

// Factory is the provider.Factory of the "cloudapi" kind. It holds what its sessions
// share: the HTTP client (pooled connections to the Graph API), the InboundStore and the
// gateway-wide defaults. It is safe for concurrent use and starts nothing by itself.
type Factory struct {
	cfg     config.CloudAPI
	inbound InboundStore
	graph   *graph
	log     *slog.Logger
	now     func() time.Time

	retryBase, retryMax time.Duration
}

// Option configures a Factory.
type Option func(*Factory)

// WithLogger sets the logger; records carry provider=cloudapi, tenant and session.
// Default: discard.
func WithLogger(l *slog.Logger) Option { return func(f *Factory) { f.log = l } }

// WithStartRetry sets how a session whose credential check failed for a transient
// reason (network, 5xx, rate limit) retries it in the background: after base, then
// doubling up to max. Default 1s and 1m.
func WithStartRetry(base, max time.Duration) Option {
	return func(f *Factory) { f.retryBase, f.retryMax = base, max }
}

// WithClock makes inbound times and send timestamps read now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(f *Factory) { f.now = now } }

// New returns the factory. inbound persists each contact's last inbound time (nil
// means a fresh in-memory store). It does no I/O.
func New(cfg config.CloudAPI, inbound InboundStore, opts ...Option) *Factory {
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = config.Duration(defaultRequestTimeout)
	}
	f := &Factory{cfg: cfg, inbound: inbound, retryBase: defaultRetryBase, retryMax: defaultRetryMax}
	for _, o := range opts {
		o(f)
	}
	if f.inbound == nil {
		f.inbound = NewMemoryInboundStore()
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	f.log = f.log.With("provider", Name)
	f.graph = newGraph(cfg.RequestTimeout.D())
	return f
}

// Name implements provider.Factory.
func (f *Factory) Name() string { return Name }

// ValidateConfig implements provider.ConfigValidator: raw must be a SessionConfig with
// every required field (ParseConfig).
func (f *Factory) ValidateConfig(raw json.RawMessage) error {
	_, err := ParseConfig(raw)
	return err
}

// New implements provider.Factory: a provider for one session, idle until Start. It
// does no I/O.
func (f *Factory) New(spec provider.Spec, sink provider.Sink) (provider.Provider, error) {
	if spec.Tenant == "" || spec.Session == "" {
		return nil, fmt.Errorf("cloudapi: new provider: tenant and session are required (got %q, %q)", spec.Tenant, spec.Session)
	}
	if sink == nil {
		return nil, fmt.Errorf("cloudapi: new provider for %s/%s: sink is nil", spec.Tenant, spec.Session)
	}
	sc, err := ParseConfig(spec.Config)
	if err != nil {
		return nil, fmt.Errorf("cloudapi: new provider for %s/%s: %w", spec.Tenant, spec.Session, err)
	}
	return newSession(f, spec, f.resolve(sc), sink), nil
}

// resolve fills the defaults of a checked config.
func (f *Factory) resolve(sc SessionConfig) SessionConfig {
	if sc.APIVersion == "" {
		sc.APIVersion = f.cfg.APIVersion
	}
	if sc.BaseURL == "" {
		sc.BaseURL = f.cfg.BaseURL
	}
	sc.BaseURL = strings.TrimSuffix(sc.BaseURL, "/")
	if sc.Throughput == 0 {
		sc.Throughput = DefaultThroughput
	}
	return sc
}

// newLimiter is a session's throughput limit: Throughput messages per second, with a
// burst of one second's worth.
func newLimiter(perSecond int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), perSecond)
}

// LastInbound returns when chat last wrote to a session of this kind (the start of its
// 24-hour customer-service window; see WindowOpen), whether or not the session runs.
// The zero time means never, as far as the gateway has seen.
func (f *Factory) LastInbound(ctx context.Context, tenant, session string, chat chatid.ID) (time.Time, error) {
	t, _, err := f.inbound.LastInbound(ctx, tenant, session, chat.String())
	if err != nil {
		return time.Time{}, fmt.Errorf("cloudapi %s/%s: last inbound of %s: %w", tenant, session, chat, err)
	}
	return t, nil
}

var (
	_ provider.Factory         = (*Factory)(nil)
	_ provider.ConfigValidator = (*Factory)(nil)
)
