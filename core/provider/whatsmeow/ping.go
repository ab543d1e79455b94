package whatsmeow

import (
	"context"

	"github.com/wagate/wagate/core/provider"
)

// Ping implements provider.Pinger: nil while the run's websocket is connected,
// provider.ErrNotConnected (wrapped) otherwise. whatsmeow runs its own keepalive on
// the socket and reports its failures (CONNECTING "keepalive_timeout"); Ping adds the
// check that the socket still exists, for the session manager's health monitor.
func (p *Provider) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return p.errorf("pinging", err)
	}
	p.mu.Lock()
	r := p.run
	ended := r != nil && r.ended
	p.mu.Unlock()
	if r == nil || ended || !r.client.IsConnected() {
		return p.errorf("pinging", provider.ErrNotConnected)
	}
	return nil
}

var _ provider.Pinger = (*Provider)(nil)
