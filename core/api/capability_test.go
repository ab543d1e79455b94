package api

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

func TestCapabilityErrors(t *testing.T) {
	s := &Server{}
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{&session.UnsupportedError{Session: "s", Provider: "cloudapi", Capability: provider.CapGroups}, 501, "not_supported_by_provider"},
		{fmt.Errorf("group 1@g.us: %w", provider.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("not an admin: %w", provider.ErrNotAllowed), 403, "not_allowed"},
		{fmt.Errorf("down: %w", provider.ErrNotConnected), 409, "session_not_working"},
		{fmt.Errorf("x: %w", provider.ErrInvalidRecipient), 422, "invalid_recipient"},
		{&session.NotWorkingError{State: session.StateStopped}, 409, "session_not_working"},
		{errors.New("the transport broke"), 502, "provider_error"},
		{fmt.Errorf("slow: %w", context.DeadlineExceeded), 504, "timeout"},
	}
	for _, c := range cases {
		e := s.resolveError(&request{}, s.providerFailure(c.err))
		if e.Status != c.status || e.Code != c.code {
			t.Errorf("%v: %d %s; want %d %s", c.err, e.Status, e.Code, c.status, c.code)
		}
	}
	e := s.resolveError(&request{}, s.providerFailure(cases[0].err))
	if e.Details["provider"] != "cloudapi" || e.Details["capability"] != "groups" {
		t.Errorf("501 details %v", e.Details)
	}
	if err := notFoundAs(fmt.Errorf("x: %w", provider.ErrNotFound), "group_not_found"); s.resolveError(&request{}, err).Code != "group_not_found" {
		t.Errorf("notFoundAs: %v", err)
	}
	if s.providerFailure(nil) != nil {
		t.Error("providerFailure(nil) is not nil")
	}
}
