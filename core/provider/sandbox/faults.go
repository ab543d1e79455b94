package sandbox

import (
	"fmt"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

// SetFaults replaces the session's fault switches (see config.SandboxFaults and
// docs/sandbox.md). Switches are levels, read on every use; turning one on or off has
// these immediate effects:
//
//   - temp_ban on a WORKING session reports a temporary-ban restriction (end unknown)
//     and FAILED "temporary_ban"; off again lifts the restriction and reports WORKING.
//   - reachout_timelock on reports a reach-out restriction (end unknown); off lifts it.
//   - logged_out on deletes the stored link; a running linked session ends and reports
//     LOGGED_OUT "logged_out_from_phone".
//
// Every other switch takes effect on the next send, stop or QR code. Errors:
// ErrUnknownSession, ErrInvalidFaults, the LinkStore's error (the other switches stay
// set; logged_out stays off, so that setting it again retries).
func (n *Network) SetFaults(tenant, session string, f config.SandboxFaults) error {
	if err := ValidateFaults(f); err != nil {
		return fmt.Errorf("sandbox %s/%s: setting faults: %w", tenant, session, err)
	}
	s, err := n.lookup(tenant, session)
	if err != nil {
		return err
	}
	if err := s.acquire(n.ctx); err != nil {
		return s.errorf("setting faults", ErrClosed)
	}
	err = s.setFaults(f)
	s.release()
	s.events.drain()
	if err != nil {
		return s.errorf("setting faults", err)
	}
	return nil
}

// Faults returns the session's current fault switches.
func (n *Network) Faults(tenant, session string) (config.SandboxFaults, error) {
	s, err := n.lookup(tenant, session)
	if err != nil {
		return config.SandboxFaults{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults, nil
}

func (s *session) setFaults(f config.SandboxFaults) error {
	s.mu.Lock()
	if s.retired {
		s.mu.Unlock()
		return ErrClosed
	}
	old := s.faults
	s.faults = f
	if s.state == stateWorking {
		switch {
		case f.TempBan && !old.TempBan:
			s.emitLocked(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: true})
			s.emitLocked(provider.StatusEvent{Status: provider.StatusFailed, Reason: reasonTempBan})
		case !f.TempBan && old.TempBan:
			s.emitLocked(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan})
			s.emitLocked(provider.StatusEvent{Status: provider.StatusWorking, Me: s.meLocked()})
		}
	}
	if s.state == stateWorking {
		switch {
		case f.ReachoutTimelock && !old.ReachoutTimelock:
			s.emitLocked(provider.RestrictionEvent{Reason: provider.RestrictionReachout, Active: true})
		case !f.ReachoutTimelock && old.ReachoutTimelock:
			s.emitLocked(provider.RestrictionEvent{Reason: provider.RestrictionReachout})
		}
	}
	s.mu.Unlock()
	s.log.Debug("sandbox faults set", "faults", fmt.Sprintf("%+v", f))

	if !f.LoggedOut || old.LoggedOut {
		return nil
	}
	if err := s.net.links.DeleteLink(s.net.ctx, s.key.tenant, s.key.session); err != nil {
		// Leave logged_out off so that setting it again retries.
		s.mu.Lock()
		s.faults.LoggedOut = false
		s.mu.Unlock()
		return fmt.Errorf("logged_out fault: deleting link: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateWorking && !s.retired {
		s.endRunLocked()
		s.state = stateLoggedOut
		s.emitLocked(provider.StatusEvent{Status: provider.StatusLoggedOut, Reason: reasonLoggedOutFromPhone})
		s.log.Debug("sandbox session logged out from the phone")
	}
	return nil
}

// ValidateFaults checks the switches' ranges (ErrInvalidFaults): the rule of SetFaults, for
// callers that check a body before the session is known to the network.
func ValidateFaults(f config.SandboxFaults) error {
	if r := f.SendFailureRate; !(r >= 0 && r <= 1) {
		return fmt.Errorf("%w: send_failure_rate %g is not between 0 and 1", ErrInvalidFaults, r)
	}
	if f.SendLatency < 0 {
		return fmt.Errorf("%w: send_latency %s is negative", ErrInvalidFaults, f.SendLatency)
	}
	return nil
}
