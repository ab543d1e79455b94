// Package goplugin is the go-plugin policy host: policies as out-of-process binaries
// (built with sdk/goplugin) that the gateway starts and talks to over gRPC through
// hashicorp/go-plugin. docs/plugins.md ("go-plugin") is the user-facing contract;
// sdk/goplugin/policypb/policy.proto the wire's.
//
// Binaries come from the operator's configuration only (Options.Binaries): a tenant's
// policy names one (Spec.Source is its name), it never supplies one. Each is pinned by
// its SHA-256, checked before every start of the process; a mismatch refuses the start.
//
// Every Load starts a process of its own, serving that one binding of that one tenant
// (so one tenant's plugin cannot stall another's). The process is supervised:
//
//   - every call runs under a deadline (the chain's budget, else Options.CallTimeout);
//   - a process that exits, whose connection breaks, or whose calls time out
//     Options.HungAfter times in a row is killed (its whole process group) and restarted
//     after a backoff that doubles from Options.RestartBackoff up to
//     Options.MaxRestartBackoff, checked, handshaken and configured again; the backoff
//     starts afresh after a successful call;
//   - while it is down, calls fail at once with ErrUnavailable, so the chain answers
//     with its default;
//   - Close lets the calls in flight finish (at most Options.CloseGrace), then kills the
//     process and waits until it is reaped; every error path of Load kills what it
//     started. On Linux the process also dies with the gateway (parent-death signal).
//
// What the plugin logs reaches slog (its stderr, parsed by go-plugin: JSON lines of
// sdk/goplugin.Logger keep their level), rate-limited, and the last bytes of its output
// are kept to be logged when it crashes.
//
//	rt, err := goplugin.New(goplugin.Options{Binaries: []goplugin.Binary{{
//		Name: "country-router", Path: "/opt/wagate/plugins/country-router", SHA256: "3b1f...",
//	}}})
//	p, err := policy.Open(ctx, rt, policy.Spec{Tenant: "acme", Name: "router", Source: []byte("country-router")})
package goplugin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// Binary is a plugin binary the operator allows, in the gateway's configuration.
type Binary struct {
	// Name is how a policy binding names the binary (its Spec.Source): 1 to 64 of
	// [a-z0-9-].
	Name string `yaml:"name" json:"name"`
	// Path is the binary's absolute path. Keep the file and its directory writable by
	// the operator only.
	Path string `yaml:"path" json:"path"`
	// SHA256 is the file's SHA-256, in hex (the first field of `sha256sum <path>`). It
	// is checked before every start of the process; a mismatch refuses the start.
	SHA256 string `yaml:"sha256" json:"sha256"`
	// Env is the process's environment, as "KEY=value" entries. The gateway's own
	// environment (its secrets) is not inherited.
	Env []string `yaml:"env,omitempty" json:"env,omitempty"`
}

// Options configure the runtime. Zero fields take the defaults shown.
type Options struct {
	// Binaries are the binaries policies may name.
	Binaries []Binary
	// Logger receives the processes' lifecycle (start, crash with the tail of the
	// plugin's output, restart, kill); nil is slog.Default(). A plugin's own log lines go
	// to its Spec.Log.
	Logger *slog.Logger
	// CallTimeout is the budget of a call whose context has no deadline (20ms). The
	// chain always gives one; this protects direct callers.
	CallTimeout time.Duration
	// StartTimeout bounds starting a process: checksum, handshake, Info and Configure
	// (10s).
	StartTimeout time.Duration
	// HungAfter is the number of calls in a row that time out after which the process is
	// deemed hung, killed and restarted (3).
	HungAfter int
	// RestartBackoff is the wait before the first restart of a lost process (100ms); it
	// doubles at each further loss without a successful call in between, up to
	// MaxRestartBackoff (30s).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// CloseGrace bounds how long Close lets calls in flight finish before it kills the
	// process (1s).
	CloseGrace time.Duration
	// StderrTail is how many of the last bytes of a process's output are kept, to be
	// logged when it crashes (8 KiB).
	StderrTail int
	// LogLines bounds the lines a process may log per second; the excess is dropped and
	// counted (100).
	LogLines int
	// MaxMessageSize bounds a response from a plugin, in bytes (4 MiB; a transformed
	// event is at most 1 MiB of payload).
	MaxMessageSize int
	// SocketDir is where go-plugin makes the per-process directory of the Unix socket
	// (the system's temporary directory). The directory it makes is private (0700).
	SocketDir string
}

