package sandbox

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/wagate/wagate/core/provider"
)

// pairing is the state of a run waiting to be linked by QR code or pairing code.
type pairing struct {
	// noise, identity and adv are the base64 public keys and secret of the simulated
	// companion device, fixed for the run as whatsmeow's are for a device; only the
	// reference in front changes from one QR code to the next.
	noise, identity, adv string
	// codes counts the QR codes shown.
	codes int
	// phone is the number given to RequestPairingCode, used by a Link without one.
	phone string
	qr    *timer // replaces the current QR code
	auto  *timer // auto_link
}

// pairingAlphabet is the alphabet of WhatsApp pairing codes, as whatsmeow uses it (no 0,
// I, O or U).
const pairingAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"

// beginPairingLocked shows the first QR code and arms the rotation and auto-link timers.
func (s *session) beginPairingLocked(r *run) {
	r.pairing = &pairing{
		noise:    s.net.base64Rand(32),
		identity: s.net.base64Rand(32),
		adv:      s.net.base64Rand(32),
	}
	s.showQRLocked(r, s.net.cfg.FirstQRTimeout.D())
	if d := s.net.cfg.AutoLink.D(); d > 0 {
		r.pairing.auto = s.afterUnlocked(r, d, func() { s.autoLink(r) })
	}
}

// showQRLocked reports a new QR code valid for valid and arms its replacement.
func (s *session) showQRLocked(r *run, valid time.Duration) {
	p := r.pairing
	p.codes++
	code := "2@" + s.net.base64Rand(48) + "," + p.noise + "," + p.identity + "," + p.adv
	s.emitLocked(provider.QREvent{Code: code, ExpiresAt: s.net.clock.Now().Add(valid)})
	p.qr = s.afterLocked(r, valid, func() { s.rotateQRLocked(r) })
}

// rotateQRLocked runs when a QR code expires: it shows the next one, or gives up with
// FAILED "qr_timeout" after max_qr_codes codes (never under endless_qr).
func (s *session) rotateQRLocked(r *run) {
	if s.state != statePairing || r.pairing == nil {
		return
	}
	if !s.faults.EndlessQR && r.pairing.codes >= s.net.cfg.MaxQRCodes {
		s.endRunLocked()
		s.state = stateFailed
		s.emitLocked(provider.StatusEvent{Status: provider.StatusFailed, Reason: reasonQRTimeout})
		s.log.Debug("sandbox pairing gave up", "codes", s.net.cfg.MaxQRCodes)
		return
	}
	s.showQRLocked(r, s.net.cfg.QRTimeout.D())
}

// autoLink links the session as if a phone scanned its QR code (auto_link).
func (s *session) autoLink(r *run) {
	if _, err := s.link(r, ""); err != nil {
		if isQuiet(err) {
			s.log.Debug("sandbox auto-link skipped", "err", err)
		} else {
			s.log.Warn("sandbox auto-link failed", "err", err)
		}
	}
}

