package api

import (
	"errors"
	"net/http"

	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Routes that reach a provider capability (chats, groups, presence, contacts, profile,
// status, labels, channels, calls, LIDs: see core/provider/capability.go) call it
// through session.Call or session.Do and return its error as is. mapCapabilityError
// turns what comes back into the answer:
//
//	*session.UnsupportedError   501 not_supported_by_provider {provider, capability}
//	provider.ErrNotFound        404 not_found (handlers name the thing: notFoundAs)
//	provider.ErrNotAllowed      403 not_allowed
//	provider.ErrNotConnected    409 session_not_working
//	provider.ErrInvalidRecipient 422 invalid_recipient
//
// Anything else a provider returns is its transport failing: 502 provider_error with the
// provider's message, never a 500 of ours.
func mapCapabilityError(err error) *Error {
	var unsupported *session.UnsupportedError
	switch {
	case errors.As(err, &unsupported):
		return newError(http.StatusNotImplemented, "not_supported_by_provider", unsupported.Error(),
			d("provider", unsupported.Provider, "capability", unsupported.Capability))
	case errors.Is(err, provider.ErrNotFound):
		return notFound("not_found", err.Error())
	case errors.Is(err, provider.ErrNotAllowed):
		return forbidden("not_allowed", err.Error())
	case errors.Is(err, provider.ErrNotConnected):
		return conflict("session_not_working", err.Error())
	case errors.Is(err, provider.ErrInvalidRecipient):
		return unprocessable("invalid_recipient", err.Error())
	}
	return nil
}

// notFoundAs gives a capability call's provider.ErrNotFound the code of the thing the
// route looked for ("group_not_found", "message_not_found", ...); other errors pass.
func notFoundAs(err error, code string) error {
	if err != nil && errors.Is(err, provider.ErrNotFound) {
		return notFound(code, err.Error())
	}
	return err
}

// providerFailure is the answer to a capability call that failed in the transport with
// an error no mapper knows: 502 provider_error with the provider's message, because the
// gateway is fine and its upstream is not. Capability handlers return
// s.providerFailure(err) for the call's error; nil stays nil.
func (s *Server) providerFailure(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) || s.mapError(err) != nil {
		return err
	}
	return newError(http.StatusBadGateway, "provider_error", err.Error())
}
