package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

// Name is the provider kind of the sandbox as written in session config.
const Name = "sandbox"

// Values used for config fields left at zero (they are validated as positive in
// gateway.yaml; a zero here means a hand-built config in a test).
const (
	defaultFirstQRTimeout = 60 * time.Second
	defaultQRTimeout      = 20 * time.Second
	defaultMaxQRCodes     = 6
)

// Network is the simulated WhatsApp network: every sandbox session of every tenant is a
// number on it, and numbers on it can message each other. It is the provider.Factory of
// the "sandbox" kind, and it carries the control methods of the sandbox-only HTTP
// endpoints (Link, SetFaults, Faults, Inbound).
//
// A Network is safe for concurrent use. Close it to stop every timer it armed.
type Network struct {
	cfg   config.Sandbox
	links LinkStore
	clock clockwork.Clock
	log   *slog.Logger
	ids   idSource

	// ctx ends on Close; it bounds the internal calls that have no caller context
	// (Link, SetFaults, auto-link) and releases calls stuck in a fault.
	ctx    context.Context
	cancel context.CancelFunc
	live   *tracker

	randMu sync.Mutex
	rng    *rand.Rand

	sendLogMu sync.Mutex
	sendLog   io.Writer

	mu       sync.RWMutex
	closed   bool
	sessions map[sessionKey]*session
	// phones maps a phone number to the running session linked to it.
	phones map[string]*session
	// issued holds the numbers this network generated, so it never hands one out twice.
	issued map[string]struct{}

	// contacts is who talked with whom, block lists and profiles (contacts.go).
	contacts contactBook
	// chats is read receipts, chat flags and presence (chats.go, presence.go).
	chats chatBook
	// groups is the network's groups (groups.go).
	groups groupBook
	// polls is the polls sent, for their votes (messages.go).
	polls pollBook
	// labels is each number's Business labels (labels.go).
	labels labelBook
	// calls is the calls ringing (calls.go).
	calls callBook
	// statuses is the recent status updates (status.go).
	statuses statusBook
	// channels is the network's channels (channels.go).
	channels channelBook
}

type sessionKey struct{ tenant, session string }

// Option configures a Network.
type Option func(*Network)

// WithClock makes the network read time and arm timers on c (a clockwork.FakeClock in
// tests). Default: the real clock.
func WithClock(c clockwork.Clock) Option { return func(n *Network) { n.clock = c } }

// WithRand makes the network draw send failures, QR codes, pairing codes, generated
// phone numbers and message ids from r, for reproducible runs. Default: randomly seeded.
func WithRand(r *rand.Rand) Option { return func(n *Network) { n.rng = r } }

// WithSendLog makes every accepted send append "<message id> <provider id>\n" to w
// before Send returns (config providers.sandbox.send_log). Give an unbuffered *os.File
// so the record survives the process being killed.
func WithSendLog(w io.Writer) Option { return func(n *Network) { n.sendLog = w } }

// WithLogger sets the logger; records carry provider=sandbox, tenant and session.
// Default: discard.
func WithLogger(l *slog.Logger) Option { return func(n *Network) { n.log = l } }