// RequestPairingCode implements provider.Provider. It returns an eight-character code
// "XXXX-XXXX" and remembers phone, which a later Link without a phone uses. Only while
// pairing; QR codes keep rotating meanwhile, as on WhatsApp.
func (s *session) RequestPairingCode(ctx context.Context, phone string) (string, error) {
	if err := ctxDone(ctx); err != nil {
		return "", s.errorf("requesting pairing code", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.retired:
		return "", s.errorf("requesting pairing code", ErrClosed)
	case s.state != statePairing || s.run == nil || s.run.pairing == nil:
		return "", s.errorf("requesting pairing code", ErrNotPairing)
	}
	norm, err := normalizePhone(phone)
	if err != nil {
		return "", s.errorf("requesting pairing code", err)
	}
	if other := s.net.byPhone(norm); other != nil && other != s {
		return "", s.errorf("requesting pairing code", fmt.Errorf("%w: %s", ErrPhoneInUse, norm))
	}
	s.run.pairing.phone = norm
	return s.net.pairingCode(), nil
}

// Link completes the pairing of a session as a phone scanning its QR code would, and
// returns the linked account. phone "" means the number given to RequestPairingCode, if
// any, else a new number "1555" + 7 digits. The link is saved in the LinkStore and the
// session reports WORKING (FAILED "temporary_ban" while temp_ban is set).
//
// Errors: ErrUnknownSession; ErrNotPairing when the session is not showing QR codes;
// ErrEndlessQR under endless_qr; provider.ErrLoggedOut (wrapped) under logged_out;
// ErrInvalidPhone; ErrPhoneInUse when the number is linked to another running session;
// the LinkStore's error.
func (n *Network) Link(tenant, session, phone string) (provider.Account, error) {
	s, err := n.lookup(tenant, session)
	if err != nil {
		return provider.Account{}, err
	}
	return s.link(nil, phone)
}

// link links the session if it is pairing in run want (any run when want is nil).
func (s *session) link(want *run, phone string) (provider.Account, error) {
	if phone != "" {
		norm, err := normalizePhone(phone)
		if err != nil {
			return provider.Account{}, s.errorf("linking", err)
		}
		phone = norm
	}
	if err := s.acquire(s.net.ctx); err != nil {
		return provider.Account{}, s.errorf("linking", ErrClosed)
	}
	me, err := s.linkOps(want, phone)
	s.release()
	s.events.drain()
	if err != nil {
		return provider.Account{}, s.errorf("linking", err)
	}
	return me, nil
}

func (s *session) linkOps(want *run, phone string) (provider.Account, error) {
	s.mu.Lock()
	r := s.run
	switch {
	case s.retired:
		s.mu.Unlock()
		return provider.Account{}, ErrClosed
	case r == nil || r.pairing == nil || s.state != statePairing || (want != nil && r != want):
		s.mu.Unlock()
		return provider.Account{}, ErrNotPairing
	case s.faults.EndlessQR:
		s.mu.Unlock()
		return provider.Account{}, ErrEndlessQR
	case s.faults.LoggedOut:
		s.mu.Unlock()
		return provider.Account{}, fmt.Errorf("logged_out fault is set, clear it to link again: %w", provider.ErrLoggedOut)
	}
	if phone == "" {
		phone = r.pairing.phone
	}
	s.mu.Unlock()

	if phone == "" {
		phone = s.net.generatePhone()
	}
	if err := s.net.claim(phone, s); err != nil {
		return provider.Account{}, err
	}
	if err := s.net.links.SaveLink(s.net.ctx, s.key.tenant, s.key.session, phone); err != nil {
		s.net.release(phone, s)
		return provider.Account{}, fmt.Errorf("saving link: %w", err)
	}

	s.mu.Lock()
	if s.run != r || s.state != statePairing {
		// Pairing gave up (qr_timeout) or the network closed while the link was saved.
		retired := s.retired
		s.mu.Unlock()
		s.net.release(phone, s)
		if !retired {
			_ = s.net.links.DeleteLink(s.net.ctx, s.key.tenant, s.key.session)
		}
		return provider.Account{}, ErrNotPairing
	}
	s.cancelLocked(r, r.pairing.qr)
	s.cancelLocked(r, r.pairing.auto)
	r.pairing = nil
	s.phone = phone
	s.state = stateWorking
	s.reportLinkedLocked(false)
	me := *s.meLocked()
	s.mu.Unlock()
	s.log.Debug("sandbox session linked", "phone", phone)
	return me, nil
}

// normalizePhone accepts 5 to 15 digits with an optional leading "+".
func normalizePhone(phone string) (string, error) {
	p := strings.TrimPrefix(phone, "+")
	if len(p) < 5 || len(p) > 15 {
		return "", fmt.Errorf("%w: %q", ErrInvalidPhone, phone)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return "", fmt.Errorf("%w: %q", ErrInvalidPhone, phone)
		}
	}
	return p, nil
}

// pairingCode returns eight characters of pairingAlphabet as "XXXX-XXXX".
func (n *Network) pairingCode() string {
	var b [9]byte
	n.randMu.Lock()
	for i := range b {
		b[i] = pairingAlphabet[n.rng.IntN(len(pairingAlphabet))]
	}
	n.randMu.Unlock()
	b[4] = '-'
	return string(b[:])
}

// base64Rand returns k random bytes in standard base64.
func (n *Network) base64Rand(k int) string {
	b := make([]byte, k)
	n.randBytes(b)
	return base64.StdEncoding.EncodeToString(b)
}
