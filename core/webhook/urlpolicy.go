package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/wagate/wagate/core/netguard"
)

// URLPolicy decides which webhook URLs wagate may call, so that a tenant cannot point
// a webhook at the gateway's own network (server-side request forgery): by default no
// loopback, private, link-local (cloud metadata at 169.254.169.254), shared (CGNAT),
// multicast, unspecified or reserved address. The check runs when an endpoint is
// created or changed, and again at every connection (Dial), against the address
// actually dialled: a hostname that resolved to a public address at creation and to
// 127.0.0.1 later (DNS rebinding) is refused at connect time.
type URLPolicy struct {
	// AllowNetworks are networks allowed although they are not public, e.g.
	// 127.0.0.1/32 for a receiver on the same machine during development.
	AllowNetworks []netip.Prefix
	// AllowHosts are hostnames allowed whatever they resolve to (exact match,
	// case-insensitive), e.g. an internal receiver's name.
	AllowHosts []string
	// Resolver resolves hostnames; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// DialTimeout bounds resolving and connecting; 0 means 5s.
	DialTimeout time.Duration
}

// Errors of the URL policy.
var (
	// ErrInvalidURL: not an absolute http(s) URL with a host.
	ErrInvalidURL = errors.New("invalid webhook url")
	// ErrForbiddenURL: the URL's host is, or resolves to, an address the policy refuses.
	ErrForbiddenURL = errors.New("webhook url not allowed")
)

// refusal says why addr is refused, or "" if it is allowed: an allowlisted network,
// else a public address (netguard).
func (p *URLPolicy) refusal(addr netip.Addr) string {
	addr = addr.Unmap()
	for _, n := range p.AllowNetworks {
		if n.Contains(addr) {
			return ""
		}
	}
	return netguard.Refusal(addr)
}

func (p *URLPolicy) hostAllowed(host string) bool {
	for _, h := range p.AllowHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// Check validates a webhook URL: absolute http or https, a host, no user info, and a
// host that is, or resolves only to, allowed addresses. It returns the parsed URL.
func (p *URLPolicy) Check(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > 2048 {
		return nil, fmt.Errorf("%w: %q is not a URL", ErrInvalidURL, truncate(raw, 100))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme must be http or https, not %q", ErrInvalidURL, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: user info in the URL is not allowed; use custom headers", ErrInvalidURL)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%w: fragment not allowed", ErrInvalidURL)
	}
	if _, err := p.resolve(ctx, u.Hostname()); err != nil {
		return nil, err
	}
	return u, nil
}

// resolve returns the allowed addresses of host, or ErrForbiddenURL naming the first
// refused one. Any refused address refuses the host: a name resolving to both a public
// and a private address must not reach the private one through a retry.
func (p *URLPolicy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if why := p.refusal(addr); why != "" {
			return nil, fmt.Errorf("%w: %s is a %s", ErrForbiddenURL, addr, why)
		}
		return []netip.Addr{addr}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("%w: resolving %s: %v", ErrForbiddenURL, host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%w: %s has no address", ErrForbiddenURL, host)
	}
	if p.hostAllowed(host) {
		return ips, nil
	}
	for _, ip := range ips {
		if why := p.refusal(ip); why != "" {
			return nil, fmt.Errorf("%w: %s resolves to %s, a %s", ErrForbiddenURL, host, ip.Unmap(), why)
		}
	}
	return ips, nil
}

// Dial connects to addr ("host:port") after checking, at connect time, every address
// the host resolves to; it dials the checked address itself, so DNS cannot change
// between check and connect. It is the webhook HTTP client's dialer.
func (p *URLPolicy) Dial(addr string) (net.Conn, error) {
	timeout := p.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := p.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var firstErr error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
