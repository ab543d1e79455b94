package whatsmeow

import (
	"context"
	"errors"
	"fmt"

	wm "go.mau.fi/whatsmeow"
)

// RequestPairingCode implements provider.Provider: instead of scanning the QR code, the
// user enters the returned code ("ABCD-EFGH") on the phone (Linked devices, Link with
// phone number). phone is the number of that phone with country code; non-digits are
// ignored. Only while the session shows QR codes (after the first one): the codes keep
// rotating meanwhile, and pairing ends the same way, with PairSuccess or qr_timeout.
//
// Errors: ErrNotPairing (wrapping provider.ErrNotPairing) unless pairing; a too short or
// non-international number as whatsmeow reports it; ctx's error when it ends first.
func (p *Provider) RequestPairingCode(ctx context.Context, phone string) (string, error) {
	p.mu.Lock()
	r := p.run
	pairing := r != nil && r.pairing && r.qrShown && r.me.IsEmpty() && !r.ended
	p.mu.Unlock()
	if !pairing {
		return "", p.errorf("requesting pairing code", ErrNotPairing)
	}
	code, err := bounded(ctx, func() (string, error) {
		return r.client.PairPhone(ctx, phone, true, pairClientType, pairClientDisplay)
	})
	if err != nil {
		if errors.Is(err, wm.ErrPhoneNumberTooShort) || errors.Is(err, wm.ErrPhoneNumberIsNotInternational) {
			return "", p.errorf("requesting pairing code", fmt.Errorf("%w: %w", ErrInvalidPhone, err))
		}
		return "", p.errorf("requesting pairing code", err)
	}
	return code, nil
}