// NewNetwork returns an empty network. links persists which number each session is
// linked to (nil means a fresh in-memory store). It starts no goroutine and arms no
// timer: that happens when sessions start.
func NewNetwork(cfg config.Sandbox, links LinkStore, opts ...Option) *Network {
	n := &Network{
		cfg:      normalize(cfg),
		links:    links,
		live:     newTracker(),
		sessions: make(map[sessionKey]*session),
		phones:   make(map[string]*session),
		issued:   make(map[string]struct{}),
	}
	for _, o := range opts {
		o(n)
	}
	if n.links == nil {
		n.links = NewMemoryLinkStore()
	}
	if n.clock == nil {
		n.clock = clockwork.NewRealClock()
	}
	if n.rng == nil {
		n.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("provider", Name)
	n.ids.base = n.rng.Uint64()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n
}

func normalize(cfg config.Sandbox) config.Sandbox {
	if cfg.FirstQRTimeout <= 0 {
		cfg.FirstQRTimeout = config.Duration(defaultFirstQRTimeout)
	}
	if cfg.QRTimeout <= 0 {
		cfg.QRTimeout = config.Duration(defaultQRTimeout)
	}
	if cfg.MaxQRCodes <= 0 {
		cfg.MaxQRCodes = defaultMaxQRCodes
	}
	cfg.AutoLink = max(cfg.AutoLink, 0)
	cfg.SendLatency = max(cfg.SendLatency, 0)
	cfg.DeliveryDelay = max(cfg.DeliveryDelay, 0)
	cfg.ReadDelay = max(cfg.ReadDelay, 0)
	return cfg
}

// Name implements provider.Factory.
func (n *Network) Name() string { return Name }

// SessionConfig is the sandbox's per-session provider config (provider.Spec.Config), all
// optional:
//
//	{"faults": {"send_failure_rate": 0.1}}
type SessionConfig struct {
	// Faults replaces the network's default faults (config providers.sandbox.faults)
	// for this session.
	Faults *config.SandboxFaults `json:"faults,omitempty"`
}

// ValidateConfig implements provider.ConfigValidator: raw must be empty, null or a
// SessionConfig with no unknown fields and valid faults.
func (n *Network) ValidateConfig(raw json.RawMessage) error {
	if _, err := parseSessionConfig(raw); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func parseSessionConfig(raw json.RawMessage) (SessionConfig, error) {
	var sc SessionConfig
	c := bytes.TrimSpace(raw)
	if len(c) == 0 || bytes.Equal(c, []byte("null")) {
		return sc, nil
	}
	dec := json.NewDecoder(bytes.NewReader(c))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sc, err
	}
	if sc.Faults != nil {
		if err := ValidateFaults(*sc.Faults); err != nil {
			return sc, err
		}
	}
	return sc, nil
}

// New implements provider.Factory: it registers a provider for spec's tenant and
// session. It does no I/O and starts nothing.
//
// A session starts with the faults of its SessionConfig, else those set at runtime on the
// provider it replaces, else the network's defaults. Building a provider for a session
// that already has one retires the old one: its timers stop, it reports nothing more and
// its calls fail with ErrClosed.
func (n *Network) New(spec provider.Spec, sink provider.Sink) (provider.Provider, error) {
	if spec.Tenant == "" || spec.Session == "" {
		return nil, fmt.Errorf("sandbox: new provider: tenant and session are required (got %q, %q)", spec.Tenant, spec.Session)
	}
	if sink == nil {
		return nil, fmt.Errorf("sandbox: new provider for %s/%s: sink is nil", spec.Tenant, spec.Session)
	}
	sc, err := parseSessionConfig(spec.Config)
	if err != nil {
		return nil, fmt.Errorf("%w for %s/%s: %w", ErrInvalidConfig, spec.Tenant, spec.Session, err)
	}

	key := sessionKey{spec.Tenant, spec.Session}
	s := newSession(n, key, sink)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, fmt.Errorf("sandbox: new provider for %s/%s: %w", spec.Tenant, spec.Session, ErrClosed)
	}
	old := n.sessions[key]
	n.sessions[key] = s
	n.mu.Unlock()

	s.faults = n.cfg.Faults
	if old != nil {
		s.faults = old.retire()
	}
	if sc.Faults != nil {
		s.faults = *sc.Faults
	}
	return s, nil
}

// Close stops every session of the network without reporting anything, releases calls
// blocked by faults, and waits for the network's timers and goroutines to end. Later
// calls on its providers fail. Close is idempotent.
func (n *Network) Close() {
	n.cancel()
	n.mu.Lock()
	n.closed = true
	all := make([]*session, 0, len(n.sessions))
	for _, s := range n.sessions {
		all = append(all, s)
	}
	n.mu.Unlock()
	for _, s := range all {
		s.retire()
	}
	n.live.wait()
}