func (o Options) withDefaults() Options {
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	num := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	dur(&o.CallTimeout, 20*time.Millisecond)
	dur(&o.StartTimeout, 10*time.Second)
	num(&o.HungAfter, 3)
	dur(&o.RestartBackoff, 100*time.Millisecond)
	dur(&o.MaxRestartBackoff, 30*time.Second)
	if o.MaxRestartBackoff < o.RestartBackoff {
		o.MaxRestartBackoff = o.RestartBackoff
	}
	dur(&o.CloseGrace, time.Second)
	num(&o.StderrTail, 8<<10)
	num(&o.LogLines, 100)
	num(&o.MaxMessageSize, 4<<20)
	return o
}

// backoff is the wait before restart number n (from 1) of a run of losses.
func (o *Options) backoff(n int32) time.Duration {
	d := o.RestartBackoff
	for i := int32(1); i < n && d < o.MaxRestartBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxRestartBackoff)
}

// Runtime loads go-plugin policies from the configured binaries.
type Runtime struct {
	o    Options
	bins map[string]*binary
	// trace, when set (tests), sees the processes' lifecycle.
	trace func(procEvent)
}

// binary is a configured Binary with its checksum decoded.
type binary struct {
	Binary
	sum []byte
}

// New returns a runtime for the binaries of o. It checks their configuration (names,
// absolute paths, checksums of 64 hex digits) but not the files: Verify does, and every
// start of a process does.
func New(o Options) (*Runtime, error) {
	r := &Runtime{o: o.withDefaults(), bins: make(map[string]*binary)}
	for i, b := range o.Binaries {
		if err := checkName(b.Name); err != nil {
			return nil, fmt.Errorf("go-plugin binary %d: %w", i, err)
		}
		if _, dup := r.bins[b.Name]; dup {
			return nil, fmt.Errorf("go-plugin binary %s: %w: name listed twice", b.Name, ErrBadBinary)
		}
		if !filepath.IsAbs(b.Path) {
			return nil, fmt.Errorf("go-plugin binary %s: %w: path %q is not absolute", b.Name, ErrBadBinary, b.Path)
		}
		sum, err := hex.DecodeString(strings.ToLower(b.SHA256))
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("go-plugin binary %s: %w: sha256 must be 64 hex digits (sha256sum %s)", b.Name, ErrBadBinary, b.Path)
		}
		for _, kv := range b.Env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return nil, fmt.Errorf("go-plugin binary %s: %w: env entry %q is not KEY=value", b.Name, ErrBadBinary, kv)
			}
		}
		b.Path = filepath.Clean(b.Path)
		b.Env = append([]string(nil), b.Env...)
		r.bins[b.Name] = &binary{Binary: b, sum: sum}
	}
	return r, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: name %q (1 to 64 bytes)", ErrBadBinary, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: name %q (lowercase letters, digits and '-')", ErrBadBinary, name)
		}
	}
	return nil
}

// Name is "goplugin".
func (*Runtime) Name() string { return "goplugin" }

// Verify checks every configured binary's checksum, so that a gateway can refuse to
// start with a bad one rather than when a tenant's chain first loads it.
func (r *Runtime) Verify() error {
	for _, b := range r.o.Binaries {
		f, err := r.bins[b.Name].open()
		if err != nil {
			return err
		}
		_ = f.Close()
	}
	return nil
}

// lookup returns the binary a policy names: its name, or its exact configured path.
func (r *Runtime) lookup(source string) (*binary, error) {
	if b, ok := r.bins[source]; ok {
		return b, nil
	}
	for _, b := range r.bins {
		if b.Path == source {
			return b, nil
		}
	}
	names := make([]string, 0, len(r.bins))
	for n := range r.bins {
		names = append(names, n)
	}
	return nil, fmt.Errorf("%w: %q (configured: %s)", ErrUnknownBinary, policy.Clip(source, 64), strings.Join(names, ", "))
}

// open opens the binary and checks its checksum; the caller starts the process from
// the returned file (execPath) and closes it.
func (b *binary) open() (*os.File, error) {
	f, err := os.Open(b.Path)
	if err != nil {
		return nil, fmt.Errorf("go-plugin binary %s: %w", b.Name, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("go-plugin binary %s: reading %s: %w", b.Name, b.Path, err)
	}
	if got := h.Sum(nil); subtle.ConstantTimeCompare(got, b.sum) != 1 {
		_ = f.Close()
		return nil, fmt.Errorf("go-plugin binary %s (%s): %w: the file's sha256 is %x, the configuration pins %x; "+
			"if the new binary is trusted, pin it again (sha256sum %s)", b.Name, b.Path, ErrChecksum, got, b.sum, b.Path)
	}
	return f, nil
}

// Load starts a process of the binary spec.Source names, checks the handshake and asks
// its Info. The process is killed on any error.
func (r *Runtime) Load(ctx context.Context, spec policy.Spec) (policy.Plugin, error) {
	b, err := r.lookup(string(spec.Source))
	if err != nil {
		return nil, err
	}
	p := newPlugin(r, b, spec)
	if err := p.load(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

var _ policy.Runtime = (*Runtime)(nil)
