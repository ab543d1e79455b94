package sandbox

import (
	"context"
	"fmt"

	"github.com/wagate/wagate/core/provider"
)

// Ping implements provider.Pinger: nil while the session is WORKING (banned included:
// the connection answers), provider.ErrNotConnected (wrapped) otherwise. Under
// silent_disconnect the connection is dead without saying so: Ping blocks until ctx
// ends, as a keepalive on a dead socket does, and returns ctx's error.
func (s *session) Ping(ctx context.Context) error {
	if err := ctxDone(ctx); err != nil {
		return s.errorf("pinging", err)
	}
	s.mu.Lock()
	r, silent := s.run, s.faults.SilentDisconnect
	working := s.state == stateWorking && r != nil && !s.retired
	s.mu.Unlock()
	if !working {
		return s.errorf("pinging", provider.ErrNotConnected)
	}
	if !silent {
		return nil
	}
	select {
	case <-ctx.Done():
		return s.errorf("pinging", fmt.Errorf("silent_disconnect fault: no answer: %w", ctx.Err()))
	case <-r.done:
		return s.errorf("pinging", provider.ErrNotConnected)
	case <-s.net.ctx.Done():
		return s.errorf("pinging", fmt.Errorf("%w (%w)", provider.ErrNotConnected, ErrClosed))
	}
}

var _ provider.Pinger = (*session)(nil)