// lookup returns the registered session, or ErrUnknownSession.
func (n *Network) lookup(tenant, name string) (*session, error) {
	n.mu.RLock()
	s := n.sessions[sessionKey{tenant, name}]
	n.mu.RUnlock()
	if s == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrUnknownSession, tenant, name)
	}
	return s, nil
}

// claim records that s, now running, is linked to phone.
func (n *Network) claim(phone string, s *session) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if other := n.phones[phone]; other != nil && other != s {
		// The message reaches API clients: it must not name another tenant's session.
		return fmt.Errorf("%w: %s", ErrPhoneInUse, phone)
	}
	n.phones[phone] = s
	return nil
}

// release forgets that s is linked to phone (s stopped or logged out).
func (n *Network) release(phone string, s *session) {
	n.mu.Lock()
	if n.phones[phone] == s {
		delete(n.phones, phone)
	}
	n.mu.Unlock()
}

// byPhone returns the running session linked to phone, or nil.
func (n *Network) byPhone(phone string) *session {
	n.mu.RLock()
	s := n.phones[phone]
	n.mu.RUnlock()
	return s
}

// generatePhone returns a new number "1555" + 7 digits (11 digits, in the range US
// fiction uses) not running and not handed out before by this network.
func (n *Network) generatePhone() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		phone := fmt.Sprintf("1555%07d", n.intN(10_000_000))
		if _, used := n.issued[phone]; used {
			continue
		}
		if n.phones[phone] != nil {
			continue
		}
		n.issued[phone] = struct{}{}
		return phone
	}
}

// chance reports true with probability p.
func (n *Network) chance(p float64) bool {
	switch {
	case p <= 0 || p != p:
		return false
	case p >= 1:
		return true
	}
	n.randMu.Lock()
	defer n.randMu.Unlock()
	return n.rng.Float64() < p
}

func (n *Network) intN(k int) int {
	n.randMu.Lock()
	defer n.randMu.Unlock()
	return n.rng.IntN(k)
}

func (n *Network) randBytes(b []byte) {
	n.randMu.Lock()
	defer n.randMu.Unlock()
	for i := 0; i < len(b); i += 8 {
		v := n.rng.Uint64()
		for j := i; j < len(b) && j < i+8; j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
}

// idSource hands out message ids: a counter from a random base, scrambled by a bijection,
// so ids look random yet never repeat within a network.
type idSource struct {
	base uint64
	next atomic.Uint64
}

func (s *idSource) uint64() uint64 {
	z := s.base + s.next.Add(1)
	// splitmix64's finalizer: a bijection on uint64.
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const upperHex = "0123456789ABCDEF"

// messageID returns an id in WhatsApp Web's style: "3EB0" and 16 upper-case hex digits.
func (n *Network) messageID() string {
	var b [20]byte
	copy(b[:], "3EB0")
	putHex(b[4:], n.ids.uint64())
	return string(b[:])
}

// phoneMessageID returns an id in the style of a message sent from an iPhone: "3A" and 18
// upper-case hex digits.
func (n *Network) phoneMessageID() string {
	var b [20]byte
	copy(b[:], "3A")
	v := n.ids.uint64()
	b[2] = upperHex[(v>>60)&0xF]
	b[3] = upperHex[(v>>56)&0xF]
	putHex(b[4:], v*0x9e3779b97f4a7c15)
	return string(b[:])
}

func putHex(dst []byte, v uint64) {
	for i := 15; i >= 0; i-- {
		dst[i] = upperHex[v&0xF]
		v >>= 4
	}
}

var (
	_ provider.Factory         = (*Network)(nil)
	_ provider.ConfigValidator = (*Network)(nil)
)
